"""Where a result file came from: command, git commit (and whether the tree was dirty), date, machine.

Every benchmark that writes a committed result records this beside its figures, so a README figure
can be traced to the run behind it (issue 24).
"""

from __future__ import annotations

import datetime as dt
import os
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


def _cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return pyplatform.processor() or None


def _version(package: str) -> str | None:
    """An installed package's version, without importing it (torch takes seconds to import)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


#: Environment variables that change what a benchmark measures (threads, the profile it loads).
_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "SPAROA_SIM_DATA", "CUDA_VISIBLE_DEVICES")


def provenance(script: str, argv: Sequence[str], root: str | Path | None = None) -> dict[str, Any]:
    """The command (``python SCRIPT ARGV``, with the environment variables of :data:`_ENV` that are
    set), git commit and dirtiness of ``root``, UTC date and machine (cores, CPU model, torch
    version, load averages)."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "command": " ".join(["python", script, *argv]),
        "env": {k: os.environ[k] for k in _ENV if k in os.environ},
        "git_commit": _git(root, "rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": pyplatform.node(), "machine": pyplatform.machine(), "system": pyplatform.system(),
                    "python": pyplatform.python_version(), "cores": os.cpu_count(), "cpu_model": _cpu_model(),
                    "torch": _version("torch"),
                    "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
    }
