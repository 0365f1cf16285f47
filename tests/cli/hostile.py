"""Harness of the hostile-input suite (issue 20): run the real ``sparoa`` entry point in a child
process with a wall-clock and a memory limit, and check how it ended.

A hostile case passes when the command ends within its time limit, uses no more than the memory
limit, exits 2 (or 130 after Ctrl-C) with exactly one line on stderr and no traceback, and leaves the
files it was given, and any earlier output, unchanged.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Issue 20's bounds: every hostile case ends within 10 s on the CI machine and uses at most 2 GB.
TIME_LIMIT_S = 10.0
MEMORY_LIMIT_B = 2 * 1024**3


@dataclass(frozen=True)
class Ended:
    """How one child run ended."""

    rc: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_b: int

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def _child_rss_b() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def run_cli(args: Sequence[str], cwd: Path, *, timeout_s: float = TIME_LIMIT_S + 20.0,
            interrupt_after_s: float | None = None, env: dict[str, str] | None = None) -> Ended:
    """Run ``python -m sparoa_sim.cli *args`` in ``cwd``; SIGINT it after ``interrupt_after_s``.

    ``timeout_s`` is the harness's own guard (longer than the case's limit so that a slow case is
    reported with its time, not killed silently); the caller asserts on ``seconds``.
    The child's address space is not capped (torch maps far more than it uses); its peak resident
    memory is measured instead, as the maximum over finished children (``RUSAGE_CHILDREN``), so
    run one case per child and compare ``max_rss_b`` with :data:`MEMORY_LIMIT_B`.
    """
    child_env = dict(os.environ, **(env or {}))
    child_env.setdefault("PYTHONWARNINGS", "ignore")
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sparoa_sim.cli", *args], cwd=cwd, env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if interrupt_after_s is not None:
            try:
                out, err = proc.communicate(timeout=interrupt_after_s)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=timeout_s)
        else:
            out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Ended(rc=-9, stdout=out, stderr=err + "\n<killed by the harness>", seconds=time.monotonic() - start,
                     max_rss_b=_child_rss_b())
    return Ended(rc=proc.returncode, stdout=out, stderr=err, seconds=time.monotonic() - start,
                 max_rss_b=_child_rss_b())


def digest_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path → digest), to show nothing was changed."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_refused(ended: Ended, *, rc: int = 2, mentions: Sequence[str] = (),
                   time_limit_s: float = TIME_LIMIT_S) -> None:
    """The case ended as a clean refusal: exit ``rc``, one stderr line, no traceback, in time."""
    detail = f"rc={ended.rc} in {ended.seconds:.1f}s\nstderr:\n{ended.stderr[-2000:]}"
    assert ended.rc == rc, detail
    assert "Traceback" not in ended.stderr, detail
    assert len(ended.stderr_lines) == 1, detail
    assert ended.seconds <= time_limit_s, detail
    assert ended.max_rss_b <= MEMORY_LIMIT_B, detail
    line = ended.stderr_lines[0].lower()
    for word in mentions:
        assert word.lower() in line, detail


def refused_in_process(capsys, *argv: object, mentions: Sequence[str] = ()) -> str:
    """``sparoa_sim.cli.app.main(argv)`` in this process ends with exit 2 and one plain stderr line
    (returned), naming every word of ``mentions`` (cheaper than a child for cases that need none)."""
    from sparoa_sim.cli.app import main

    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in mentions:
        assert word.lower() in lines[0].lower(), err
    return lines[0]
