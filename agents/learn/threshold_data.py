"""Training data for the threshold predictor: hardware contexts, regret surfaces, features.

A *sample* is one (workload, hardware context): the latency of the threshold rule at every cell
of the fixed grid (:func:`sparoa_sim.sim.thresholds.default_grid`), simulated in the twin with the
context's power mode and a constant background load (noise off, so the surface is exact and
deterministic), each distinct placement once. Regret of a cell = its latency / the best cell's − 1.
Features are numpy only: per-operator rows (the sequence the Transformer-LSTM reads) and a
hardware-context vector; the pooled summary for the simpler model is derived from them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.errors import SimulationError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.hwmodels import Platform, list_platforms, load_platform
from sparoa_sim.hwmodels.held_out import family_of
from sparoa_sim.hwmodels.kinds import KINDS
from sparoa_sim.sim.hwstate import BackgroundLoad
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.config import SimConfig
from sparoa_sim.sim.thresholds import ThresholdGrid, default_grid, rule_placements

__all__ = [
    "FEATURE_VERSION",
    "HELD_OUT",
    "HELD_OUT_FAMILIES",
    "HardwareContext",
    "Sample",
    "context_vector",
    "default_split",
    "held_out_workloads",
    "op_features",
    "pooled_features",
    "sample_contexts",
    "surface",
]

FEATURE_VERSION = 1
N_OP_FEATURES = 9 + len(KINDS)
N_CTX_FEATURES = 7
_LOADS = ("none", "cpu", "gpu", "both")


@dataclass(frozen=True)
class HardwareContext:
    """What the predictor is told of the hardware: platform, power mode, background load, batch."""

    platform: str
    mode: str
    load: float = 0.0
    load_on: str = "none"
    batch: int = 1

    def __post_init__(self) -> None:
        if self.load_on not in _LOADS:
            raise SimulationError(f"context: load_on must be one of {', '.join(_LOADS)}, got {self.load_on!r}")
        if not (math.isfinite(self.load) and 0.0 <= self.load < 1.0):
            raise SimulationError(f"context: load must be a share in [0, 1), got {self.load!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise SimulationError(f"context: batch must be a positive integer, got {self.batch!r}")

    @property
    def loads(self) -> tuple[float, float]:
        """Background share of (CPU, GPU)."""
        on = self.load_on
        return (self.load if on in ("cpu", "both") else 0.0, self.load if on in ("gpu", "both") else 0.0)

    def config(self) -> SimConfig:
        """The simulation setting: this mode and a constant load; noise off (deterministic)."""
        bg = None
        if self.load_on != "none" and self.load > 0:
            devs = ("cpu", "gpu") if self.load_on == "both" else (self.load_on,)
            bg = BackgroundLoad(levels=(self.load,), initial=0, devices=devs, mean_hold_s=1e9)
        return SimConfig(mode=self.mode, noise=False, background=bg, record_trace=False)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_contexts(n: int, rng: np.random.Generator, platforms: Sequence[str] | None = None) -> list[HardwareContext]:
    """``n`` random contexts: a platform, one of its power modes, and a background load."""
    names = list(platforms) if platforms else [p for p in list_platforms() if p.startswith("jetson")]
    out = []
    for _ in range(n):
        p = load_platform(names[int(rng.integers(len(names)))])
        mode = p.mode_names[int(rng.integers(len(p.mode_names)))]
        on = _LOADS[int(rng.integers(len(_LOADS)))]
        load = 0.0 if on == "none" else float(rng.choice([0.25, 0.5, 0.75]))
        out.append(HardwareContext(p.name, mode, load, on))
    return out


@dataclass(frozen=True)
class Sample:
    """One regret surface: latency per grid cell of one workload in one context."""

    workload: str
    context: HardwareContext
    latency: np.ndarray  # (cells,) seconds

    @property
    def regret(self) -> np.ndarray:
        """Relative regret per cell (0 at the best cell)."""
        return self.latency / self.latency.min() - 1.0


def surface(graph: OpGraph, ctx: HardwareContext, grid: ThresholdGrid | None = None,
            cache: PredictionCache | None = None, platform: Platform | None = None) -> Sample:
    """Simulate the threshold rule at every grid cell (each distinct placement once)."""
    grid = default_grid() if grid is None else grid
    plat = load_platform(ctx.platform) if platform is None else platform
    places = rule_placements(graph, grid)
    uniq, inverse = np.unique(places, axis=0, return_inverse=True)
    sim = Simulator(graph, plat, StaticSchedule(uniq[0].tolist()), config=ctx.config(),
                    cache=cache or PredictionCache(),
                    batching=None if ctx.batch == 1 else _batching(ctx.batch))
    lat = np.empty(len(uniq))
    for k, row in enumerate(uniq):
        sim.policy = StaticSchedule(row.tolist())
        lat[k] = sim.run().latency_mean_s
    return Sample(graph.name, ctx, lat[np.asarray(inverse).reshape(-1)])


def _batching(batch: int):
    from sparoa_sim.sim.arrivals import Batching

    return Batching(max_batch=batch)


def op_features(graph: OpGraph, ctx: HardwareContext, cache: PredictionCache,
                platform: Platform | None = None) -> np.ndarray:
    """(ops, N_OP_FEATURES) float32: sizes, sparsities, kind one-hot, predicted latency per device."""
    plat = load_platform(ctx.platform) if platform is None else platform
    t = cache.tables(graph, plat, ctx.batch, plat.mode(ctx.mode).name, "fp32")
    a = graph.arrays
    lc, lg = ctx.loads
    t_cpu = np.asarray(t.at_load(0, lc) if lc else t.lat[0])
    t_gpu = np.asarray(t.at_load(1, lg) if lg else t.lat[1])
    cols = [
        np.log10(a.flops + 1.0) / 10.0,
        np.log10(a.bytes_in + a.bytes_out + a.bytes_w + 1.0) / 10.0,
        np.log10(a.intensity + 1e-3) / 4.0,
        a.act_sparsity,
        a.w_sparsity,
        a.splittable.astype(np.float64),
        np.log10(t_cpu / t_gpu),
        np.log10(t_cpu) / 6.0 + 1.0,
        np.log10(t_gpu) / 6.0 + 1.0,
    ]
    onehot = np.zeros((len(graph.ops), len(KINDS)))
    onehot[np.arange(len(graph.ops)), a.kind.astype(np.int64)] = 1.0
    return np.concatenate([np.stack(cols, axis=1), onehot], axis=1).astype(np.float32)


def context_vector(ctx: HardwareContext, platform: Platform | None = None) -> np.ndarray:
    """(N_CTX_FEATURES,) float32: log peaks and bandwidth, loads, batch, dispatch cost."""
    plat = load_platform(ctx.platform) if platform is None else platform
    m = plat.mode(ctx.mode)
    lc, lg = ctx.loads
    return np.array([
        math.log10(plat.peak_flops("cpu", m, "fp32")) - 11.0,
        math.log10(plat.peak_flops("gpu", m, "fp32")) - 12.0,
        math.log10(m.emc_bw) - 11.0,
        lc, lg,
        math.log2(ctx.batch) / 5.0,
        math.log10(max(plat.copy_bw(m), 1.0)) - 10.0,
    ], dtype=np.float32)


def pooled_features(ops: np.ndarray) -> np.ndarray:
    """Order-free summary of an operator-feature matrix: mean, quantiles, cost-weighted mean."""
    w = 10.0 ** ((ops[:, 7] - 1.0) * 6.0) + 10.0 ** ((ops[:, 8] - 1.0) * 6.0)
    w = w / w.sum()
    q = np.quantile(ops[:, :9], [0.1, 0.5, 0.9], axis=0).ravel()
    return np.concatenate([ops.mean(axis=0), (ops * w[:, None]).sum(axis=0), q]).astype(np.float32)


def build_samples(graphs: Iterable[OpGraph], contexts_per_graph: int, rng: np.random.Generator,
                  platforms: Sequence[str] | None = None, progress=None) -> list[tuple[OpGraph, Sample]]:
    """Regret surfaces of every graph in ``contexts_per_graph`` random contexts."""
    cache = PredictionCache()
    plats: dict[str, Platform] = {}
    out = []
    for g in graphs:
        for ctx in sample_contexts(contexts_per_graph, rng, platforms):
            p = plats.setdefault(ctx.platform, load_platform(ctx.platform))
            out.append((g, surface(g, ctx, cache=cache, platform=p)))
            if progress is not None:
                progress(1)
    return out


#: Families of shipped workloads held out of the predictor's training set (docs/architecture.md §6:
#: report on unseen workloads). A family is an architecture and all its pruned variants
#: (``hwmodels.held_out``): a pruned variant has its base model's operators, so holding out one
#: variant while its siblings train would score an in-sample figure (issue 24).
HELD_OUT_FAMILIES = ("mobilenetv2", "swin_t", "vit_b_16")
#: The shipped workloads of :data:`HELD_OUT_FAMILIES`: every one is held out, none trains.
HELD_OUT = ("mobilenetv2", "swin_t", "vit_b_16", "vit_b_16_pruned50", "vit_b_16_pruned80")


def held_out_workloads(held_out: Sequence[str] = HELD_OUT, shipped: Sequence[str] | None = None) -> tuple[str, ...]:
    """Every shipped workload whose family is that of a name in ``held_out`` (a name given that
    is not shipped is refused: a typo would otherwise hold nothing out)."""
    from sparoa_sim.workloads import list_workloads

    names = list(list_workloads() if shipped is None else shipped)
    unknown = [h for h in held_out if h not in names]
    if unknown:
        raise SimulationError(f"default_split: held_out names unknown workload(s) {unknown} "
                              f"(shipped: {', '.join(names)})")
    fams = {family_of(h) for h in held_out}
    return tuple(w for w in names if family_of(w) in fams)


def synthetic_graphs(seeds: Iterable[int]) -> list[OpGraph]:
    """Synthetic graphs of varied size (20–99 ops, width scale 1/8…1, pruning 0–0.9)."""
    from sparoa_sim.ir.synthetic import generate

    return [generate(s, target_ops=20 + (s * 7) % 80, size_scale=(0.125, 0.25, 0.5, 1.0)[s % 4], sparsity=(0.0, 0.9))
            for s in seeds]


def default_split(n_synthetic: int = 40, held_out: Sequence[str] = HELD_OUT) -> tuple[list[OpGraph], list[OpGraph]]:
    """(train, test) graphs: shipped workloads outside the families of ``held_out`` + synthetic seeds
    0…n−1, and every shipped workload of those families + synthetic seeds 1000… (disjoint seeds,
    so no shared graph; no family on both sides)."""
    from sparoa_sim.workloads import list_workloads, load_workload

    test_w = held_out_workloads(held_out)
    train = [load_workload(w) for w in list_workloads() if w not in test_w] + synthetic_graphs(range(n_synthetic))
    test = [load_workload(w) for w in test_w] + synthetic_graphs(range(1000, 1000 + max(4, n_synthetic // 3)))
    return train, test
