"""Synthetic DAG generator: determinism, validity, block coverage, shape-consistent sizes, bounds."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from sparoa_sim import GraphError, OpGraph
from sparoa_sim.ir.graph import graph_from_dict
from sparoa_sim.hwmodels.kinds import ELEMENTWISE_FLOPS, OpKind
from sparoa_sim.ir.synthetic import BLOCK_KINDS, SyntheticConfig, generate

SEEDS = range(12)
SPLIT = {OpKind.CONV, OpKind.DWCONV, OpKind.LINEAR, OpKind.ACT, OpKind.ADD, OpKind.MUL, OpKind.POOL, OpKind.ATTENTION}


def test_same_seed_same_graph_bit_for_bit():
    for seed in (0, 1, 12345, 2**40):
        a, b = generate(seed), generate(seed)
        assert a.to_json() == b.to_json()
        assert a == b
        assert a.name == f"synthetic-{seed}"
        assert a.sparsity_source == f"synthetic (seed {seed})"
    kw = dict(target_ops=77, kinds=("residual", "attention"), size_scale=0.5, sparsity=(0.2, 0.3))
    assert generate(9, **kw).to_json() == generate(9, **kw).to_json()


def test_generator_seed_is_reproducible_from_the_name():
    g = generate(np.random.default_rng(3), n_blocks=5)
    assert g.to_json() == generate(np.random.default_rng(3), n_blocks=5).to_json()
    seed = int(g.name.removeprefix("synthetic-"))
    assert g.meta["seed"] == seed
    assert generate(seed, n_blocks=5).to_json() == g.to_json()


def test_no_global_rng_used():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    generate(5, target_ops=100)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_different_seeds_differ():
    docs = {generate(seed).to_json() for seed in SEEDS}
    assert len(docs) == len(SEEDS)
    structures = {tuple((o.kind, o.deps, o.out_shape) for o in generate(seed).ops) for seed in SEEDS}
    assert len(structures) == len(SEEDS)


@pytest.mark.parametrize("seed", SEEDS)
def test_valid_acyclic_topological(seed):
    g = generate(seed, n_blocks=10)
    for i, op in enumerate(g.ops):
        assert all(0 <= d < i for d in op.deps), op
        assert "+" not in op.name  # fused names join members with '+'
    assert graph_from_dict(json.loads(g.to_json())) == g  # validates again from JSON
    sources = [i for i, op in enumerate(g.ops) if not op.deps]
    assert sources == [0]  # one input: the stem
    sinks = [i for i in range(len(g)) if len(g.arrays.consumers_of(i)) == 0]
    assert sinks == [len(g) - 1]  # one output


def test_every_block_kind_appears_when_asked():
    for seed in SEEDS:
        g = generate(seed, n_blocks=len(BLOCK_KINDS))
        assert sorted(g.meta["blocks"][1:]) == sorted(BLOCK_KINDS)
        kinds = {op.kind for op in g.ops}
        assert {OpKind.CONV, OpKind.NORM, OpKind.ACT, OpKind.ADD, OpKind.CONCAT, OpKind.LINEAR,
                OpKind.ATTENTION} <= kinds


@pytest.mark.parametrize("kind", BLOCK_KINDS)
def test_single_block_kind(kind):
    for seed in range(4):
        g = generate(seed, n_blocks=6, kinds=(kind,))
        assert g.meta["blocks"] == ["stem"] + [kind] * 6
        ops_kinds = {op.kind for op in g.ops}
        if kind == "attention":
            assert g.ops[0].name == "stem_patch" and OpKind.ATTENTION in ops_kinds
            assert OpKind.CONCAT not in ops_kinds
        else:
            assert OpKind.ATTENTION not in ops_kinds and OpKind.LINEAR not in ops_kinds
        if kind == "chain":  # a linear chain: every op depends on the one before
            assert all(op.deps == ((i - 1,) if i else ()) for i, op in enumerate(g.ops))
            assert ops_kinds == {OpKind.CONV, OpKind.NORM, OpKind.ACT}


def test_hand_checked_conv_chain():
    """8 channels, 10×10 maps, ReLU only, no downsampling: every number computed by hand."""
    cfg = SyntheticConfig(kinds=("chain",), channels=(8, 8), resolution=(10, 10), relu_prob=1.0,
                          downsample_prob=0.0, w_sparsity=(0.25, 0.25), act_sparsity=(0.5, 0.5))
    g = generate(0, cfg, n_blocks=1)
    assert g.input_shape == (1, 3, 20, 20)
    stem, norm, act, conv = g.ops[:4]
    # stem: conv 3x3 stride 2, 3 -> 8 channels, 20x20 -> 10x10
    assert stem.out_shape == (1, 8, 10, 10)
    assert stem.macs == 8 * 3 * 9 * 10 * 10 == 21600
    assert stem.flops == 43200
    assert stem.bytes_in == 4 * 3 * 20 * 20 == 4800
    assert stem.bytes_out == 4 * 800 == 3200
    assert stem.bytes_w == 4 * 216 == 864
    assert (stem.w_sparsity, stem.act_sparsity, stem.split_axis) == (0.25, 0.0, "channel")
    # batch norm: 4 FLOPs per element, scale + shift per channel, not splittable
    assert (norm.flops, norm.bytes_in, norm.bytes_out, norm.bytes_w) == (3200, 3200, 3200, 64)
    assert (norm.macs, norm.w_sparsity, norm.split_axis) == (0, 0.0, None)
    # ReLU: one FLOP per element; the op after it reads 50 % zeros
    assert (act.flops, act.bytes_w, act.split_axis) == (800, 0, "channel")
    assert conv.act_sparsity == 0.5
    # chain conv 8 -> 8 at 10x10 with k in {1, 3}
    k2 = conv.bytes_w / 4 / 64
    assert k2 in (1, 9)
    assert conv.macs == 8 * 8 * k2 * 100 and conv.flops == 2 * conv.macs
    assert g.params == 216 + 16 + 64 * k2 + 16 + 0
    assert len(g) == 6


def _producer_bytes(g: OpGraph, op) -> float:
    return sum(g.ops[d].bytes_out for d in op.deps) if op.deps else 4 * math.prod(g.input_shape)


@pytest.mark.parametrize("seed", SEEDS)
def test_sizes_follow_from_shapes(seed):
    g = generate(seed, n_blocks=12)
    ws = g.meta["w_sparsity"]
    for op in g.ops:
        elems = math.prod(op.out_shape[1:])
        assert op.out_shape[0] == 1 and op.dtype == "float32"
        assert op.bytes_out == 4 * elems
        assert op.bytes_in == _producer_bytes(g, op), op.name
        assert (op.split_axis == "channel") == (op.kind in SPLIT), op.name
        if op.kind is OpKind.POOL:
            assert op.flops == 9 * elems
        else:
            assert op.flops == 2 * op.macs + ELEMENTWISE_FLOPS.get(op.kind, 0.0) * elems, op.name
        inp = g.ops[op.deps[0]].out_shape if op.deps else g.input_shape
        if op.kind in (OpKind.CONV, OpKind.DWCONV):
            assert op.macs == op.bytes_w / 4 * op.out_shape[2] * op.out_shape[3]
            cin = inp[1]
            k2 = op.bytes_w / 4 / (op.out_shape[1] * (1 if op.kind is OpKind.DWCONV else cin))
            assert math.isqrt(int(k2)) ** 2 == k2
        elif op.kind is OpKind.LINEAR:
            n, d_in, d_out = op.out_shape[1], inp[2], op.out_shape[2]
            assert op.macs == n * d_in * d_out and op.bytes_w == 4 * (d_in * d_out + d_out)
        elif op.kind is OpKind.ATTENTION:
            n, d = op.out_shape[1], op.out_shape[2]
            assert inp[2] == 3 * d and op.macs == 2 * n * n * d
        elif op.kind is OpKind.NORM:
            assert op.bytes_w == 4 * 2 * (op.out_shape[1] if len(op.out_shape) == 4 else op.out_shape[2])
        else:
            assert op.macs == 0 and op.bytes_w == 0
        expected_ws = ws if op.kind in (OpKind.CONV, OpKind.DWCONV, OpKind.LINEAR) else 0.0
        assert op.w_sparsity == expected_ws
    assert g.params == sum(op.bytes_w for op in g.ops) / 4 == g.n_params


def test_activation_sparsity_after_relu_and_gelu():
    cfg = SyntheticConfig(relu_prob=1.0, act_sparsity=(0.4, 0.6))
    after_relu = after_gelu = 0
    for seed in SEEDS:
        g = generate(seed, cfg, n_blocks=10)
        for op in g.ops:
            if len(op.deps) != 1 or g.ops[op.deps[0]].kind is not OpKind.ACT:
                continue
            if "gelu" in g.ops[op.deps[0]].name:
                assert op.act_sparsity == 0.0
                after_gelu += 1
            else:
                assert 0.4 <= op.act_sparsity <= 0.6, op.name
                after_relu += 1
    assert after_relu > 20 and after_gelu > 5
    smooth = generate(0, SyntheticConfig(relu_prob=0.0, kinds=("chain", "residual")), n_blocks=10)
    assert max(op.act_sparsity for op in smooth.ops) == 0.0


def test_weight_sparsity_one_level_per_graph():
    g = generate(1, sparsity=0.5)
    weighted = [op for op in g.ops if op.kind in (OpKind.CONV, OpKind.DWCONV, OpKind.LINEAR)]
    assert {op.w_sparsity for op in weighted} == {0.5}
    levels = set()
    for seed in SEEDS:
        g = generate(seed, sparsity=(0.3, 0.7))
        values = {op.w_sparsity for op in g.ops if op.bytes_w and op.kind is not OpKind.NORM}
        assert len(values) == 1 and 0.3 <= values.pop() <= 0.7
        levels.add(g.meta["w_sparsity"])
    assert len(levels) == len(SEEDS)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 9, 17, 30, 64, 200])
def test_target_ops_exact(n):
    for seed in range(6):
        g = generate(seed, target_ops=n)
        assert len(g) == n
    assert len(generate(0, target_ops=n, kinds=("attention",))) == n


def test_n_blocks_counts_blocks():
    for n in (0, 1, 5, 20):
        g = generate(3, n_blocks=n)
        assert len(g.meta["blocks"]) == n + 1 and "filler" not in g.meta["blocks"]


@pytest.mark.parametrize("scale", [0.25, 1.0, 2.0])
def test_size_bounds_honoured(scale):
    cfg = SyntheticConfig(size_scale=scale)
    (c_lo, c_hi), (e_lo, e_hi) = cfg.channel_range, cfg.embed_range
    (r_lo, r_hi), (t_lo, t_hi) = cfg.resolution, cfg.tokens
    seen_tokens = seen_spatial = 0
    for seed in SEEDS:
        g = generate(seed, cfg, n_blocks=15)
        for op in g.ops:
            if len(op.out_shape) == 4:  # (1, C, H, W)
                _, c, h, w = op.out_shape
                assert r_lo <= h <= r_hi and r_lo <= w <= r_hi, op.name
                assert 1 <= c <= max(c_hi, e_hi), op.name
                if op.kind is OpKind.CONV and "_br" not in op.name and "patch" not in op.name:
                    assert c_lo <= c <= c_hi, op.name
                if "patch" in op.name:
                    assert e_lo <= c <= e_hi
                seen_spatial += 1
            else:  # (1, N, D)
                _, n, d = op.out_shape
                assert t_lo <= n <= t_hi, op.name
                assert e_lo <= d <= max(3, cfg.mlp_ratio[1]) * e_hi, op.name
                seen_tokens += 1
    assert seen_spatial and seen_tokens


def test_size_scale_scales_widths():
    def widest(scale: float) -> int:
        return max(max(op.out_shape[1:]) for s in SEEDS
                   for op in generate(s, n_blocks=8, kinds=("chain", "residual"), size_scale=scale).ops)
    assert widest(0.25) <= 64 < widest(1.0)


def test_bad_knobs_raise_graph_errors_naming_the_field():
    cases = [
        (dict(kinds=("chain", "loop")), "kinds"),
        (dict(kinds=()), "kinds"),
        (dict(sparsity=1.5), "w_sparsity"),
        (dict(size_scale=0.0), "size_scale"),
        (dict(size_scale=0.001), "size_scale"),
        (dict(target_ops=0), "target_ops"),
        (dict(n_blocks=-1), "n_blocks"),
    ]
    for kwargs, field in cases:
        with pytest.raises(GraphError, match=field):
            generate(0, **kwargs)
    for cfg_kwargs, field in [
        (dict(channels=(64, 32)), "channels"),
        (dict(resolution=(0, 8)), "resolution"),
        (dict(tokens=(49, 100)), "tokens"),  # 56x56 maps cannot be patched into <= 100 tokens of side >= 7
        (dict(mix=(("chain", 0.0),), kinds=("chain",)), "mix"),
        (dict(relu_prob=2.0), "relu_prob"),
    ]:
        with pytest.raises(GraphError, match=field):
            SyntheticConfig(**cfg_kwargs)
    for seed in (-1, 1.5, True, "3"):
        with pytest.raises(GraphError, match="seed"):
            generate(seed)  # type: ignore[arg-type]


def test_token_bounds_ignored_without_attention():
    g = generate(0, SyntheticConfig(kinds=("chain",), tokens=(1, 2)), n_blocks=3)
    assert len(g) == 12


def test_meta_records_config_and_round_trips():
    g = generate(4, target_ops=40, size_scale=0.5)
    assert g.meta["generator"] == "sparoa_sim.ir.synthetic"
    assert g.meta["config"]["target_ops"] == 40 and g.meta["config"]["size_scale"] == 0.5
    assert SyntheticConfig(**{k: v for k, v in g.meta["config"].items()}) == SyntheticConfig(
        target_ops=40, size_scale=0.5
    )
    assert graph_from_dict(json.loads(g.to_json())) == g


def test_import_sparoa_sim_does_not_import_hypothesis():
    code = "import sys, sparoa_sim, sparoa_sim.ir.synthetic; assert 'hypothesis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
