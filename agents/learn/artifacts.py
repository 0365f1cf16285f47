"""Trained-artifact directories: reading their ``metadata.json`` with one set of checks and errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sparoa_sim.errors import PolicyError

__all__ = ["read_metadata"]


def read_metadata(path: str | os.PathLike[str], kind: str, version_key: str, version: int) -> dict[str, Any]:
    """``DIR/metadata.json`` of an artifact of ``kind`` whose ``version_key`` equals ``version``;
    otherwise a :class:`PolicyError` naming the file and what does not match."""
    meta_path = Path(path) / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise PolicyError(f"{meta_path}: cannot read {kind} metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        raise PolicyError(f"{meta_path}: 'kind' is not {kind!r}")
    if meta.get(version_key) != version:
        raise PolicyError(f"{meta_path}: {version_key!r} is {meta.get(version_key)!r}; this version reads {version}")
    return meta
