"""The executor runs the activation-sparse kernel where the twin's one rule picks it; outputs equal eager."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from sparoa_sim.hwmodels import load_platform  # noqa: E402
from sparoa_sim.real.run.executor import ExecutorError, HybridExecutor, random_placement, twin_cpu_kernels  # noqa: E402

TOL = 1e-5


class _Net(nn.Module):
    """1x1 and 3x3 convolutions, two linear layers and a matrix product, ReLUs between (zeros to skip)."""

    def __init__(self) -> None:
        super().__init__()
        self.pw = nn.Conv2d(4, 8, 1)
        self.c3 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 5 * 5, 16)
        self.fc2 = nn.Linear(16, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.c3(torch.relu(self.pw(x))))
        f = torch.relu(self.fc(h.flatten(1)))
        g = torch.matmul(f.unsqueeze(-1), f.unsqueeze(-2))
        return self.fc2(f) + g.sum(-1)[:, :6]


def _close(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out - ref).abs().max()) / max(1.0, float(ref.abs().max()))


def _act_platform(kinds=("linear", "matmul", "conv")):
    agx = load_platform("jetson-agx-orin-64gb")
    lat = dataclasses.replace(agx.cpu.latency, act_kinds=kinds, act_eta=1.0, act_gather=0.0, act_launch=0.0, g_a=1.0)
    return agx.with_latency("cpu", lat, origin="assumed", note="test: an activation-sparse kernel that always wins")


def test_twin_choice_runs_and_matches_eager():
    torch.manual_seed(0)
    m = _Net().eval()
    x = torch.randn(2, 4, 5, 5)
    with HybridExecutor(m, x[:1], gpu_device=None) as probe:
        graph = probe.graph
    choice = twin_cpu_kernels(graph, _act_platform())
    kinds = {graph.ops[i].kind.value for i, k in choice.items() if k == "act_sparse"}
    assert "linear" in kinds  # the fc layers' inputs follow a ReLU: the twin picks the sparse kernel
    by_name = {op.name: i for i, op in enumerate(graph.ops)}
    # every operator offered: the executor keeps those that can run the kernel (not the 3x3 conv, not a ReLU)
    with HybridExecutor(m, x[:1], graph=graph, gpu_device=None, cpu_act_sparse=range(len(graph))) as ex:
        ran = ex.cpu_act_sparse
        assert ran == {by_name[n] for n in ("pw", "fc", "fc2", "matmul")}
        assert set(ex.cpu_kernels.values()) == {"act_sparse"} and set(ex.cpu_kernels) == set(ran)
        ref = ex.eager(x)
        res = ex.run(x, placement=[0.0] * len(graph))
        assert _close(res.output, ref) <= TOL
        rng = np.random.default_rng(3)
        for _ in range(3):
            res = ex.run(x, placement=random_placement(graph, rng, p_split=0.5))
            assert _close(res.output, ref) <= TOL


def test_without_an_act_kernel_the_twin_picks_none():
    torch.manual_seed(1)
    m = _Net().eval()
    x = torch.randn(1, 4, 5, 5)
    with HybridExecutor(m, x, gpu_device=None) as ex:
        assert twin_cpu_kernels(ex.graph, load_platform("jetson-agx-orin-64gb")) == {}
        assert ex.cpu_kernels == {} and ex.cpu_act_sparse == frozenset()


def test_bad_kernel_lists_are_refused():
    torch.manual_seed(2)
    m = _Net().eval()
    x = torch.randn(1, 4, 5, 5)
    with pytest.raises(ExecutorError, match="'cpu_act_sparse' lists 999"):
        HybridExecutor(m, x, gpu_device=None, cpu_act_sparse=[999])
    with HybridExecutor(m, x, gpu_device=None) as ex:
        fc = next(i for i, op in enumerate(ex.graph.ops) if op.kind.value == "linear")
        graph = ex.graph
    with pytest.raises(ExecutorError, match="both the CSR and the activation-sparse kernel"):
        HybridExecutor(m, x, graph=graph, gpu_device=None, cpu_sparse=[fc], cpu_act_sparse=[fc])
