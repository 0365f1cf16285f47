"""File reading and atomic writes shared by every layer (it lives in a low one so all can use it).

The readers bound what they parse before parsing it (``sparoa_sim.limits``): the file's size, then
the text's nesting depth, so a hostile file is one clear error, never a ``RecursionError`` or an
allocation that exhausts memory.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sparoa_sim.hwmodels.limits import MAX_JSON_FILE_BYTES, check_nesting, limit_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["atomic_write_text", "file_token", "loads_json", "loads_toml", "naming_user_path", "read_bounded_text",
           "read_json", "read_toml"]


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:  # an unwritable folder: name the user's file, not the temporary one
        raise naming_user_path(exc, p) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise naming_user_path(exc, p) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def naming_user_path(exc: OSError, path: Path) -> OSError:
    """``exc`` (same class and errno) naming ``path``, the file the user asked for, instead of the
    temporary file it was being written through."""
    try:
        return type(exc)(exc.errno, exc.strerror or str(exc), str(path))
    except TypeError:  # pragma: no cover - an OSError subclass with another constructor
        return OSError(exc.errno, exc.strerror or str(exc), str(path))


def read_bounded_text(path: str | os.PathLike[str], what: str, error: type[Exception],
                      max_bytes: int = MAX_JSON_FILE_BYTES) -> str:
    """The UTF-8 text of ``path``; a missing, unreadable, non-UTF-8 or larger-than-``max_bytes`` file
    raises ``error`` naming it (the size is checked before anything is read)."""
    p = Path(path)
    limit = f"{max_bytes:,} bytes ({max_bytes / (1 << 20):g} MiB, {limit_name(max_bytes)})"
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise error(f"{p}: {what} of {size:,} bytes is larger than the limit of {limit}")
            data = fh.read(max_bytes + 1)  # a file that grows (or a pipe) is still read only to the limit
    except FileNotFoundError:
        raise error(f"{p}: no such {what}") from None
    except OSError as exc:
        raise error(f"{p}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(f"{p}: {what} is larger than the limit of {limit}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{p}: cannot read {what}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def loads_json(text: str, where: str, error: type[Exception],
               parse_constant: Callable[[str], Any] | None = None) -> Any:
    """Parse JSON ``text`` after bounding its nesting; errors are ``error`` naming ``where``.

    ``parse_constant`` sees NaN/Infinity; an ``error`` it raises is re-raised with ``where``.
    """
    check_nesting(text, where, error, "json")
    try:
        return json.loads(text, parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:  # pragma: no cover - the depth scan refuses such text first
        raise error(f"{where}: nested too deeply") from None
    except error as exc:
        raise error(f"{where}: {exc}") from None


def loads_toml(text: str, where: str, error: type[Exception]) -> dict[str, Any]:
    """Parse TOML ``text`` after bounding its nesting; errors are ``error`` naming ``where``."""
    check_nesting(text, where, error, "toml")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: malformed TOML: {exc}") from None
    except RecursionError:  # pragma: no cover - the depth scan refuses such text first
        raise error(f"{where}: nested too deeply") from None


def read_json(path: str | os.PathLike[str], what: str, error: type[Exception],
              parse_constant: Callable[[str], Any] | None = None, max_bytes: int = MAX_JSON_FILE_BYTES) -> Any:
    """Parse a JSON file; a missing, unreadable, too large, too deeply nested or malformed file raises
    ``error`` naming it.

    ``what`` names the kind of file in the messages ("graph file", "measurement table").
    ``parse_constant`` sees NaN/Infinity; an ``error`` it raises is re-raised with the path.
    """
    p = Path(path)
    return loads_json(read_bounded_text(p, what, error, max_bytes), str(p), error, parse_constant)


def read_toml(path: str | os.PathLike[str], what: str, error: type[Exception], max_bytes: int,
              where: str | None = None) -> dict[str, Any]:
    """Parse a TOML file with the same bounds as :func:`read_json`; messages begin with ``where``
    (default: the path)."""
    p = Path(path)
    text = read_bounded_text(p, what, error, max_bytes)
    return loads_toml(text, where or str(p), error)
