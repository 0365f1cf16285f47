"""Profiler: rows for every operator and context, repeatability halves, sums vs eager, the table's
JSON round trip and its validation errors, and the torch-free loader."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from sparoa_sim.errors import CalibrationError, GraphError  # noqa: E402
from sparoa_sim.hwmodels.measurements import (  # noqa: E402
    CONTEXTS,
    MeasurementTable,
    load_table,
    merge_tables,
    repeatability,
    table_from_dict,
    table_to_dict,
)
from sparoa_sim.real.measure import op_timing, profiler  # noqa: E402
from sparoa_sim.real.measure.timing import Clock  # noqa: E402
from sparoa_sim.real.models.extract import extract  # noqa: E402
from sparoa_sim.real.measure.profiler import (  # noqa: E402
    measure_bandwidth,
    profile_model,
    profile_workload,
    resolve_workload,
    save_table,
    sparse_sweep,
)

FAST = dict(
    reps=10, min_reps=4, warmup=1, target_s=0.002, graph_target_s=0.05, e2e_target_s=0.02, threads=1, settle_s=0.5,
    bandwidth_bytes=4 * 2**20, sparse_shapes=((64, 64, 1), (128, 96, 8)), progress=False,
)  # fmt: skip
BATCHES = (1, 2)
_THREADS_BEFORE = torch.get_num_threads()


@pytest.fixture(scope="module")
def table() -> MeasurementTable:
    return profile_workload("resnet18", reduced=True, batches=BATCHES, **FAST)


@pytest.fixture(scope="module")
def graph():
    from sparoa_sim.real.models import zoo

    return extract(zoo.build("resnet18", reduced=True), zoo.example_input("resnet18", reduced=True), name="r")


@pytest.fixture(scope="module")
def table_path(table: MeasurementTable, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_table(table, tmp_path_factory.mktemp("prof") / "table.json")


# --- content -----------------------------------------------------------------------------------


def test_rows_for_every_op_context_and_batch(table, graph):
    assert table.device == "cpu"
    expected = {(op.name, i) for i, op in enumerate(graph.ops)}
    for context in CONTEXTS:
        for b in BATCHES:
            rows = [r for r in table.rows if r.context == context and r.batch == b]
            assert {(r.op, r.op_index) for r in rows} == expected
    by_name = {op.name: op for op in graph.ops}
    for r in table.rows:
        op = by_name[r.op]
        assert r.kind == op.kind.value
        assert (r.macs, r.flops, r.bytes_in, r.bytes_w) == (op.macs, op.flops, op.bytes_in, op.bytes_w), "per sample"
        assert r.workload == "resnet18_reduced"


def test_times_positive_finite_with_two_medians(table):
    for r in table.rows:
        for t in (r.time_s, r.time_s_a, r.time_s_b):
            assert math.isfinite(t) and t > 0
        assert r.reps >= FAST["min_reps"]
        assert min(r.time_s_a, r.time_s_b) * (1 - 1e-9) <= r.time_s <= max(r.time_s_a, r.time_s_b) * (1 + 1e-9)
        assert math.isfinite(r.rel_spread)
    a = table.arrays("graph")
    assert len(a) == len(table.rows) // 2
    assert set(a.context.tolist()) == {"graph"}
    assert (a.time_s > 0).all() and a.rel_spread.shape == a.time_s.shape
    assert len(table.arrays(batch=2, workload="resnet18_reduced")) == len(table.rows) // 2
    rep = repeatability(table, "isolated")
    assert 0.0 <= rep["all"] <= 1.0 and "conv" in rep


def test_sums_match_end_to_end(table):
    assert [e.batch for e in table.end_to_end] == list(BATCHES)
    for e in table.end_to_end:
        rows = [r for r in table.rows if r.batch == e.batch]
        assert e.sum_graph_s == pytest.approx(sum(r.time_s for r in rows if r.context == "graph"))
        assert e.sum_isolated_s == pytest.approx(sum(r.time_s for r in rows if r.context == "isolated"))
        # how close the sums come to a pass is a timing figure (benchmarks/profile_host.py), not a test
        assert e.sum_graph_s > 0 and e.sum_isolated_s > 0


def test_bandwidth_and_sparse_sweep(table):
    bw = table.bandwidth
    assert bw is not None and bw.copy.bytes_per_s > 0 and bw.triad is not None and bw.triad.bytes_per_s > 0
    assert bw.copy.bytes_moved == 2 * bw.nbytes and bw.threads >= 1
    shapes = {(p.out_features, p.in_features, p.cols) for p in table.sparse_sweep}
    assert shapes == set(FAST["sparse_shapes"])
    for shape in shapes:
        pts = [p for p in table.sparse_sweep if (p.out_features, p.in_features, p.cols) == shape]
        assert [p.sparsity for p in pts] == list(profiler.DEFAULT_SPARSITIES)
        for p in pts:
            assert p.nnz == round((1 - p.sparsity) * shape[0] * shape[1])
            assert p.w_sparsity == pytest.approx(p.sparsity, abs=1e-3)
            assert p.speedup == pytest.approx(p.dense_s / p.sparse_s)


def test_host_and_meta(table):
    host = table.host
    for key in ("cpu_model", "logical_cpus", "torch_threads", "torch_version", "cuda_device", "platform"):
        assert key in host
    assert host["torch_threads"] == 1, "the thread count used is recorded"
    assert torch.get_num_threads() == _THREADS_BEFORE, "and the caller's thread count is restored"
    assert table.meta["graph_attribution"]
    assert table.created.endswith("+00:00")


def test_standalone_measurements():
    bw = measure_bandwidth("cpu", 2**20, reps=2, warmup=0, triad=False)
    assert bw.triad is None and bw.sustained_bytes_per_s > 0
    pts = sparse_sweep("cpu", ((16, 16, 2),), (0.0, 0.9), reps=2, min_reps=2, warmup=0)
    assert [p.sparsity for p in pts] == [0.0, 0.9]
    with pytest.raises(CalibrationError, match="sparsity"):
        sparse_sweep("cpu", ((16, 16, 2),), (1.0,))


class InPlace(nn.Module):
    """In-place activation and accumulation, a view feeding the output, a constant sub-graph."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 8)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(8, 8)
        self.pos = nn.Parameter(torch.randn(8))

    def forward(self, x):
        y = self.act(self.fc1(x))
        y = y + self.fc2(x)
        y.mul_(0.5)  # in place: timed on copies, or repeated calls would shrink y
        y = y + self.pos.view(1, 8) * 2.0  # constant sub-graph, folded into its consumer
        return y.view(-1, 2, 4)  # a view feeding the output


