"""Output paths checked before a command does any work, and the line Ctrl-C ends with (issue 20).

Every output a command will write (``-o`` files and folders, ``--gantt``, ``--trace``) goes
through :func:`check_output_file` or :func:`check_output_dir` first, so an empty, misplaced or
unwritable path is one line and exit 2 before minutes of work, not a traceback after them; a
folder that holds another run's files is refused unless the user says ``--resume`` or
``--force``. :func:`interrupted` prints the one line a command ends with after Ctrl-C (exit 130),
saying what was saved.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path

from sparoa_sim.cli.output import error_line
from sparoa_sim.errors import SparOAError

__all__ = ["EXIT_INTERRUPTED", "RUN_FILES", "OutputError", "check_output_dir", "check_output_file",
           "check_outputs", "interrupted", "run_files_in"]

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

#: Files and folders that mark a folder as holding a run of some ``sparoa`` command (training,
#: evaluation, the scenario benchmark, the predictor).
RUN_FILES = ("metadata.json", "policy.zip", "policy.json", "schedule.json", "checkpoints", "predictor.pt",
             "cells.jsonl", "groups.jsonl", "summary.json", "scenarios.json")


class OutputError(SparOAError):
    """An output path refused before any work (empty, a folder where a file goes, unwritable, or a
    folder that holds another run)."""


def _nearest_existing(path: Path) -> Path:
    """The path itself or its closest existing ancestor (``.`` for a relative path's start)."""
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_name(path: str, option: str, shown: str) -> None:
    """Refuse what no file system takes: a NUL character, a name longer than the folder allows."""
    if "\x00" in path:
        raise OutputError(f"{option} {shown}: a path cannot contain a NUL character")
    for part in Path(path).parts:
        if len(os.fsencode(part)) > 255:
            raise OutputError(f"{option}: a name in the path is {len(os.fsencode(part)):,} bytes long; "
                              "file systems take at most 255")


def _probe_dir(folder: Path, option: str, shown: str) -> None:
    """Refuse ``folder`` unless a file can be created in it (a real probe: root passes os.access)."""
    if not folder.is_dir():
        raise OutputError(f"{option} {shown}: {folder} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".sparoa-probe-"):
            pass
    except OSError as exc:
        raise OutputError(f"{option} {shown}: cannot write in {folder} ({exc.strerror or exc})") from None


def check_output_file(path: str | os.PathLike[str] | None, option: str) -> Path | None:
    """Refuse an output file path that cannot be written, before any work; None passes (not asked for).

    Refused: an empty path, an existing folder, a path under a file, an existing file that is not
    writable, a location where no file can be created. Missing parent folders are fine (the
    writers create them) when the nearest existing one is writable.
    """
    if path is None:
        return None
    shown = repr(str(path))
    if not str(path).strip():
        raise OutputError(f"{option} must name a file, got {shown}")
    _check_name(str(path), option, shown)
    p = Path(path)
    if p.name in ("", ".", "..") or str(path).endswith(("/", os.sep)):
        raise OutputError(f"{option} {shown} must end in a file name")
    if p.is_dir():
        raise OutputError(f"{option}: Is a directory: {path} (give a file name)")  # the OS's words, as before
    if p.exists():
        if not os.access(p, os.W_OK):
            raise OutputError(f"{option} {shown}: the file is not writable")
        _probe_dir(p.resolve().parent, option, shown)
        return p
    _probe_dir(_nearest_existing(p.absolute().parent), option, shown)
    return p


def run_files_in(folder: Path, names: Collection[str] = RUN_FILES) -> list[str]:
    """Which of ``names`` exist in ``folder`` (sorted)."""
    return sorted(n for n in names if (folder / n).exists())


def check_output_dir(path: str | os.PathLike[str] | None, option: str = "-o", *, resume: bool = False,
                     force: bool = False, run_files: Collection[str] = RUN_FILES,
                     resume_flag: str | None = "--resume") -> Path:
    """Refuse an output folder before any work: empty path, a file, unwritable, or one that holds
    another run (any of ``run_files``) unless ``resume`` or ``force``.

    ``resume_flag``: the option that continues a run in the refusal's advice (None: the command
    has none).
    """
    shown = repr("" if path is None else str(path))
    if path is None or not str(path).strip():
        raise OutputError(f"{option} must name a folder, got {shown}")
    _check_name(str(path), option, shown)
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{option} {shown} is a file; give a folder")
    _probe_dir(_nearest_existing(p.absolute()), option, shown)
    if p.is_dir() and not (resume or force):
        found = run_files_in(p, run_files)
        if found:
            how = f"give {resume_flag} to continue it, --force to write over it," if resume_flag else \
                "give --force to write over it"
            raise OutputError(f"{option} {shown} holds another run ({', '.join(found)}); {how} or choose "
                              "another folder")
    return p


def check_outputs(files: Sequence[tuple[str, str | os.PathLike[str] | None]]) -> list[Path | None]:
    """:func:`check_output_file` on each (option, path) pair; also refuses two options naming one file."""
    out = [check_output_file(path, option) for option, path in files]
    seen: dict[Path, str] = {}
    for (option, _path), p in zip(files, out):
        if p is None:
            continue
        key = p.absolute()
        if key in seen:
            raise OutputError(f"{seen[key]} and {option} name the same file {str(p)!r}")
        seen[key] = option
    return out


def interrupted(saved: str) -> int:
    """After Ctrl-C: one line ``sparoa: interrupted: <what was saved>`` on stderr; returns 130."""
    error_line(f"sparoa: interrupted: {saved}")
    return EXIT_INTERRUPTED
