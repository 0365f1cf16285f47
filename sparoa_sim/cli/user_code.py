"""Where ``sparoa extract MODULE:FACTORY`` finds the user's module, and what it imports first (issue 20).

``extract`` imports and runs the user's code (that is its job). The user's folder goes at the END
of ``sys.path`` and only after torch, numpy and the project's extractor are imported, so a stray
``torch.py`` or ``numpy.py`` in the working folder is never imported in their place (a module of
the user's that shares a name with an installed one is then shadowed by the installed one: rename
it). Under ``python -m sparoa_sim.cli``, Python itself puts the working folder first; the
``sparoa`` console script does not.
"""

from __future__ import annotations

import os
import sys

__all__ = ["TRUSTED_FIRST", "add_user_folder"]

#: Imported before the user's folder joins ``sys.path`` (what a stray file of the same name would shadow).
TRUSTED_FIRST = ("numpy", "torch", "sparoa_sim.real.models.extract")


def add_user_folder(folder: str | os.PathLike[str] | None = None) -> str:
    """Import :data:`TRUSTED_FIRST`, then append ``folder`` (default: the working folder) to the end
    of ``sys.path`` unless it is already there; returns the folder as added."""
    import importlib

    for name in TRUSTED_FIRST:
        importlib.import_module(name)
    path = os.path.abspath(os.fspath(folder) if folder is not None else os.getcwd())
    if path not in (os.path.abspath(p or os.curdir) for p in sys.path):
        sys.path.append(path)
    return path
