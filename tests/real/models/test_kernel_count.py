"""Kernel accounting in extraction: a hand-counted module, the view/copy rule, ownership of folded
nodes, conservation against an eager pass, and the schema-2 round trip of extracted counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from sparoa_sim.ir.graph import SCHEMA_VERSION, load_graph, save_graph  # noqa: E402
from sparoa_sim.real.models.extract import extract  # noqa: E402
from sparoa_sim.real.models.kernel_count import KernelCounter, launches_kernel, node_owners  # noqa: E402

aten = torch.ops.aten


class HandCounted(nn.Module):
    """conv → bn → relu, a permuted copy added back (residual), a constant sub-graph, a linear on a 4-d
    input, a reshape that has to copy, a flatten that does not, and the classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)  # with a bias
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.pos = nn.Parameter(torch.randn(1, 8, 4, 4))
        self.head = nn.Linear(4, 4)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):  # x: (1, 3, 4, 4)
        y = self.relu(self.bn(self.conv(x)))
        z = y.permute(0, 2, 3, 1).contiguous()
        y = y + z.permute(0, 3, 1, 2)
        y = y + self.pos.transpose(2, 3).contiguous()
        w = self.head(y.contiguous())
        r = w.transpose(2, 3).reshape(-1, 128)
        return self.fc(torch.flatten(r, 1))


# Per operator, counted by hand from what eager PyTorch dispatches on the CPU:
#   conv        aten.convolution (bias inside the one call)                                  1
#   bn          aten.native_batch_norm (+ aten.empty: an allocation, no kernel)               1
#   relu        aten.relu_ (in place, still a kernel)                                         1
#   contiguous  the permute before it is a view folded into it (0); aten.clone                1
#   add         aten.add; the permute feeding it is a view folded into it (0)                 1
#   add_1       aten.add, plus the constant sub-graph it owns: get_attr pos (0),
#               transpose (view, 0), contiguous → aten.clone (1)                              2
#   head        y.contiguous() on a contiguous tensor dispatches nothing (folded, 0);
#               linear on a 4-d input: view, t (views), aten.addmm, view                      1
#   reshape     the transpose before it is a view (0); reshape of a non-contiguous tensor:
#               aten.clone + aten._unsafe_view (no kernel)                                    1
#   fc          flatten of a (1, 128) tensor is a view folded into fc (0); t (view), aten.addmm 1
HAND_COUNTS = {"conv": 1, "bn": 1, "relu": 1, "contiguous": 1, "add": 1, "add_1": 2, "head": 1, "reshape": 1, "fc": 1}


@pytest.fixture(scope="module")
def hand_graph():
    torch.manual_seed(0)
    return extract(HandCounted().eval(), torch.zeros(1, 3, 4, 4), name="hand")


def test_kernels_of_a_hand_counted_module(hand_graph):
    assert {op.name: op.kernels for op in hand_graph.ops} == HAND_COUNTS
    assert [op.name for op in hand_graph.ops] == list(HAND_COUNTS)  # the folding is the one counted above


def eager_kernels(model: nn.Module, x: torch.Tensor) -> int:
    """Kernel-launching aten calls of one eager pass (MHA's fused fast path off, as in extraction)."""
    mha = torch.backends.mha
    fastpath = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), KernelCounter() as counter:
            model(x)
    finally:
        mha.set_fastpath_enabled(fastpath)
    return counter.count


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.MultiheadAttention(16, 2, batch_first=True)
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        return self.norm(x + self.a(x, x, x, need_weights=False)[0])


@pytest.mark.parametrize("make, shape", [(HandCounted, (1, 3, 4, 4)), (Attention, (1, 5, 16))])
def test_every_eager_kernel_is_owned_by_exactly_one_operator(make, shape):
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(shape)
    g = extract(model, x, name="m")
    assert sum(op.kernels for op in g.ops) == eager_kernels(model, x)
    assert all(op.kernels >= 1 for op in g.ops)  # every operator of these modules computes