def test_custom_model_inplace_and_attribution():
    model = InPlace().eval()
    x = torch.randn(1, 8)
    t = profile_model(model, x, name="inplace", bandwidth=False, sparse_shapes=None, **{
        k: v for k, v in FAST.items() if k not in ("bandwidth_bytes", "sparse_shapes")})  # fmt: skip
    names = [r.op for r in t.rows if r.context == "isolated"]
    assert names == ["fc1", "act", "fc2", "add", "mul_", "add_1"]
    gm = torch.fx.symbolic_trace(model)
    op_index = {n: i for i, n in enumerate(names)}
    owner = op_timing.attribution(gm, op_index)
    for node in ("pos", "view", "mul"):
        assert owner[node] == 5, "the constant sub-graph goes to the operator consuming it"
    assert owner["view_1"] == 5, "a view feeding the output goes to its producer"
    assert "x" not in owner and "output" not in owner
    reps = op_timing.Reps(lo=3, hi=3, warmup=2, settle_s=0.0, iso_target_s=0.0, graph_target_s=0.0, e2e_target_s=0.0)
    walker = op_timing.IsolatedWalker(gm, op_index, Clock(False), reps, lambda: None)
    with torch.no_grad():
        assert torch.equal(walker.run(x), model(x)), "timing an in-place operator left its input intact"


def test_time_budget_and_bad_arguments():
    from sparoa_sim.real.models import zoo

    model, x = zoo.build("mobilenetv3_small", reduced=True), zoo.example_input("mobilenetv3_small", reduced=True)
    kw = dict(bandwidth=False, sparse_shapes=None, progress=False, settle_s=0.1)
    t = profile_model(model, x, name="m", time_budget_s=0.01, reps=10, min_reps=2, warmup=0, **kw)
    assert {r.reps for r in t.rows} == {2}, "a spent budget leaves the floor of repetitions"
    with pytest.raises(CalibrationError, match="--batch"):
        profile_model(model, x, name="m", batches=(0,), **kw)
    with pytest.raises(CalibrationError, match="--device"):
        profile_model(model, x, name="m", device="tpu", **kw)
    if not torch.cuda.is_available():
        with pytest.raises(CalibrationError, match="no CUDA device"):
            profile_model(model, x, name="m", device="cuda", **kw)


