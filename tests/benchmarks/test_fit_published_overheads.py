"""benchmarks/fit_published_overheads.py: the conv size term's β from a GEMM sweep, and its factor."""

from __future__ import annotations


import numpy as np
import pytest
from bench_scripts import benchmark_script



@pytest.fixture(scope="module")
def fit():
    with benchmark_script("fit_published_overheads", "fit_published_bench") as mod:
        yield mod


def test_gemm_beta_recovers_the_exponent_of_a_synthetic_sweep(fit) -> None:
    """t(n) = floor + c · (2n³)^(1+β): the slope of log(t − t(128)) recovers β exactly in every (mode, precision)."""
    def sweep(beta: float, floor: float, c: float) -> dict[int, float]:
        t = {n: floor + c * (2.0 * n ** 3) ** (1.0 + beta) for n in (512, 1024, 2048)}
        return {128: floor, **t}
    s = {("MAXN", "tf32"): sweep(-0.3, 0.2, 1e-6), ("15W", "fp16"): sweep(-0.1, 0.8, 3e-9),
         ("50W", "tf32"): sweep(-0.2, 0.5, 2e-8)}
    med, per = fit.gemm_beta(s)
    assert per == pytest.approx({"MAXN/tf32": -0.3, "15W/fp16": -0.1, "50W/tf32": -0.2}, abs=1e-9)
    assert med == pytest.approx(-0.2, abs=1e-9)


def test_gemm_beta_of_the_shipped_sweep_and_its_bad_input(fit) -> None:
    med, per = fit.gemm_beta()
    assert set(per) == {f"{m}/{p}" for m, p in fit.GEMM_SWEEP_MS}
    assert med == pytest.approx(-0.184, abs=5e-4)  # the logs' six estimates, −0.47 … −0.13
    assert all(-0.5 < b < -0.1 for b in per.values())
    with pytest.raises(ValueError, match="no \\(mode, precision\\) with two usable sizes"):
        fit.gemm_beta({("MAXN", "tf32"): {128: 1.0, 512: 1.01, 1024: 1.02, 2048: 5.0}})  # only 2K clears the floor


def test_the_fit_uses_the_twins_own_conv_size_term(fit) -> None:
    from sparoa_sim.hwmodels.latency import conv_size_factor

    assert fit.conv_size_factor is conv_size_factor  # one rule for the fit and the profile (tests/hwmodels)
    flops = np.array([1e8, 1e9, 1e20, 1.0, 1e9])
    is_conv = np.array([True, True, True, True, False])
    assert np.all(fit.conv_size_factor(flops, is_conv, 0.0) == 1.0)
