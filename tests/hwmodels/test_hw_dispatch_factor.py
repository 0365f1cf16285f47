"""Per-kind host dispatch factors: profile schema, the prediction's per-operator ``dispatch``, the engine's tables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sparoa_sim.hwmodels import KINDS, LatencyParams, OpArrays, ProfileError, load_platform, predict
from sparoa_sim.hwmodels.kinds import kind_code
from sparoa_sim.hwmodels.profile_io import list_platforms, parse_platform, platform_to_toml

AGX = load_platform("jetson-agx-orin-64gb")
JETSONS = [n for n in list_platforms(include_user=False) if n.startswith("jetson-")]


def _ops() -> OpArrays:
    kinds = [kind_code(k) for k in ("conv", "add", "reshape", "linear", "conv")]
    return OpArrays.build(kinds, [1e6, 1e3, 0.0, 1e6, 1e6], bytes_out=[4e3] * 5, kernels=[1, 1, 0, 2, 3])


def _with_factors(platform, **factors: float):
    lat = platform.gpu.latency
    f = tuple(factors.get(k.value, 1.0) for k in KINDS)
    return platform.with_latency("gpu", dataclasses.replace(lat, dispatch_factor=f), origin="derived", note="test")


def test_default_is_one_per_kind_and_bad_values_are_refused() -> None:
    lat = AGX.cpu.latency
    assert lat.dispatch_factor == (1.0,) * len(KINDS)
    with pytest.raises(ValueError, match="dispatch_factor needs"):
        dataclasses.replace(lat, dispatch_factor=(2.0,))
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="positive and finite"):
            dataclasses.replace(lat, dispatch_factor=(bad,) + (1.0,) * (len(KINDS) - 1))


def test_prediction_dispatch_is_t_dispatch_times_factor_times_kernels() -> None:
    p = _with_factors(AGX, conv=4.0, linear=2.5)
    ops = _ops()
    pred = predict(p, ops, mode="30W")
    assert pred.dispatch.shape == (5, 2)
    base = float(pred.t_dispatch[1])
    assert base == pytest.approx(p.gpu.latency.t_dispatch * p.overhead_scale("30W"), rel=1e-15)
    want = [base * 4.0 * 1, base * 1.0 * 1, base * 1.0 * 1, base * 2.5 * 2, base * 4.0 * 3]  # a view: one call
    assert pred.dispatch[:, 1].tolist() == want
    assert pred.dispatch[:, 0].tolist() == [float(pred.t_dispatch[0])] * 5  # the CPU keeps factor 1 (and 0 s)
    # the factors change host time only, never the device latency
    np.testing.assert_array_equal(pred.latency, predict(_with_factors(AGX), ops, mode="30W").latency)


def test_engine_tables_charge_the_prediction_dispatch() -> None:
    from sparoa_sim.sim.predtables import PredictionCache
    from sparoa_sim.workloads import as_graph

    g = as_graph("resnet18")
    t = PredictionCache().tables(g, AGX, 1, "MAXN", "fp32")
    pred = predict(AGX, g.hw_ops, mode="MAXN")
    assert t.td[1] == pred.dispatch[:, 1].tolist()
    conv = [i for i, op in enumerate(g.ops) if op.kind.value == "conv"]
    add = [i for i, op in enumerate(g.ops) if op.kind.value == "add"]
    assert t.td[1][conv[0]] / t.td[1][add[0]] == pytest.approx(
        AGX.gpu.latency.dispatch_factor_of("conv") / AGX.gpu.latency.dispatch_factor_of("add"), rel=1e-12)


def test_toml_round_trip_and_errors() -> None:
    p = _with_factors(AGX, conv=3.25, pool=2.0)
    text = platform_to_toml(p)
    assert "[gpu.latency.dispatch_factor]" in text
    back = parse_platform(text, "<t>")
    assert back.gpu.latency.dispatch_factor == p.gpu.latency.dispatch_factor
    assert back.origin("gpu.latency.dispatch_factor.conv").origin == "derived"
    assert "dispatch_factor" not in platform_to_toml(_with_factors(AGX)).split("[gpu.latency]")[1].split("[modes")[0]
    good = 'conv = { value = 3.25, origin = "derived", note = "test" }'
    assert good in text
    for bad, msg in ((good.replace("3.25", "0.0"), "out of range"), (good.replace("3.25", "-2.0"), "out of range"),
                     (good.replace("conv =", "convolution ="), "unknown operator kind"),
                     (good.replace(', origin = "derived"', ""), "missing 'origin'")):
        with pytest.raises(ProfileError, match=msg) as e:
            parse_platform(text.replace(good, bad), "<t>")
        assert "gpu.latency.dispatch_factor" in str(e.value)


def test_from_vector_carries_the_factors() -> None:
    lat = AGX.gpu.latency
    rebuilt = LatencyParams.from_vector(lat.to_vector(), sparse_kinds=lat.sparse_kinds, noise_sigma=lat.noise_sigma,
                                        dispatch_factor=lat.dispatch_factor,
                                            conv_size_beta=lat.conv_size_beta)
    assert rebuilt == lat
    assert lat.with_vector(lat.to_vector()).dispatch_factor == lat.dispatch_factor


@pytest.mark.parametrize("name", JETSONS)
def test_shipped_jetsons_carry_the_fitted_factors_with_their_source(name: str) -> None:
    p = load_platform(name)
    lat = p.gpu.latency
    assert p.cpu.latency.dispatch_factor == (1.0,) * len(KINDS)
    # the AGX Orin 64GB fit (benchmarks/fit_published_overheads.py): cuDNN/cuBLAS calls cost the host more than
    # element-wise kernels; the same per-kind constants on every Orin (same CPU and software stack)
    assert lat.dispatch_factor == AGX.gpu.latency.dispatch_factor
    f = {k.value: lat.dispatch_factor_of(k) for k in KINDS}
    assert f["conv"] > f["norm"] > f["add"] >= 1.0 and f["linear"] > f["conv"]
    assert f["reshape"] == f["softmax"] == f["matmul"] == 1.0  # kinds the fit saw too little of keep the plain rule
    for k in ("conv", "dwconv", "linear", "attention", "norm", "act", "pool", "add"):
        tag = p.origin(f"gpu.latency.dispatch_factor.{k}")
        assert tag is not None and tag.origin == "derived" and "branes-ai/graphs@b6c5e829" in tag.note
        assert ("Transferred from the AGX Orin 64GB fit" in tag.note) == (name != "jetson-agx-orin-64gb")
    for k in ("conv", "dwconv", "attention"):
        assert p.origin(f"gpu.latency.eta.{k}").origin == "derived"
    assert p.origin("gpu.latency.lanes").origin == "derived"
