"""Hybrid executor: outputs equal eager under any placement; transfers, splits, errors, traces."""

from __future__ import annotations

import json
import os
import weakref
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from sparoa_sim.errors import SimulationError, SparOAError
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.real.models import zoo
from sparoa_sim.real.run.executor import (
    DeviceUnavailableError,
    ExecutorError,
    HybridExecutor,
    random_placement,
)
from sparoa_sim.real.models.extract import magnitude_prune
from sparoa_sim.real.measure.precision import tolerance

TOL = 1e-5


def _parts(x) -> tuple[torch.Tensor, ...]:
    """A model's output as a tuple of tensors (the detector returns (boxes, logits))."""
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _close(out, ref) -> float:
    """Largest error relative to the output's scale (fp32 re-association of split reductions)."""
    return max(float((o - r).abs().max()) / max(1.0, float(r.abs().max())) for o, r in zip(_parts(out), _parts(ref)))


def _equal(out, ref) -> bool:
    a, b = _parts(out), _parts(ref)
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def executors():
    made = {}
    yield made
    for ex in made.values():
        ex.close()


def _executor(executors, name: str) -> HybridExecutor:
    if name not in executors:
        m = zoo.build(name, reduced=True)
        executors[name] = HybridExecutor(m, zoo.example_input(name, reduced=True), gpu_device=None, name=name)
    return executors[name]


@pytest.mark.parametrize("name", zoo.model_names())
def test_random_placements_match_eager(executors, name):
    ex = _executor(executors, name)
    x = zoo.example_input(name, reduced=True, batch=2, seed=3)
    rng = np.random.default_rng(zoo.model_names().index(name))
    for batch in (1, 2):
        xb = x[:batch]
        ref = ex.eager(xb)
        for _ in range(3):  # whole-operator placements: the very same kernels, bit for bit
            pl = [float(rng.integers(0, 2)) for _ in ex.graph.ops]
            res = ex.run(xb, placement=pl)
            assert _equal(res.output, ref)
        for _ in range(3):  # with splits: split reductions may re-associate
            pl = random_placement(ex.graph, rng, p_split=0.5)
            res = ex.run(xb, placement=pl)
            assert _close(res.output, ref) <= TOL
            n_parts = {(t.op, t.device) for t in res.ops}
            assert len(n_parts) == len(res.ops)  # one slice per operator part
            ops_run = {t.op for t in res.ops}
            assert ops_run == set(range(len(ex.graph)))


@given(st.lists(st.floats(0.0, 1.0), min_size=68, max_size=68), st.integers(1, 3))
def test_any_shares_match_eager_resnet18(executors, shares, batch):
    ex = _executor(executors, "resnet18")
    assert len(ex.graph) == 68
    split = ex.graph.arrays.splittable
    pl = [s if split[i] else float(s >= 0.5) for i, s in enumerate(shares)]
    x = zoo.example_input("resnet18", reduced=True, batch=batch, seed=batch)
    res = ex.run(x, placement=pl)
    assert _close(res.output, ex.eager(x)) <= TOL
    # every split operator ran on both devices (output channels at batch 1 are never fewer than 2)
    for i, s in enumerate(pl):
        devs = {t.device for t in res.ops if t.op == i}
        assert devs == ({"cpu"} if s == 0 else {"gpu"} if s == 1 else {"cpu", "gpu"})


@pytest.mark.slow
def test_full_size_resnet18_matches_eager():
    m = zoo.build("resnet18")
    x = zoo.example_input("resnet18", seed=1)
    with HybridExecutor(m, x, gpu_device=None) as ex:
        ref = ex.eager(x)
        rng = np.random.default_rng(0)
        for _ in range(2):
            res = ex.run(x, placement=random_placement(ex.graph, rng, p_split=0.4))
            assert _close(res.output, ref) <= TOL


def test_transfers_follow_cross_device_edges(executors):
    ex = _executor(executors, "vgg16")
    n = len(ex.graph)
    x = zoo.example_input("vgg16", reduced=True)
    res = ex.run(x, placement=[1.0] * n)  # all on the GPU role: input in, output back
    assert [(t.name, t.src, t.dst) for t in res.transfers] == [("input", "cpu", "gpu"), (ex.graph.ops[-1].name, "gpu", "cpu")]
    assert res.transfers[0].nbytes == x.numel() * 4
    assert all(t.device == "gpu" for t in res.ops)
    # alternate devices along the chain: one copy per edge, each value copied once
    pl = [float(i % 2) for i in range(n)]
    res = ex.run(x, placement=pl)
    crossing = sum(1 for i, op in enumerate(ex.graph.ops) for p in op.deps if pl[p] != pl[i])
    xfers = [t for t in res.transfers if t.kind == "transfer"]
    # + the input copied to a GPU source, + the output copied back from a GPU sink
    assert len(xfers) == crossing + (pl[0] > 0) + (pl[-1] > 0)
    pl = [float((i + 1) % 2) for i in range(n)]
    res = ex.run(x, placement=pl)
    assert len([t for t in res.transfers if t.kind == "transfer"]) == crossing + (pl[0] > 0) + (pl[-1] > 0)
    assert all(t.end >= t.start >= 0 for t in res.transfers)


