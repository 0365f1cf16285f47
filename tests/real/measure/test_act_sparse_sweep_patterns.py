"""The act-sparse sweep's ``patterns``: distinct activations per call (cache-cold rows), the default unchanged."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sparoa_sim.errors import CalibrationError  # noqa: E402
from sparoa_sim.real.measure import act_sparse_sweep as sweep_mod  # noqa: E402
from sparoa_sim.real.measure.act_sparse_sweep import act_sparse_sweep, sparse_activation  # noqa: E402

DEV = torch.device("cpu")


@pytest.mark.parametrize("kind, shape", [("linear", (1, 3, 16, 8)), ("matmul", (2, 3, 16, 8)), ("conv1x1", (1, 9, 16, 8))])
def test_calls_rotate_through_distinct_inputs_of_one_sparsity(kind, shape):
    dense, sparse, first = sweep_mod._pair(kind, *shape, 0.75, torch.Generator().manual_seed(0), DEV, patterns=3)
    outs = [sparse() for _ in range(6)]
    refs = [dense() for _ in range(6)]
    for a, b in zip(outs, refs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)  # the same input each time, for both kernels
    assert not torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[3])  # three inputs, in turn
    assert int((first == 0).sum()) == round(0.75 * first.numel())


def test_one_pattern_draws_what_the_sweep_always_drew():
    gen = torch.Generator().manual_seed(5)
    _, _, x = sweep_mod._pair("linear", 1, 2, 16, 8, 0.5, gen, DEV)
    assert torch.equal(x, sparse_activation((2, 16), 0.5, torch.Generator().manual_seed(5)))


def test_sweep_with_patterns_and_bad_patterns():
    pts = act_sparse_sweep(shapes=[("linear", 1, 2, 32, 16)], sparsities=(0.0, 0.9), reps=2, min_reps=2, warmup=1,
                           target_s=0.002, rounds=2, patterns=4)
    assert [p.act_sparsity for p in pts] == [0.0, pytest.approx(0.9, abs=0.01)]
    assert all(p.speedup > 0 and p.sparse_s > 0 for p in pts)
    for bad in (0, True, 1.5):
        with pytest.raises(CalibrationError, match="patterns must be a positive integer"):
            act_sparse_sweep(shapes=[("linear", 1, 2, 32, 16)], sparsities=(0.0,), patterns=bad)
