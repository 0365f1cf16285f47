"""The threshold predictor: operator sequence + hardware context → the rule's two thresholds.

Latency is piecewise constant in the thresholds, so the best pairs form plateaus and regressing
on one arbitrary optimum is ill-posed. The predictor therefore *classifies among the cells* of
the fixed grid (:func:`sparoa_sim.sim.thresholds.default_grid`) and is trained on the whole regret
surface: cross-entropy to the soft target ``softmax(−regret/T)``, which puts its mass on every
near-optimal cell. Two models are compared and the better on validation kept:

- ``transformer_lstm`` — the paper's: a Transformer encoder over the operator sequence, an LSTM
  over its output, the last state joined with the context vector, then logits per cell;
- ``mlp`` — a simpler baseline on the pooled (order-free) summary of the same features.

Weights are saved as a ``state_dict`` with a metadata JSON and loaded with ``weights_only=True``.
:class:`PredictedThresholdPolicy` (registered as ``predicted-threshold``) runs a trained predictor
at ``reset`` and then behaves as the threshold rule.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sparoa_sim.agents.learn.artifacts import read_metadata
from sparoa_sim.agents.learn.threshold_data import (
    FEATURE_VERSION,
    N_CTX_FEATURES,
    N_OP_FEATURES,
    HardwareContext,
    Sample,
    context_vector,
    op_features,
    pooled_features,
)
from sparoa_sim.errors import PolicyError, SparOAError
from sparoa_sim.ir.graph import OpGraph
from sparoa_sim.hwmodels.fileio import atomic_write_text
from sparoa_sim.sim.predtables import PredictionCache
from sparoa_sim.sim.thresholds import ThresholdGrid, default_grid

__all__ = [
    "MODELS",
    "PredictedThresholdPolicy",
    "PredictorReport",
    "ThresholdPredictor",
    "best_constant_cell",
    "load_predictor",
    "train_predictor",
]

MODELS = ("transformer_lstm", "mlp")
_POOLED = 2 * N_OP_FEATURES + 27


class _TransformerLSTM(nn.Module):
    def __init__(self, n_cells: int, d: int = 48) -> None:
        super().__init__()
        self.embed = nn.Linear(N_OP_FEATURES, d)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=2 * d, dropout=0.0, batch_first=True),
            num_layers=1, enable_nested_tensor=False)
        self.lstm = nn.LSTM(d, d, batch_first=True)
        self.head = nn.Sequential(nn.Linear(d + N_CTX_FEATURES, 128), nn.ReLU(), nn.Linear(128, n_cells))

    def forward(self, seq: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(seq), src_key_padding_mask=mask)
        packed = nn.utils.rnn.pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hn, _) = self.lstm(packed)
        return self.head(torch.cat([hn[-1], ctx], dim=1))


class _MLP(nn.Module):
    def __init__(self, n_cells: int, d: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(_POOLED + N_CTX_FEATURES, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(),
                                 nn.Linear(d, n_cells))

    def forward(self, pooled: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([pooled, ctx], dim=1))


def _make(model: str, n_cells: int) -> nn.Module:
    if model == "transformer_lstm":
        return _TransformerLSTM(n_cells)
    if model == "mlp":
        return _MLP(n_cells)
    raise PolicyError(f"predictor: unknown model {model!r} (known: {', '.join(MODELS)})")


@dataclass
class _Batch:
    seq: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    pooled: torch.Tensor
    ctx: torch.Tensor


def _subset(b: _Batch, idx: np.ndarray) -> _Batch:
    """Rows ``idx`` of a featurised batch."""
    t = torch.as_tensor(idx, dtype=torch.long)
    return _Batch(seq=b.seq[t], mask=b.mask[t], lengths=b.lengths[t], pooled=b.pooled[t], ctx=b.ctx[t])


def _featurise(items: Sequence[tuple[OpGraph, HardwareContext]], cache: PredictionCache) -> _Batch:
    seqs = [op_features(g, c, cache) for g, c in items]
    n = max(len(s) for s in seqs)
    seq = np.zeros((len(seqs), n, N_OP_FEATURES), dtype=np.float32)
    mask = np.ones((len(seqs), n), dtype=bool)
    for k, s in enumerate(seqs):
        seq[k, :len(s)] = s
        mask[k, :len(s)] = False
    return _Batch(torch.from_numpy(seq), torch.from_numpy(mask), torch.tensor([len(s) for s in seqs]),
                  torch.from_numpy(np.stack([pooled_features(s) for s in seqs])),
                  torch.from_numpy(np.stack([context_vector(c) for _, c in items])))


def _forward(net: nn.Module, model: str, b: _Batch, idx: torch.Tensor | slice = slice(None)) -> torch.Tensor:
    if model == "mlp":
        return net(b.pooled[idx], b.ctx[idx])
    return net(b.seq[idx], b.mask[idx], b.lengths[idx], b.ctx[idx])


@dataclass(frozen=True)
class ThresholdPredictor:
    """A trained predictor: the network, its kind and the grid it classifies over."""

    model: str
    net: nn.Module
    grid: ThresholdGrid
    meta: dict[str, Any] = field(default_factory=dict)

    def predict_cells(self, items: Sequence[tuple[OpGraph, HardwareContext]],
                      cache: PredictionCache | None = None) -> np.ndarray:
        """Best grid cell per (graph, context)."""
        b = _featurise(items, cache or PredictionCache())
        self.net.eval()
        with torch.no_grad():
            return _forward(self.net, self.model, b).argmax(dim=1).numpy()

    def predict(self, graph: OpGraph, ctx: HardwareContext, cache: PredictionCache | None = None) -> tuple[float, float]:
        """(τ_s, τ_I) for one workload in one context."""
        return self.grid.pair(int(self.predict_cells([(graph, ctx)], cache)[0]))

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        """``DIR/predictor.pt`` (state dict) and ``DIR/metadata.json``, each written atomically."""
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / ".predictor.pt.tmp"
        torch.save(self.net.state_dict(), tmp)
        os.replace(tmp, d / "predictor.pt")
        meta = dict(self.meta, kind="sparoa-threshold-predictor", model=self.model, feature_version=FEATURE_VERSION,
                    grid={"tau_s": list(self.grid.tau_s), "tau_i": list(self.grid.tau_i)})
        atomic_write_text(d / "metadata.json", json.dumps(meta, indent=2, allow_nan=False))
        return d


def load_predictor(path: str | os.PathLike[str]) -> ThresholdPredictor:
    """Load ``DIR`` written by :meth:`ThresholdPredictor.save` (``weights_only=True``)."""
    d = Path(path)
    meta = read_metadata(d, "sparoa-threshold-predictor", "feature_version", FEATURE_VERSION)
    try:
        grid = ThresholdGrid(tuple(meta["grid"]["tau_s"]), tuple(meta["grid"]["tau_i"]))
        net = _make(meta["model"], grid.size)
        net.load_state_dict(torch.load(d / "predictor.pt", weights_only=True))
    except (KeyError, TypeError, RuntimeError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise PolicyError(f"{d / 'predictor.pt'}: corrupt or mismatched predictor weights: {exc}") from None
    return ThresholdPredictor(meta["model"], net, grid, meta)


def best_constant_cell(samples: Sequence[Sample]) -> int:
    """The single grid cell with the lowest mean regret over ``samples``."""
    return int(np.mean([s.regret for s in samples], axis=0).argmin())


@dataclass(frozen=True)
class PredictorReport:
    """Held-out quality: mean/max regret of the predictor and of the best constant cell."""

    model: str
    n_train: int
    n_test: int
    regret_mean: float
    regret_max: float
    constant_regret_mean: float
    constant_cell: int
    skill: float  # 1 − predictor regret / constant regret (1 = perfect, 0 = no better)
    per_model: dict[str, float]  # held-out (test) regret of every model trained
    train_s: float
    per_model_validation: dict[str, float] = field(default_factory=dict)  # what the choice was made on
    selected_on: str = "validation"  # "validation" (a fifth of train), or "test" where none could be kept
    # in-sample figures of the kept model, on the training surfaces it was fitted on (issue 24: beside
    # the held-out ones, labelled); None in a report made before they were recorded
    train_regret_mean: float | None = None
    train_regret_max: float | None = None
    constant_train_regret_mean: float | None = None
    n_fit: int | None = None  # training surfaces the kept model was fitted on (train less the validation fifth)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _fit(model: str, b: _Batch, targets: torch.Tensor, regrets: torch.Tensor, epochs: int, seed: int,
         temperature: float, on_epoch: Callable[[], None] | None) -> nn.Module:
    torch.manual_seed(seed)  # inside the caller's fork_rng: the global generator is left as it was
    net = _make(model, targets.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    n = targets.shape[0]
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(n, generator=gen).split(32):
            logits = _forward(net, model, b, idx)
            logp = torch.log_softmax(logits, dim=1)
            # soft cross-entropy to the plateau of near-optimal cells + expected regret
            loss = -(targets[idx] * logp).sum(1).mean() + (logp.exp() * regrets[idx]).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if on_epoch is not None:
            on_epoch()
    return net


def train_predictor(train: Sequence[tuple[OpGraph, Sample]], test: Sequence[tuple[OpGraph, Sample]],
                    models: Sequence[str] = MODELS, epochs: int = 60, seed: int = 0, temperature: float = 0.02,
                    grid: ThresholdGrid | None = None,
                    progress: Callable[[], None] | None = None) -> tuple[ThresholdPredictor, PredictorReport]:
    """Train each model on four fifths of ``train``'s regret surfaces and keep the one with the
    lower regret on the other fifth; ``test`` is only reported on, so the reported regret is not
    the one the choice was made on (with one model, or fewer than five samples, all of ``train``
    is used and nothing is chosen)."""
    if not train or not test:
        raise SparOAError("predictor: need at least one training and one held-out sample")
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not (
            math.isfinite(temperature) and temperature > 0):
        raise SparOAError(f"predictor: temperature must be a positive number, got {temperature!r}")
    with torch.random.fork_rng(devices=[]):
        return _train(train, test, models, epochs, seed, temperature, grid, progress)


def _train(train, test, models, epochs, seed, temperature, grid, progress):
    grid = default_grid() if grid is None else grid
    cache = PredictionCache()
    t0 = time.perf_counter()
    btr = _featurise([(g, s.context) for g, s in train], cache)
    bte = _featurise([(g, s.context) for g, s in test], cache)
    reg_tr = torch.tensor(np.stack([s.regret for _, s in train]), dtype=torch.float32)
    reg_te = np.stack([s.regret for _, s in test])
    targets = torch.softmax(-reg_tr / temperature, dim=1)

    def test_regret(net: nn.Module, model: str) -> tuple[float, float]:
        net.eval()
        with torch.no_grad():
            cells = _forward(net, model, bte).argmax(dim=1).numpy()
        picked = reg_te[np.arange(len(test)), cells]
        return float(picked.mean()), float(picked.max())

    n = len(train)
    val = np.arange(n)[4::5] if n >= 5 else np.arange(0)  # every fifth training sample
    fit = np.setdiff1d(np.arange(n), val)
    results: dict[str, tuple[float, float, nn.Module]] = {}
    chosen_on: dict[str, float] = {}
    split = len(models) > 1 and len(val) > 0  # one model, or too few samples: nothing to choose on
    fitted_on = fit if split else np.arange(n)
    for model in models:
        if split:
            net = _fit(model, _subset(btr, fit), targets[fit], reg_tr[fit], epochs, seed, temperature, progress)
            net.eval()
            with torch.no_grad():
                cells = _forward(net, model, _subset(btr, val)).argmax(dim=1).numpy()
            chosen_on[model] = float(reg_tr[val].numpy()[np.arange(len(val)), cells].mean())
        else:
            net = _fit(model, btr, targets, reg_tr, epochs, seed, temperature, progress)
        results[model] = (*test_regret(net, model), net)
    best = min(chosen_on, key=chosen_on.get) if chosen_on else min(results, key=lambda m: results[m][0])
    const = best_constant_cell([s for _, s in train])
    const_reg = float(reg_te[:, const].mean())
    mean, worst, net = results[best]
    net.eval()
    with torch.no_grad():
        cells_tr = _forward(net, best, _subset(btr, fitted_on)).argmax(dim=1).numpy()
    reg_fit = reg_tr[fitted_on].numpy()
    picked_tr = reg_fit[np.arange(len(fitted_on)), cells_tr]
    report = PredictorReport(
        model=best, n_train=len(train), n_test=len(test), regret_mean=mean, regret_max=worst,
        constant_regret_mean=const_reg, constant_cell=const,
        skill=1.0 - mean / const_reg if const_reg > 0 else 0.0,
        per_model={m: r[0] for m, r in results.items()}, train_s=time.perf_counter() - t0,
        per_model_validation=chosen_on, selected_on="validation" if chosen_on else "test",
        train_regret_mean=float(picked_tr.mean()), train_regret_max=float(picked_tr.max()),
        constant_train_regret_mean=float(reg_fit[:, const].mean()), n_fit=int(len(fitted_on)))
    return ThresholdPredictor(best, net, grid, {"report": report.to_dict()}), report


class PredictedThresholdPolicy:
    """The threshold rule with thresholds from a trained predictor, chosen at ``reset``.

    ``load``/``load_on`` tell the predictor the background load it should assume (the engine's
    live load is not known before the run).
    """

    name = "predicted-threshold"

    def __init__(self, path: str | os.PathLike[str] | None = None, predictor: ThresholdPredictor | None = None,
                 load: float = 0.0, load_on: str = "none") -> None:
        if predictor is None:
            if path is None:
                raise PolicyError("predicted-threshold: give path= (a trained predictor directory) or predictor=")
            predictor = load_predictor(path)
        self.predictor = predictor
        self.load, self.load_on = float(load), load_on
        self.thresholds: tuple[float, float] | None = None
        self._rule = None

    def reset(self, ctx) -> None:
        from sparoa_sim.sim.policies import ThresholdPolicy

        hc = HardwareContext(ctx.platform.name, ctx.mode, self.load, self.load_on, int(ctx.max_batch))
        self.thresholds = self.predictor.predict(ctx.graph, hc)
        self._rule = ThresholdPolicy(*self.thresholds)
        self._rule.reset(ctx)

    def decide(self, view) -> int:
        if self._rule is None:
            raise PolicyError("predicted-threshold: decide() before reset()")
        return self._rule.decide(view)

    def __repr__(self) -> str:
        return f"PredictedThresholdPolicy(model={self.predictor.model!r}, thresholds={self.thresholds})"


def train_default(n_synthetic: int = 40, contexts: int = 8, epochs: int = 60, models: Sequence[str] = MODELS,
                  seed: int = 0, show_progress: bool = True) -> tuple[ThresholdPredictor, PredictorReport]:
    """Regret surfaces of the default split (:func:`~sparoa_sim.agents.learn.threshold_data.default_split`:
    shipped + synthetic graphs, held-out workloads apart) in ``contexts`` random hardware contexts
    each, then :func:`train_predictor`; progress bars on stderr. What ``sparoa train predictor``,
    the demo and ``benchmarks/predictor.py`` run."""
    import sys

    from tqdm import tqdm

    from sparoa_sim.agents.learn.threshold_data import build_samples, default_split

    tr_g, te_g = default_split(n_synthetic)
    rng = np.random.default_rng(seed)
    bar = dict(file=sys.stderr, disable=not show_progress)
    with tqdm(total=(len(tr_g) + len(te_g)) * contexts, desc="regret surfaces", unit="surface", **bar) as b:
        train = build_samples(tr_g, contexts, rng, progress=b.update)
        test = build_samples(te_g, contexts, rng, progress=b.update)
    with tqdm(total=epochs * len(models), desc="training " + "+".join(models), unit="epoch", **bar) as b:
        return train_predictor(train, test, models=models, epochs=epochs, seed=seed, progress=lambda: b.update(1))
