"""Atomic file writes shared by every layer (it lives in the lowest one so all can use it)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_text", "file_token", "read_json"]


def file_token(label: str) -> str:
    """``label`` as one safe file-name part: a path becomes its stem, every character but letters,
    digits, ``.``, ``_`` and ``-`` becomes ``-`` (a workload given as ``/data/my net.json`` must
    not turn ``pareto-{w}.png`` into a path under other folders)."""
    text = str(label)
    if "/" in text or "\\" in text or text.endswith(".json"):
        text = Path(text).stem
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return out or "x"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename).

    A reader never sees half a file, and an interrupted write leaves the old file in place.
    """
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def read_json(path: str | os.PathLike[str], what: str, error: type[Exception],
              parse_constant: Callable[[str], Any] | None = None) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file raises ``error`` naming it.

    ``what`` names the kind of file in the messages ("graph file", "measurement table").
    ``parse_constant`` sees NaN/Infinity; an ``error`` it raises is re-raised with the path.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{p}: cannot read {what}: {exc}") from None
    try:
        return json.loads(text, parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{p}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except error as exc:
        raise error(f"{p}: {exc}") from None