def test_split_merges_on_home_device(executors):
    ex = _executor(executors, "resnet18")
    n = len(ex.graph)
    conv = next(i for i, op in enumerate(ex.graph.ops) if op.kind.value == "conv")
    for share, home in ((0.25, "cpu"), (0.75, "gpu"), (0.5, "gpu")):
        pl = [0.0] * n
        pl[conv] = share
        x = zoo.example_input("resnet18", reduced=True)
        res = ex.run(x, placement=pl)
        assert torch.equal(res.output, ex.eager(x)) or _close(res.output, ex.eager(x)) <= TOL
        merges = [t for t in res.transfers if t.kind == "merge"]
        assert len(merges) == 1 and merges[0].op == conv and merges[0].dst == home
        out_bytes = ex.graph.ops[conv].bytes_out
        minor = min(share, 1 - share)
        assert merges[0].nbytes == pytest.approx(out_bytes * minor, rel=0.2)


def test_schedule_order_is_honoured(executors):
    ex = _executor(executors, "resnet18")
    n = len(ex.graph)
    pl = [float(i % 3 == 0) for i in range(n)]
    order = {"cpu": [i for i in range(n) if pl[i] < 1], "gpu": [i for i in range(n) if pl[i] > 0]}
    res = ex.run(zoo.example_input("resnet18", reduced=True), placement=StaticSchedule(pl, order=order))
    for dev in ("cpu", "gpu"):
        seen = [t.op for t in sorted(res.ops, key=lambda t: t.start) if t.device == dev]
        assert seen == order[dev]


def test_bad_placements_are_clear_errors(executors):
    ex = _executor(executors, "resnet18")
    x = zoo.example_input("resnet18", reduced=True)
    with pytest.raises(SimulationError, match="68 operators"):
        ex.run(x, placement=[0.0] * 3)
    norm = next(i for i, op in enumerate(ex.graph.ops) if op.split_axis is None)
    pl = [0.0] * len(ex.graph)
    pl[norm] = 0.5
    with pytest.raises(SimulationError, match="no split axis"):
        ex.run(x, placement=pl)
    with pytest.raises(SimulationError, match=r"placement\[0\]"):
        ex.run(x, placement=[1.5] + [0.0] * 67)
    with pytest.raises(ExecutorError, match="input"):
        ex.run(x, x, placement=[0.0] * 68)
    with pytest.raises(ExecutorError, match="gpu_device"):
        HybridExecutor(nn.Linear(2, 2), torch.zeros(1, 2), gpu_device="cpu")


