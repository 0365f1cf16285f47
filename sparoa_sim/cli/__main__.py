"""``python -m sparoa_sim.cli``: the ``sparoa`` command."""

from __future__ import annotations

from sparoa_sim.cli.app import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