def test_resolve_workload():
    assert resolve_workload("resnet50_pruned80") == ("resnet50", 0.8)
    assert resolve_workload("vit_b_16") == ("vit_b_16", None)
    with pytest.raises(GraphError, match="unknown workload"):
        resolve_workload("alexnet")


@pytest.mark.gpu
def test_cuda_profile():
    t = profile_workload("resnet18", reduced=True, device="cuda", **FAST)
    assert t.device == "cuda" and t.host["cuda_device"]
    assert all(r.time_s > 0 for r in t.rows)


# --- JSON ----------------------------------------------------------------------------------------


def test_json_round_trip(table, table_path):
    loaded = load_table(table_path)
    assert loaded == table
    assert loaded.source == str(table_path)
    assert table_from_dict(json.loads(table_path.read_text()), "x") == table
    doc = json.loads(table_path.read_text())
    assert doc["schema_version"] == 1 and doc["kind"] == "sparoa-measurements"
    assert set(doc["rows"][0]) == {
        "workload", "op", "op_index", "kind", "batch", "context", "macs", "flops", "bytes_in", "bytes_out",
        "bytes_w", "act_sparsity", "w_sparsity", "out_elems", "time_s", "time_s_a", "time_s_b", "reps",
    }  # fmt: skip
    assert set(doc["end_to_end"][0]) == {
        "workload", "batch", "time_s", "time_s_a", "time_s_b", "reps", "sum_isolated_s", "sum_graph_s",
    }


def _bad(doc_path: Path, tmp_path: Path, mutate) -> Path:
    doc = json.loads(doc_path.read_text())
    mutate(doc)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))  # json.dumps writes NaN as the bare token NaN
    return p


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda d: d["rows"][3].__setitem__("time_s", float("nan")), ["rows[3]", "'time_s'", "not finite"]),
        (lambda d: d["rows"][5].__setitem__("time_s_b", -1e-3), ["rows[5]", "'time_s_b'", "> 0"]),
        (lambda d: d["rows"][2].__setitem__("time_s_a", 0), ["rows[2]", "'time_s_a'"]),
        (lambda d: d["rows"][1].pop("macs"), ["rows[1]", "missing key 'macs'"]),
        (lambda d: d["rows"][0].__setitem__("kind", "warp"), ["rows[0]", "'kind'", "warp"]),
        (lambda d: d["rows"][0].__setitem__("context", "cold"), ["rows[0]", "'context'", "cold"]),
        (lambda d: d["rows"][0].__setitem__("w_sparsity", 1.5), ["rows[0]", "'w_sparsity'"]),
        (lambda d: d["rows"][0].__setitem__("extra", 1), ["rows[0]", "'extra'"]),
        (lambda d: d["end_to_end"][1].__setitem__("time_s", float("inf")), ["end_to_end[1]", "'time_s'"]),
        (lambda d: d["sparse_sweep"][0].pop("speedup"), ["sparse_sweep[0]", "'speedup'"]),
        (lambda d: d["bandwidth"]["copy"].__setitem__("bytes_per_s", -1), ["bandwidth.copy", "'bytes_per_s'"]),
        (lambda d: d.__setitem__("schema_version", 2), ["'schema_version'", "2"]),
        (lambda d: d.__setitem__("kind", "graph"), ["'kind'", "not a measurement table"]),
        (lambda d: d.pop("rows"), ["missing key 'rows'"]),
        (lambda d: d.__setitem__("device", "tpu"), ["'device'", "tpu"]),
    ],
)
def test_bad_tables_name_file_row_and_key(table_path, tmp_path, mutate, needles):
    p = _bad(table_path, tmp_path, mutate)
    with pytest.raises(CalibrationError) as info:
        load_table(p)
    msg = str(info.value)
    assert str(p) in msg
    for needle in needles:
        assert needle in msg, msg