class _Broken(nn.Module):
    """Works on 8×8 inputs; on larger ones the flattening view feeds ``fc`` the wrong width."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize("fc_share", [0.0, 1.0, 0.5])
def test_failing_operator_is_named(fc_share):
    with HybridExecutor(_Broken().eval(), torch.zeros(1, 3, 8, 8), gpu_device=None) as ex:
        names = [op.name for op in ex.graph.ops]
        fc = names.index("fc")
        pl = [1.0 - fc_share] * len(names)
        pl[fc] = fc_share
        ok = ex.run(torch.randn(1, 3, 8, 8), placement=pl)
        assert ok.output.shape == (1, 5)
        with pytest.raises(ExecutorError, match=r"operator \d+ \('fc', linear\) failed") as err:
            ex.run(torch.randn(1, 3, 16, 16), placement=pl)
        assert err.value.op_name == "fc" and err.value.op_index == fc
        assert isinstance(err.value, SparOAError)
        again = ex.run(torch.randn(1, 3, 8, 8), placement=pl)  # the executor survives a failure
        assert again.output.shape == (1, 5)


def test_no_cuda_error_and_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    m = zoo.build("mobilenetv3_small", reduced=True)
    x = zoo.example_input("mobilenetv3_small", reduced=True)
    with HybridExecutor(m, x, gpu_device="cuda") as ex:
        n = len(ex.graph)
        assert not ex.gpu_available
        assert torch.equal(ex.run(x, placement=[0.0] * n).output, ex.eager(x))  # CPU-only needs no GPU
        with pytest.raises(DeviceUnavailableError, match="no CUDA device"):
            ex.run(x, placement=[1.0] + [0.0] * (n - 1))
    with HybridExecutor(m, x, gpu_device="cuda", fallback="cpu") as ex:
        with pytest.warns(RuntimeWarning, match="falling back to the CPU"):
            res = ex.run(x, placement=[0.5 if op.split_axis else 1.0 for op in ex.graph.ops])
        assert torch.equal(res.output, ex.eager(x))
        assert {t.device for t in res.ops} == {"cpu"} and not res.transfers[:-1]
    with pytest.raises(ExecutorError, match="fallback"):
        HybridExecutor(m, x, gpu_device=None, fallback="gpu")  # type: ignore[arg-type]


def test_trace_is_chrome_json_with_one_slice_per_op(executors, tmp_path):
    ex = _executor(executors, "vit_b_16")
    n = len(ex.graph)
    rng = np.random.default_rng(5)
    pl = [float(rng.integers(0, 2)) for _ in range(n)]
    res = ex.run(zoo.example_input("vit_b_16", reduced=True), placement=pl)
    path = res.save_trace(tmp_path / "t.json", policy="random")
    doc = json.loads(path.read_text())
    slices = [e for e in doc["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "op"]
    assert sorted(e["args"]["op"] for e in slices) == list(range(n))
    for e in slices:
        assert e["name"] == ex.graph.ops[e["args"]["op"]].name
        assert e["tid"] == (1 if pl[e["args"]["op"]] == 1.0 else 0)
        assert e["dur"] >= 0 and e["ts"] >= 0
    xfers = [e for e in doc["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "transfer"]
    assert len(xfers) == len(res.transfers)
    assert res.busy_s("cpu") + res.busy_s("gpu") <= 2 * res.wall_s + 1e-3


def test_cpu_sparse_kernel_matches_dense():
    m = magnitude_prune(zoo.build("resnet18", reduced=True), 0.8)
    x = zoo.example_input("resnet18", reduced=True, batch=2)
    with HybridExecutor(m, x[:1], gpu_device=None, cpu_sparse=0.7) as ex:
        sparse_ops = ex.cpu_sparse
        kinds = {ex.graph.ops[i].kind.value for i in sparse_ops}
        assert sparse_ops and kinds <= {"conv", "linear"}
        ref = ex.eager(x)
        n = len(ex.graph)
        res = ex.run(x, placement=[0.0] * n)
        assert _close(res.output, ref) <= TOL
        assert {t.op for t in res.ops if t.sparse} == set(sparse_ops)
        rng = np.random.default_rng(1)
        res = ex.run(x, placement=random_placement(ex.graph, rng, p_split=0.5))
        assert _close(res.output, ref) <= TOL
        assert all(t.device == "cpu" for t in res.ops if t.sparse)
    with pytest.raises(ExecutorError, match="cpu_sparse"):
        HybridExecutor(m, x[:1], gpu_device=None, cpu_sparse=[10_000])


def test_unsplittable_at_this_size_runs_whole_on_home():
    lin = nn.Sequential(nn.Linear(4, 1), nn.ReLU()).eval()
    x = torch.randn(1, 4)
    with HybridExecutor(lin, x, gpu_device=None) as ex:
        res = ex.run(x, placement=[0.7, 0.0])
        assert torch.equal(res.output, ex.eager(x))
        first = [t for t in res.ops if t.op == 0]
        assert len(first) == 1 and first[0].device == "gpu" and first[0].share == 1.0


def test_training_module_is_not_flipped():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    with HybridExecutor(m, torch.zeros(1, 3), gpu_device=None) as ex:
        out = ex.run(torch.ones(2, 3), placement=[0.0] * len(ex.graph)).output
    assert m.training
    assert torch.equal(out, m.eval()(torch.ones(2, 3)))


#: TF32 mode of the GPU tests (scripts/gpu_check.sh runs them with "all" and with "none").
GPU_TF32 = os.environ.get("SPAROA_TF32", "conv")


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2", "vit_b_16", "swin_t"])
def test_cuda_hybrid_matches_eager(name, precision):
    m = zoo.build(name, reduced=True)
    x = zoo.example_input(name, reduced=True, batch=2)
    tol = tolerance(precision, GPU_TF32)
    with HybridExecutor(m, x[:1], gpu_device="cuda", tf32=GPU_TF32, precision=precision) as ex:
        assert ex.cuda
        assert ex.run(x, placement=[1.0] * len(ex.graph)).precision["tf32"] == GPU_TF32
        ref = ex.eager(x)
        rng = np.random.default_rng(0)
        for _ in range(3):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                res = ex.run(x, placement=random_placement(ex.graph, rng, p_split=0.4))
            assert res.output.device.type == "cpu"
            # cuDNN/cuBLAS reduce in another order than the CPU kernels; TF32 and fp16 keep 10 mantissa bits
            assert _close(res.output, ref) <= tol
        assert res.devices["gpu"].startswith("cuda")
        assert any(t.device == "gpu" for t in res.ops)


@pytest.mark.parametrize("placement", ["cpu", "alternating"])
def test_intermediate_values_are_freed_once_their_consumers_have_read_them(placement):
    """Eager PyTorch frees an intermediate after its last use; so does the executor (keeping
    every value to the end of the pass costs ~9 % on ResNet-50 on a CPU: cold buffers)."""
    torch.manual_seed(0)
    model = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(16, 16), nn.ReLU())]).eval()
    first: list = []
    seen_alive: list[bool] = []
    model[0].register_forward_hook(lambda mod, i, out: first.append(weakref.ref(out)))
    model[10].register_forward_hook(lambda mod, i, out: seen_alive.append(first[-1]() is not None))
    x = torch.randn(2, 16)
    with HybridExecutor(model, x, gpu_device=None) as ex:
        n = len(ex.graph)
        pl = [0.0] * n if placement == "cpu" else [float(i % 2) for i in range(n)]
        for _ in range(2):
            res = ex.run(x, placement=pl)
            assert torch.equal(res.output, ex.eager(x))
    assert seen_alive and not any(seen_alive)


def test_ctrl_c_while_waiting_for_the_gpu_walk_stops_that_walk():
    """An interrupt that reaches the calling thread while the GPU's walk runs ends the pass: the
    walk stops (no operator runs after ``run`` returns) and the executor runs the next pass."""
    import signal
    import time

    m = zoo.build("resnet18", reduced=True)
    x = zoo.example_input("resnet18", reduced=True)
    with HybridExecutor(m, x, gpu_device=None, name="resnet18") as ex:
        calls: list[float] = []
        real = dict(ex._calls[1])

        def slow(fn):
            def run(*a, **k):
                calls.append(time.perf_counter())
                time.sleep(0.02)
                return fn(*a, **k)
            return run

        for k in list(ex._calls[1]):
            ex._calls[1][k] = slow(real[k])
        pl = [1.0] * len(ex.graph)  # all on the GPU role: the calling thread only waits

        def interrupt(*_):
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.15)
            with pytest.raises(KeyboardInterrupt):
                ex.run(x, placement=pl)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        done = len(calls)
        assert 0 < done < len(ex.graph)
        time.sleep(0.2)
        assert len(calls) == done  # the walk stopped with the pass
        ex._calls[1].update(real)
        assert _close(ex.run(x, placement=pl).output, ex.eager(x)) <= TOL


def test_a_failed_merge_copy_names_its_operator(monkeypatch):
    m = zoo.build("resnet18", reduced=True)
    x = zoo.example_input("resnet18", reduced=True)
    with HybridExecutor(m, x, gpu_device=None, name="resnet18") as ex:
        conv = next(i for i, op in enumerate(ex.graph.ops) if op.kind.value == "conv")
        pl = [0.0] * len(ex.graph)
        pl[conv] = 0.25
        real = ex._copy_value

        def failing(run, value, src, dst, i, name, kind="transfer", event=None):
            if kind == "merge":
                raise RuntimeError("out of memory (simulated)")
            return real(run, value, src, dst, i, name, kind, event)

        monkeypatch.setattr(ex, "_copy_value", failing)
        with pytest.raises(ExecutorError, match="out of memory") as err:
            ex.run(x, placement=pl)
        assert err.value.op_index == conv and err.value.op_name == ex.graph.ops[conv].name


class _InPlace(nn.Module):
    """In-place operations on a value the other device reads: eager semantics must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(32, 32), nn.Linear(32, 32), nn.Linear(32, 32)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.a(x)
        y = self.b(h)  # reads h before ...
        z = torch.relu_(h)  # ... h is changed in place
        w = self.act(self.c(z))
        w += y
        return w.sigmoid_()


def test_in_place_operations_keep_eager_semantics_across_devices():
    m = _InPlace().eval()
    x = torch.randn(4, 32)
    ref = m(x.clone())
    with HybridExecutor(m, x, gpu_device=None) as ex:
        assert m.act.inplace  # the caller's module is not changed
        kinds = {op.name: op.kind.value for op in ex.graph.ops}
        assert kinds["relu_"] == kinds["sigmoid_"] == "act" and kinds["add"] == "add"
        names = [op.name for op in ex.graph.ops]
        rng = np.random.default_rng(0)
        for r in range(30):
            pl = [0.0] * len(names)
            pl[names.index("b")] = 1.0  # b on the other device: it copies h while the CPU changes it
            if r % 2:
                pl = random_placement(ex.graph, rng, p_split=0.0)
            assert torch.allclose(ex.run(x, placement=pl).output, ref, atol=1e-6)


def test_in_place_method_without_a_twin_is_refused():
    class Zeroing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x).zero_()

    with pytest.raises(ExecutorError, match=r"node 'zero_' changes a value in place"):
        HybridExecutor(Zeroing(), torch.randn(2, 4), gpu_device=None)
