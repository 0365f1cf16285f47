"""The flat parameter vector for calibration, and the layering rule of hwmodels."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from sparoa_sim.hwmodels import KINDS, LatencyParams, list_platforms, load_platform

HW_DIR = Path(__file__).resolve().parents[2] / "hwmodels"


@pytest.mark.parametrize("name", list_platforms(include_user=False))
def test_vector_round_trip_and_bounds(name: str) -> None:
    p = load_platform(name)
    for dev in p.devices:
        params = dev.latency
        vec = params.to_vector()
        names = LatencyParams.vector_names()
        assert vec.shape == (len(names),) == (9 + len(KINDS),)
        assert names[:3] == ("t_launch", "t_dispatch", "mem_bw") and names[-1] == "eta.other"
        lo, hi = LatencyParams.vector_bounds()
        assert np.all(lo <= vec) and np.all(vec <= hi), [n for n, v, a, b in zip(names, vec, lo, hi) if not a <= v <= b]
        assert params.with_vector(vec) == params
        rebuilt = LatencyParams.from_vector(vec, sparse_kinds=params.sparse_kinds, noise_sigma=params.noise_sigma,
                                            dispatch_factor=params.dispatch_factor,
                                            conv_size_beta=params.conv_size_beta)
        assert rebuilt == params
        assert LatencyParams.vector_log_scale().sum() == 2


def test_with_vector_changes_entries() -> None:
    params = load_platform("jetson-agx-orin-64gb").cpu.latency
    vec = params.to_vector()
    names = LatencyParams.vector_names()
    vec[names.index("eta.conv")] = 0.9
    vec[names.index("mem_bw")] = 5e10
    new = params.with_vector(vec)
    assert new.eta_of("conv") == 0.9 and new.mem_bw == 5e10
    assert new.sparse_kinds == params.sparse_kinds
    with pytest.raises(ValueError):
        params.with_vector(vec[:-1])


FORBIDDEN = ("torch", "simpy", "gymnasium", "stable_baselines3", "sb3_contrib", "ortools", "ray")
ALLOWED_ROOTS = {"numpy", "scipy", "tomllib", "tomli", "__future__"}


def test_hwmodels_imports_only_numpy_scipy_stdlib() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in sorted(HW_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                root = mod.split(".")[0]
                if mod.startswith("sparoa_sim."):
                    assert mod.startswith("sparoa_sim.hwmodels"), f"{path.name} imports {mod}"
                else:
                    assert root not in FORBIDDEN, f"{path.name} imports {mod}"
                    assert root in ALLOWED_ROOTS or root in stdlib, f"{path.name} imports {mod}"