def test_views_allocations_and_metadata_launch_nothing_copies_and_in_place_ops_do():
    for op in (aten.view.default, aten.t.default, aten.transpose.int, aten.permute.default, aten.expand.default,
               aten.slice.Tensor, aten.select.int, aten.unsqueeze.default, aten.squeeze.dim, aten.as_strided.default,
               aten.detach.default, aten.alias.default, aten.split.Tensor, aten.unbind.int,
               aten._unsafe_view.default, aten.empty.memory_format, aten.empty_strided.default,
               aten.unsqueeze_.default, aten.t_.default):
        assert not launches_kernel(op), op
    for op in (aten.clone.default, aten._to_copy.default, aten.copy_.default, aten.relu_.default, aten.add_.Tensor,
               aten.addmm.default, aten.convolution.default, aten.cat.default, aten.zeros.default, aten.index.Tensor):
        assert launches_kernel(op), op


def test_counter_sees_what_eager_dispatches():
    x = torch.randn(2, 3, 4)
    with KernelCounter() as c:
        x.permute(2, 0, 1).contiguous()  # a view then a copy
        x.contiguous()  # already contiguous: nothing dispatched
        x.to(torch.float16)
    assert c.count == 2
    assert c.ops == ["aten.permute.default", "aten.clone.default", "aten._to_copy.default"]


def test_folded_nodes_go_to_their_first_consumer_else_their_last_producer():
    class ViewOut(nn.Module):
        def forward(self, x):
            a = torch.relu(x)
            b = torch.sigmoid(x)
            return a + b, b.t()  # the transpose feeds only the output: owned by its producer

    gm = torch.fx.symbolic_trace(ViewOut())
    owners = node_owners(gm, {"relu": 0, "sigmoid": 1, "add": 2})
    assert owners == {"relu": 0, "sigmoid": 1, "add": 2, "t": 1}


def test_extracted_counts_round_trip_at_schema_2(hand_graph, tmp_path):
    import json

    path = save_graph(hand_graph, tmp_path / "hand.json")
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert {o["name"]: o["kernels"] for o in data["ops"]} == HAND_COUNTS
    back = load_graph(path)
    assert back == hand_graph
    assert back.hw_ops.kernels.tolist() == [float(k) for k in HAND_COUNTS.values()]


def test_regenerate_kernels_only_keeps_every_other_field(hand_graph, tmp_path, monkeypatch):
    """``regenerate --kernels-only`` writes the fresh kernel counts into a schema-1 file and nothing else."""
    import dataclasses
    import json
    import types

    from sparoa_sim import GraphError
    from sparoa_sim.real.models import regenerate

    old = dataclasses.replace(hand_graph, ops=tuple(dataclasses.replace(op, kernels=1, act_sparsity=0.125)
                                                    for op in hand_graph.ops))
    doc = old.to_dict()
    doc["schema_version"] = 1
    for op in doc["ops"]:
        del op["kernels"]
    (tmp_path / "hand.json").write_text(json.dumps(doc))
    monkeypatch.setattr(regenerate, "WORKLOAD_DIR", tmp_path)
    monkeypatch.setattr(regenerate, "SHIPPED", {"hand": ("hand", None)})
    monkeypatch.setattr(regenerate, "zoo", types.SimpleNamespace(
        build=lambda name, seed: (torch.manual_seed(seed), HandCounted().eval())[1],
        example_input=lambda name: torch.zeros(1, 3, 4, 4)))
    assert regenerate.main(["--kernels-only"]) == 0
    back = load_graph(tmp_path / "hand.json")
    assert {op.name: op.kernels for op in back.ops} == HAND_COUNTS
    assert back == dataclasses.replace(old, ops=tuple(dataclasses.replace(op, kernels=HAND_COUNTS[op.name])
                                                      for op in old.ops))
    assert json.loads((tmp_path / "hand.json").read_text())["schema_version"] == 2
    with pytest.raises(GraphError, match="other operators"):
        regenerate.with_kernels_of(old, dataclasses.replace(old, ops=old.ops[:-1]))
