"""Every input limit in one table (issue 20): the public face of :mod:`sparoa_sim.hwmodels.limits`.

The constants, :data:`LIMITS` (the README's "Limits" table, :func:`limits_markdown`) and the nesting
scan live in ``hwmodels``, the lowest layer that reads files, so its profile and JSON readers can use
them; every other layer imports them from here.
"""

from __future__ import annotations

from sparoa_sim.hwmodels.limits import *  # noqa: F401,F403  (re-exported: the one table)
from sparoa_sim.hwmodels.limits import __all__  # noqa: F401
