"""Shared fixtures of the agent tests: platforms and small graphs (≤ 30 operators), loaded once."""

from __future__ import annotations

import pytest

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.ir.synthetic import generate

NANO = "jetson-orin-nano-8gb"
AGX = "jetson-agx-orin-64gb"


@pytest.fixture(scope="session")
def nano():
    return load_platform(NANO)


@pytest.fixture(scope="session")
def agx():
    return load_platform(AGX)


@pytest.fixture(scope="session")
def small_graphs():
    """Synthetic DAGs of 25 operators with residual, branch and attention blocks."""
    return [generate(s, target_ops=25) for s in range(3)]


@pytest.fixture(scope="session")
def chains():
    """Synthetic chains of 20 operators."""
    return [generate(s, target_ops=20, kinds=("chain",)) for s in range(3)]


def fork_join():
    """src → (a heavy conv branch of 3, a light sparse branch of 3) → join: both devices can help."""
    from sparoa_sim.ir.graph import Op, OpGraph
    from sparoa_sim.hwmodels.kinds import OpKind

    heavy = dict(kind=OpKind.CONV, macs=3e8, flops=6e8, bytes_in=2e5, bytes_out=2e5, bytes_w=5e5,
                 out_shape=(1, 64, 28, 28), split_axis="channel")
    light = dict(kind=OpKind.CONV, macs=2e7, flops=4e7, bytes_in=2e5, bytes_out=2e5, bytes_w=1e5,
                 act_sparsity=0.6, w_sparsity=0.8, out_shape=(1, 64, 28, 28), split_axis="channel")
    spec = [("src", heavy, ()), ("h1", heavy, (0,)), ("h2", heavy, (1,)), ("h3", heavy, (2,)),
            ("l1", light, (0,)), ("l2", light, (4,)), ("l3", light, (5,)), ("join", light, (3, 6))]
    return OpGraph(name="fork_join", ops=tuple(Op(name=nm, deps=d, **kw) for nm, kw, d in spec))


@pytest.fixture(scope="session")
def forkjoin():
    return fork_join()
