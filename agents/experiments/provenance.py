"""Where a result file came from: command, git commit (and whether the tree was dirty), date, machine.

Every benchmark that writes a committed result records this beside its figures, so a README figure
can be traced to the run behind it (issue 24).
"""

from __future__ import annotations

import datetime as dt
import platform as pyplatform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["provenance"]


def _git(root: Path, *args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(script: str, argv: Sequence[str], root: str | Path | None = None) -> dict[str, Any]:
    """The command (``python SCRIPT ARGV``), git commit and dirtiness of ``root``, UTC date and machine."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "command": " ".join(["python", script, *argv]),
        "git_commit": _git(root, "rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": pyplatform.node(), "machine": pyplatform.machine(), "system": pyplatform.system(),
                    "python": pyplatform.python_version()},
    }
