"""benchmarks/published.py on a 3-row fixture: the ratio arithmetic, the JSON record, bad data files."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from sparoa_sim.hwmodels import load_platform, predict
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.workloads import as_graph
from bench_scripts import benchmark_script

PROFILE = "jetson-agx-orin-64gb"


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("published", "published_bench") as mod:
        yield mod


def per_node_sync_ms(workload: str, mode: str, precision: str) -> float:
    """The per_node_sync definition written out: Σ t_dispatch·factor(kind)·max(1, kernels) + GPU latency
    + the per-node floor 0.083 ms·GHz / CPU clock per operator (the fixture's rows give no ``fx_nodes``)."""
    p = load_platform(PROFILE)
    ops = as_graph(workload).hw_ops
    kw = {"tf32": "conv"} if "tf32" in inspect.signature(predict).parameters else {}
    pred = predict(p, ops, batch=1, mode=mode, precision=precision, **kw)
    factor = np.array([p.gpu.latency.dispatch_factor[k] for k in ops.kind])
    host = float(pred.t_dispatch[1]) * factor * np.maximum(1.0, np.asarray(ops.kernels, dtype=float))
    dev = np.asarray(pred.latency, dtype=float)[:, 1]
    floor = 0.083e-3 / (p.mode(mode).cpu_clock_hz / 1e9)
    return float(host.sum() + dev.sum() + len(ops) * floor) * 1e3


def row(**kw: object) -> str:
    base = {"id": "r", "model": "resnet18", "device": "AGX Orin 64GB", "power_mode": "MAXN",
            "framework": "pytorch-eager", "precision": "fp16", "batch": 1, "latency_ms": 10.0, "device_kind": "gpu",
            "url": "https://example.org/x", "role": "target", "method": "per_node_sync", "workload": "resnet18",
            "profile": PROFILE, "twin_mode": "MAXN", "twin_precision": "fp16_tc", "tf32": "conv"}
    base.update(kw)
    out = ["[[row]]"]
    for k, v in base.items():
        if v is None:
            continue
        raw = isinstance(v, (int, float)) or (k == "latency_ms" and v == "nan")  # TOML's nan
        out.append(f"{k} = {v!r}" if isinstance(v, float) else f"{k} = {v}" if raw else f"{k} = {json.dumps(v)}")
    return "\n".join(out) + "\n\n"


def fixture_rows(published_ms: float) -> str:
    return (row(id="hand", latency_ms=published_ms)
            + row(id="e2e-30w", model="mobilenet_v3_small", workload="mobilenetv3_small", method="e2e",
                  power_mode="MODE_30W", twin_mode="30W", precision="fp32", twin_precision="fp32", latency_ms=7.5)
            + row(id="xavier", device="AGX Xavier", role="context", profile="none", twin_mode="none",
                  method="e2e", power_mode="unstated", latency_ms=7.33, reason="no shipped twin profile"))


def test_main_on_three_rows_checks_the_ratio_and_writes_the_record(bench, tmp_path: Path, capsys) -> None:
    twin_ms = per_node_sync_ms("resnet18", "MAXN", "fp16_tc")
    data = tmp_path / "rows.toml"
    data.write_text(fixture_rows(2.0 * twin_ms))
    out = tmp_path / "published.json"
    assert bench.main(["--data", str(data), "-o", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "hand" in shown and "target check gpu" in shown and "no shipped twin profile" in shown
    doc = json.loads(out.read_text())
    assert set(doc) == {"rows", "summary", "target_check", "tf32_supported", "provenance", "json_path"}
    assert {"command", "git_commit", "git_dirty", "date", "machine", "data_file", "data_sha256", "profiles",
            "workloads", "sync_cost"} <= set(doc["provenance"])
    assert set(doc["provenance"]["profiles"]) == {PROFILE}
    assert set(doc["provenance"]["workloads"]) == {"resnet18", "mobilenetv3_small"}
    rows = {r["id"]: r for r in doc["rows"]}
    assert {"id", "model", "device", "power_mode", "framework", "method", "precision", "published_ms", "twin_ms",
            "ratio", "role", "skipped", "url", "source"} <= set(rows["hand"])
    hand = rows["hand"]
    # published = 2 × twin; the sums run in another order than the definition above (last-bit rounding)
    assert hand["twin_ms"] == pytest.approx(twin_ms, rel=1e-12) and hand["ratio"] == pytest.approx(0.5, rel=1e-12)
    e2e = rows["e2e-30w"]
    kw = {"tf32": "conv"} if "tf32" in inspect.signature(simulate).parameters else {}
    ref = simulate("mobilenetv3_small", PROFILE, "gpu", requests=1, batch=1, reference=True, mode="30W",
                   precision="fp32", seed=0, **kw)
    assert e2e["twin_ms"] == ref.latency_mean_s * 1e3 and e2e["ratio"] == e2e["twin_ms"] / 7.5
    assert rows["xavier"]["ratio"] is None and rows["xavier"]["skipped"] == "no shipped twin profile"
    summ = {(s["device_kind"], s["role"]): s for s in doc["summary"]}
    assert summ[("gpu", "target")]["rows"] == 2 and summ[("gpu", "context")]["skipped"] == 1
    gpu = doc["target_check"]["gpu"]
    assert gpu["median_abs_dev"] == pytest.approx(float(np.median([0.5, abs(e2e["ratio"] - 1)])))
    assert ("hand" in {m["id"] for m in gpu["misses"]}) is False  # 0.5 is within 2×
    assert doc["target_check"]["cpu"]["met"] is None


def test_rows_filter_and_json(bench, tmp_path: Path, capsys) -> None:
    data = tmp_path / "rows.toml"
    data.write_text(fixture_rows(12.0))
    out = tmp_path / "p.json"
    assert bench.main(["--data", str(data), "-o", str(out), "--rows", "role=target,e2e*", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in doc["rows"]] == ["e2e-30w"]
    assert bench.main(["--data", str(data), "-o", str(out), "--rows", "nothing*"]) == 2


@pytest.mark.parametrize(("edit", "field"), [
    ({"latency_ms": None}, "latency_ms"),
    ({"latency_ms": "nan"}, "latency_ms"),
    ({"workload": "resnet999"}, "workload"),
    ({"profile": "jetson-tx9"}, "profile"),
    ({"twin_mode": "99W"}, "twin_mode"),
    ({"method": "vibes"}, "method"),
    ({"role": "target", "profile": "none"}, "profile"),
])
def test_a_malformed_data_file_is_one_line_naming_row_and_field(bench, tmp_path: Path, capsys, edit, field) -> None:
    data = tmp_path / "bad.toml"
    data.write_text(row(id="good") + row(id="broken-row", **edit))
    assert bench.main(["--data", str(data), "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "row 2" in err and "broken-row" in err and f"field {field!r}" in err
    assert not (tmp_path / "x.json").exists()


def test_the_shipped_data_file_loads_and_every_target_row_is_predictable(bench) -> None:
    rows = bench.load_rows(bench.DATA)
    assert len(rows) >= 100 and len({r.id for r in rows}) == len(rows)
    assert all(bench.skip_reason(r) is None for r in rows if r.role == "target")
    assert {r.method for r in rows} <= set(bench.METHODS)


def test_a_setting_measured_twice_and_disagreeing_is_flagged_not_reproducible(bench, tmp_path: Path) -> None:
    """Two target rows of one twin setting 30 % apart: both flagged, spread exact; the strict check keeps them,
    the reproducible check drops them; a setting measured once and a context row are left alone."""
    twin_ms = per_node_sync_ms("resnet18", "MAXN", "fp16_tc")
    data = tmp_path / "rows.toml"
    data.write_text(row(id="camp-a", latency_ms=0.3 * twin_ms) + row(id="camp-b", latency_ms=0.39 * twin_ms)
                    + row(id="single", model="mobilenet_v3_small", workload="mobilenetv3_small", latency_ms=10.0)
                    + row(id="ctx", device="AGX Xavier", role="context", profile="none", twin_mode="none",
                          method="e2e", power_mode="unstated", latency_ms=7.33, reason="no shipped twin profile"))
    out = tmp_path / "p.json"
    assert bench.main(["--data", str(data), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    rows = {r["id"]: r for r in doc["rows"]}
    assert rows["camp-a"]["repeat_spread"] == pytest.approx(0.3) == rows["camp-b"]["repeat_spread"]
    assert rows["camp-a"]["reproducible"] is False and rows["camp-b"]["reproducible"] is False
    assert rows["single"]["repeat_spread"] is None and rows["single"]["reproducible"] is True
    assert rows["ctx"]["reproducible"] is None
    gpu = doc["target_check"]["gpu"]
    # strict: camp-a is 3.3× slow → a miss; reproducible rows only: "single" alone
    assert gpu["rows"] == 3 and {m["id"] for m in gpu["misses"]} >= {"camp-a"} and gpu["met"] is False
    rep = gpu["reproducible"]
    assert rep["rows"] == 1 and sorted(rep["excluded"]) == ["camp-a", "camp-b"]
    assert rep["median_abs_dev"] == pytest.approx(abs(rows["single"]["ratio"] - 1))
    assert rep["repeat_limit"] == bench.REPEAT_LIMIT == 0.20


def test_spread_at_the_limit_is_still_reproducible(bench) -> None:
    """max / min − 1 equal to REPEAT_LIMIT is kept (the limit is inclusive); just above it is not."""
    def rec(i: str, ms: float) -> dict:
        return {"id": i, "role": "target", "skipped": None, "device_kind": "gpu", "profile": PROFILE,
                "twin_mode": "MAXN", "workload": "resnet18", "twin_precision": "fp32", "tf32": "conv",
                "method": "per_node_sync", "batch": 1, "published_ms": ms}
    at = [rec("a", 10.0), rec("b", 12.0)]
    bench.mark_repeatability(at)
    assert [x["reproducible"] for x in at] == [True, True]
    above = [rec("a", 10.0), rec("b", 12.01)]
    bench.mark_repeatability(above)
    assert [x["reproducible"] for x in above] == [False, False]