def test_malformed_and_missing_files(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"schema_version": 1, "rows": [')
    with pytest.raises(CalibrationError, match=r"broken\.json.*malformed JSON"):
        load_table(p)
    with pytest.raises(CalibrationError, match=r"absent\.json.*no such"):
        load_table(tmp_path / "absent.json")
    p.write_text("[1, 2]")
    with pytest.raises(CalibrationError, match="top level"):
        load_table(p)


def test_in_memory_table_is_validated(table):
    doc = table_to_dict(table)
    doc["rows"][0]["time_s"] = float("nan")
    with pytest.raises(CalibrationError, match="not finite"):
        table_from_dict(doc)
    with pytest.raises(CalibrationError, match="unknown context"):
        table.arrays("cold")


def test_merge_tables(table):
    doc = table_to_dict(table)
    doc["rows"] = [r for r in doc["rows"] if r["batch"] == 1]
    doc["end_to_end"] = doc["end_to_end"][:1]
    doc["bandwidth"] = None
    other = table_from_dict(doc, "other.json")
    merged = merge_tables([table, other])
    assert len(merged.rows) == len(table.rows), "the same measurements are replaced, not repeated"
    assert merged.bandwidth == table.bandwidth
    assert merged.meta["merged_from"] == [table.source, "other.json"]
    for r in doc["rows"]:
        r["workload"] = "second"
    assert len(merge_tables([table, table_from_dict(doc, "b")]).rows) == len(table.rows) + len(doc["rows"])
    with pytest.raises(CalibrationError, match="device"):
        merge_tables([table, table_from_dict({**doc, "device": "cuda"}, "c")])
    with pytest.raises(CalibrationError, match="cpu_model"):
        merge_tables([table, table_from_dict({**doc, "host": {**doc["host"], "cpu_model": "other"}}, "d")])
    with pytest.raises(CalibrationError):
        merge_tables([])


def test_loader_does_not_import_torch(table_path):
    code = (
        "import sys\n"
        "from sparoa_sim.hwmodels.measurements import load_table, repeatability\n"
        f"t = load_table({str(table_path)!r})\n"
        "assert t.rows and repeatability(t)['all'] >= 0\n"
        "assert 'torch' not in sys.modules, 'the loader imported torch'\n"
        "print(len(t.arrays()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_time_eager_of_a_pruned_reduced_workload():
    e = profiler.time_eager("resnet18_pruned50", reduced=True, threads=1, reps=6, min_reps=4, warmup=1,
                            target_s=0.02, settle_s=0.2)
    assert e.workload == "resnet18_pruned50_reduced" and e.batch == 1
    assert 4 <= e.reps <= 6 and min(e.time_s_a, e.time_s_b) <= e.time_s <= max(e.time_s_a, e.time_s_b)
    assert e.sum_isolated_s == 0.0 == e.sum_graph_s
    with pytest.raises(GraphError, match="unknown workload"):
        profiler.time_eager("alexnet")
    with pytest.raises(CalibrationError, match="reps"):
        profiler.time_eager("resnet18", reduced=True, reps=1)


def test_time_eager_interleaved_times_each_workload_in_every_round():
    out = profiler.time_eager_interleaved(["resnet18", "resnet18_pruned80"], rounds=4, warmup=1, threads=1,
                                          reduced=True)
    assert list(out) == ["resnet18", "resnet18_pruned80"]
    for name, e in out.items():
        assert e.workload == name and e.reps == 4 and e.sum_graph_s == 0.0
        assert min(e.time_s_a, e.time_s_b) <= e.time_s <= max(e.time_s_a, e.time_s_b) and e.time_s > 0
    with pytest.raises(CalibrationError, match="rounds"):
        profiler.time_eager_interleaved(["resnet18"], rounds=1, reduced=True)
    with pytest.raises(GraphError, match="unknown workload"):
        profiler.time_eager_interleaved(["alexnet"], reduced=True)


def test_thread_cpu_clock_needs_one_thread_and_is_recorded():
    model, x = nn.Sequential(nn.Linear(16, 8), nn.ReLU()), torch.randn(1, 16)
    kw = {**FAST, "bandwidth": False, "sparse_shapes": None}
    t = profile_model(model, x, name="tiny", clock="thread_cpu", **kw)
    assert t.meta["clock"] == "thread_cpu" and all(r.time_s > 0 for r in t.rows)
    with pytest.raises(CalibrationError, match="needs --threads 1"):
        profile_model(model, x, name="tiny", clock="thread_cpu", **{**kw, "threads": 2})
    with pytest.raises(CalibrationError, match="not a clock"):
        profiler.time_eager("resnet18", reduced=True, clock="sundial")
    e = profiler.time_eager("resnet18", reduced=True, threads=1, reps=4, min_reps=4, warmup=1, target_s=0.01,
                            settle_s=0.1, clock="thread_cpu")
    assert e.time_s > 0
