"""The ``op`` method of benchmarks/published.py (benchmarks/published_ops.py): one eager PyTorch statement on the
CPU, predicted from the profile's parameters; the recipes against the extractor; malformed CPU rows refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sparoa_sim.hwmodels import kind_code, load_platform
from bench_scripts import benchmark_script

NANO, SUPER = "jetson-orin-nano-8gb", "jetson-orin-nano-super"


@pytest.fixture(scope="module")
def bench():
    with benchmark_script("published", "published_bench_ops") as mod:
        yield mod


@pytest.fixture(scope="module")
def ops(bench):
    return bench._ops_module()


def cpu_row(**kw: object) -> str:
    base = {"id": "op", "model": "torch op copy", "device": "Orin Nano 8GB", "power_mode": "7W",
            "framework": "pytorch-eager (CPU tensors)", "precision": "fp32", "batch": 1, "latency_ms": 1.0,
            "device_kind": "cpu", "url": "https://example.org/x", "role": "target", "method": "op", "op": "copy",
            "op_shape": [2097152], "workload": "none", "profile": NANO, "twin_mode": "7W", "twin_precision": "fp32"}
    base.update(kw)
    out = ["[[row]]"]
    for k, v in base.items():
        if v is None:
            continue
        if isinstance(v, bool):
            out.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, (int, float, list)):
            out.append(f"{k} = {v!r}")
        else:
            out.append(f"{k} = {json.dumps(v)}")
    return "\n".join(out) + "\n\n"


def test_copy_row_is_launch_plus_bytes_over_bandwidth_from_the_profile(ops) -> None:
    """dst.copy_(src) of n FP32 values in the Orin Nano's 7W mode: t_launch · (1.5 GHz / 0.96 GHz) + 2·4n / the
    mode's CPU bandwidth (mem_bw × the 7W cpu_bw_scale), and at the reported 729.6 MHz the launch term scales by
    1.5 / 0.7296 instead (the bandwidth does not)."""
    p = load_platform(NANO)
    n = 2097152
    t, terms = ops.predict_op_row(p, "copy", (n,), "7W", "fp32", reported_clock_hz=729.6e6)
    launch = p.cpu.latency.t_launch * p.cpu.max_clock_hz / 960e6
    mem = 2 * 4 * n / (p.cpu.latency.mem_bw * p.mode("7W").cpu_bw_scale)
    assert p.mem_bw("cpu", "7W") == pytest.approx(26.5e9 * 0.634) and p.mem_bw("cpu", "15W") == 26.5e9
    assert t == pytest.approx(launch + mem, rel=1e-12)
    assert t * 1e3 == pytest.approx(0.045833 + 0.998585, abs=2e-6)  # 29.333 µs × 1.5625, 16.78 MB / 16.8 GB/s
    assert terms["kernels"] == 1 and terms["bound"] == ["memory"] and terms["cpu_clock_hz"] == 960e6
    at_clock = p.cpu.latency.t_launch * p.cpu.max_clock_hz / 729.6e6 + mem
    assert terms["twin_ms_at_reported_clock"] == pytest.approx(at_clock * 1e3, rel=1e-12)


def test_matmul_row_is_compute_bound_at_the_kind_efficiency_and_wave_share(ops) -> None:
    """torch.matmul 256² FP32, Orin Nano Super 25W (6 cores, 1.344 GHz cap): 2·256³ / (6·16·1.344e9 · η_matmul · π)
    with π = x / ceil(x), x = 256² outputs / (6 cores · 32 lanes), plus one launch at 1.728 / 1.344 GHz."""
    p = load_platform(SUPER)
    t, terms = ops.predict_op_row(p, "matmul", (256,), "25W", "fp32")
    x = 256 * 256 / (6 * p.cpu.latency.lanes)
    compute = 2 * 256 ** 3 / (6 * 16 * 1.344e9 * p.cpu.latency.eta[kind_code("matmul")] * (x / math.ceil(x)))
    launch = p.cpu.latency.t_launch * 1.728e9 / 1.344e9
    assert t == pytest.approx(launch + compute, rel=1e-9)
    assert terms["bound"] == ["compute"] and "twin_ms_at_reported_clock" not in terms


def test_statements_are_the_operators_eager_pytorch_runs(ops) -> None:
    """Kernel counts per statement: the setitem's copy_ rides on the add; gemm's beta * C runs every call."""
    kernels = {name: sum(o.kernels for o in ops.op_graph(name, (8,)).ops) for name in ops.OPS}
    assert kernels == {"copy": 1, "scale": 1, "add": 1, "triad": 2, "dot": 1, "axpy": 3, "gemv": 5, "gemm": 5,
                       "matmul": 1}
    g = ops.op_graph("gemm", (4,))
    assert [o.kind.value for o in g.ops] == ["matmul", "mul", "mul", "add"] and g.ops[0].flops == 2 * 4 ** 3
    assert g.ops[3].deps == (1, 2)


@pytest.mark.slow  # imports torch (~7 s cold)
@pytest.mark.parametrize("name", ["scale", "add", "axpy", "dot", "matmul"])
def test_recipes_match_what_the_extractor_records(ops, name) -> None:
    """For the statements the extractor traces as written (kinds, FLOPs, bytes moved, kernels per operator)."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from sparoa_sim.real.models.extract import extract

    n = 16

    class Stmt(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("y", torch.randn(1, n * n if name == "matmul" else n))

        def forward(self, x):
            if name == "scale":
                return torch.mul(x, 3.0)
            if name == "add":
                return torch.add(x, self.y)
            if name == "dot":
                return torch.dot(x.reshape(-1), self.y.reshape(-1))
            if name == "matmul":
                return torch.matmul(x.reshape(n, n), self.y.reshape(n, n))
            self.y[:] = 2.5 * x + self.y
            return self.y

    shape = (1, n * n if name == "matmul" else n)
    got = extract(Stmt(), torch.randn(*shape), name=name, inputs=torch.randn(*shape), reuse=False)
    want = ops.op_graph(name, (n,))
    assert [o.kind for o in got.ops] == [o.kind for o in want.ops]
    assert [o.flops for o in got.ops] == [o.flops for o in want.ops]
    assert [o.kernels for o in got.ops] == [o.kernels for o in want.ops]
    assert [o.bytes_in + o.bytes_w for o in got.ops] == [o.bytes_in + o.bytes_w for o in want.ops]
    assert [o.bytes_out for o in got.ops] == [o.bytes_out for o in want.ops]


def test_main_scores_cpu_rows_over_all_and_out_of_sample(bench, ops, tmp_path: Path, capsys) -> None:
    p = load_platform(NANO)
    t, _ = ops.predict_op_row(p, "copy", (2097152,), "7W", "fp32")
    data = tmp_path / "rows.toml"
    data.write_text(cpu_row(id="in-sample", latency_ms=t * 1e3 / 3.0, fit_source=True)   # ratio 3: a miss
                    + cpu_row(id="fresh", latency_ms=t * 1e3 * 2.0, cpu_clock_mhz=729.6))  # ratio 0.5: within
    out = tmp_path / "p.json"
    assert bench.main(["--data", str(data), "-o", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "target check cpu: MISSED" in shown and "rows not used to set a profile parameter" in shown
    doc = json.loads(out.read_text())
    rows = {r["id"]: r for r in doc["rows"]}
    assert rows["fresh"]["ratio"] == pytest.approx(0.5) and rows["in-sample"]["ratio"] == pytest.approx(3.0)
    assert rows["fresh"]["ratio_at_reported_clock"] > rows["fresh"]["ratio"]
    assert "ratio_at_reported_clock" not in rows["in-sample"]
    assert rows["in-sample"]["fit_source"] is True and rows["fresh"]["fit_source"] is False
    cpu = doc["target_check"]["cpu"]
    assert cpu["rows"] == 2 and cpu["met"] is False and [m["id"] for m in cpu["misses"]] == ["in-sample"]
    assert cpu["out_of_sample"]["rows"] == 1 and cpu["out_of_sample"]["met"] is True
    assert cpu["out_of_sample"]["excluded"] == ["in-sample"]


@pytest.mark.parametrize(("edit", "field"), [
    ({"op": "conv3d"}, "op"),
    ({"op": None}, "op"),
    ({"op": 3}, "op"),
    ({"op_shape": [0]}, "op_shape"),
    ({"op_shape": [64, 64]}, "op_shape"),
    ({"op_shape": None}, "op_shape"),
    ({"device_kind": "gpu"}, "device_kind"),
    ({"workload": "resnet18"}, "workload"),
    ({"fit_source": "yes"}, "fit_source"),
    ({"cpu_clock_mhz": -729.6}, "cpu_clock_mhz"),
    ({"twin_mode": "25W"}, "twin_mode"),
])
def test_a_malformed_cpu_row_is_one_line_naming_row_and_field(bench, tmp_path: Path, capsys, edit, field) -> None:
    data = tmp_path / "bad.toml"
    data.write_text(cpu_row(id="good") + cpu_row(id="broken-cpu-row", **edit))
    assert bench.main(["--data", str(data), "-o", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "row 2" in err and "broken-cpu-row" in err and f"field {field!r}" in err
    assert not (tmp_path / "x.json").exists()


def test_the_shipped_cpu_rows_load_and_name_their_fit_sources(bench) -> None:
    rows = [r for r in bench.load_rows(bench.DATA) if r.device_kind == "cpu"]
    assert len(rows) >= 70 and all(r.method == "op" and r.role == "target" for r in rows)
    assert all(bench.skip_reason(r) is None for r in rows)
    fit = sorted(r.id for r in rows if r.src.get("fit_source"))
    assert fit == sorted([f"branes-nanosuper-25w-cpu-copy-{n}-fp32" for n in (16777216, 33554432, 67108864, 134217728)]
                         + ["branes-nanosuper-25w-cpu-matmul-256-fp32", "branes-nanosuper-25w-cpu-matmul-256-fp16"]
                         + [f"branes-nano-7w-cpu-copy-{2097152 * 2 ** k}-fp32" for k in range(7)]
                         + ["branes-nano-7w-cpu-axpy-10000000-fp16"])


def test_cpu_variants_change_only_what_they_name(ops) -> None:
    """benchmarks/published_cpu_variants.py: no change predicts exactly as the profile; P2 sets t_launch to
    0.012 ms·GHz at the profile's max clock, which is all the copy row's overhead term sees."""
    with benchmark_script("published_cpu_variants", "published_cpu_variants_bench") as var:
        p = load_platform(NANO)
        same, _ = ops.predict_op_row(var.variant(p), "copy", (2097152,), "7W", "fp32")
        assert same == ops.predict_op_row(p, "copy", (2097152,), "7W", "fp32")[0]
        q = var.variant(p, tl_msghz=0.012)
        assert q.cpu.latency.t_launch == pytest.approx(0.012e-3 / 1.5) and q.cpu.latency.mem_bw == p.cpu.latency.mem_bw
        t, _ = ops.predict_op_row(q, "copy", (2097152,), "7W", "fp32")
        assert t == pytest.approx(0.012e-3 / 0.96 + 2 * 4 * 2097152 / p.mem_bw("cpu", "7W"), rel=1e-12)
        r = var.variant(p, eta_mm=0.85)
        changed = [i for i, (a, b) in enumerate(zip(p.cpu.latency.eta, r.cpu.latency.eta)) if a != b]
        assert sorted(changed) == sorted([kind_code("matmul"), kind_code("linear")]) and r.gpu == p.gpu
