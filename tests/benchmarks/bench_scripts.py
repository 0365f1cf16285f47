"""Load a benchmark script (``benchmarks/NAME.py``, not a package) as a module for its tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@contextmanager
def benchmark_script(name: str, module_name: str | None = None) -> Iterator[ModuleType]:
    """``benchmarks/NAME.py`` loaded under ``module_name`` (registered while in use: dataclasses look
    their module up while the script loads), removed from ``sys.modules`` afterwards."""
    mod_name = module_name or f"{name}_bench"
    spec = importlib.util.spec_from_file_location(mod_name, BENCHMARKS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = mod
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop(mod_name, None)
