"""Fit the GPU's per-kind host dispatch factors and batch-1 efficiencies to published AGX Orin per-node times.

Source: branes-ai/graphs@b6c5e829c33a1e62c1d4c98dfcb16c034bec8994, ``calibration_data/jetson_orin_{maxn,
50w,30w,15w}/measurements/{fp32,fp16}/*_b1.json`` (campaign "a") and ``calibration_data/jetson_orin_agx_
{maxn,50w,30w,15w}/measurements/…`` (campaign "agx"): AGX Orin 64GB, JetPack 5.1 / PyTorch 2.1 nv23.06,
eager, batch 1. Their ``cli/measure_efficiency.py`` runs each torch.fx node alone inside a
``torch.fx.Interpreter`` between two CUDA events (``start.record(); run_node; end.record();
end.synchronize()``) and reports the mean of 50 runs per fused subgraph (the sum of its nodes' times).
The GPU timeline between the events covers the interpreter's visit, the operator's host dispatch and
its kernels (docs/research/jetson_parameters.md (a)). The shipped workloads carry the same node names
(torchvision traced by torch.fx), so every subgraph maps onto twin operators; a ViT
``self_attention`` node (one ``nn.MultiheadAttention`` call) maps onto the twin's in_proj, attention
and out_proj operators. The compact extract of those files is ``benchmarks/data/branes_orin_subgraphs.json``
(``--branes GITDIR`` rebuilds it from a snapshot of that repository).

Model of one subgraph's time (ms), s = 1 / (CPU clock cap of the mode in GHz)::

    T = Σ_nodes φ·s                                  # the method's per-node floor (FX visit + events)
      + Σ_ops  [ h_kind·s                            # host dispatch + device launch of the operator
                 + max(tc1 / (η_kind · π), t_memory) ]  # the twin's roofline (GPU, t_compute at η = π = 1)

with π the twin's wave efficiency ``x / ceil(x)``, ``x = units / (TPCs(mode) · lanes)``. φ is the
median time × CPU clock of the nodes that launch nothing (``getattr``, ``getitem``, ``_assert``, …)
in the fitted modes. h (ms·GHz) per kind, η of conv, dwconv and attention (linear keeps its assumed η, see PRIOR_ETA) and
the GPU ``lanes`` are fitted by robust least squares on log T over the subgraphs of the TRAIN models
in the FIT modes (weak priors keep kinds the data barely sees near the add's cost and the profile's
η); the other models are held out. Everything is per device kind and mode only through the CPU clock
(host) and the mode's TPCs and GPU clock (device) — nothing per model.

Profile values: ``dispatch_factor[kind] = (h_kind − t_launch_gpu) / t_dispatch_gpu`` (both in ms·GHz
from the profile, so ``t_dispatch · factor + t_launch = h``), ``eta[kind]`` and ``lanes``.

Prints the per-kind table (fitted and, as a check, medians of isolated tiny nodes per mode), the
model totals in-sample and held out per mode, and writes JSON (default
``benchmarks/results/fit_published_overheads.json``).

    python benchmarks/fit_published_overheads.py [--train M,M,M] [--modes MAXN,30W] [--conv-size off|gemm|fit]
                                                 [--branes GITDIR] [-o PATH]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sparoa_sim.hwmodels.latency import CONV_SIZE_CENTER_FLOPS, CONV_SIZE_CLIP, conv_size_factor

ROOT = Path(__file__).resolve().parents[1]
EXTRACT = ROOT / "benchmarks" / "data" / "branes_orin_subgraphs.json"
RESULTS = ROOT / "benchmarks" / "results" / "fit_published_overheads.json"
PROFILE = "jetson-agx-orin-64gb"
COMMIT = "b6c5e829c33a1e62c1d4c98dfcb16c034bec8994"
REPO_URL = "https://github.com/branes-ai/graphs"
#: branes model name -> shipped workload
MODELS = {"resnet18": "resnet18", "resnet50": "resnet50", "mobilenet_v2": "mobilenetv2",
          "mobilenet_v3_small": "mobilenetv3_small", "vgg16": "vgg16", "vit_b_16": "vit_b_16"}
MODES = {"maxn": "MAXN", "50w": "50W", "30w": "30W", "15w": "15W"}
DEFAULT_TRAIN = ("resnet18", "mobilenet_v2", "vit_b_16")
DEFAULT_FIT_MODES = ("MAXN", "30W")
#: Kinds with a host cost h in the fit (the kinds the six workloads use) and with a fitted η.
HOST_KINDS = ("conv", "dwconv", "linear", "attention", "norm", "act", "pool", "add", "mul", "concat")
ETA_KINDS = ("conv", "dwconv", "attention")
#: Priors of the fitted η: the values the profile had before any fit (assumed, docs/jetson-profiles.md).
#: Linear keeps its assumed 0.65: fitted, it falls to ~0.43 (ViT's 0.2–0.9 GFLOP batch-1 GEMMs), which
#: would put a large GEMM far below the GPU rail measured under stress (tests/hwmodels energy check);
#: the data hold no large GEMM to tell the two apart.
PRIOR_ETA = {"conv": 0.6, "dwconv": 0.15, "attention": 0.45}
#: A kind's fitted h goes into the profile only if the TRAIN models have at least this many nodes of it.
MIN_NODES = 10
_PRIOR_H = 0.12  # ms·GHz: prior host cost (≈ a tiny add), weight _PRIOR_W
_PRIOR_W = 0.015
#: Conv size term (``--conv-size``): a convolution's *compute* time × exp(clip(β · (ln FLOPs − ln 1e8), ±ln 4))
#: (``hwmodels.latency.conv_size_factor``, the profile's ``gpu.latency.conv_size_beta``), i.e. its efficiency
#: η · (FLOPs / 1e8)^(−β). β < 0: a larger batch-1 convolution reaches a larger share of peak (its GEMM K-loop
#: amortises the per-tile prologue/epilogue and the kernel's ramp), which η × the wave term alone cannot express.
#: ``off`` fits without the term (the profiles before it), ``gemm`` holds β at the GEMM sweep's (below), ``fit``
#: fits it with the rest.
#: β's independent source: the same board's PyTorch GEMM sweep (branes-ai/graphs@b6c5e829
#: hardware_registry/boards/jetson_orin_agx/logs/jetson_orin_agx_gpu_{MAXN,50W,15W}.log, "BLAS Level 3: GEMM",
#: torch.matmul n×n×n timed with perf_counter + cuda.synchronize, PyTorch 2.1 nv23.06; the 30W log's GEMMs
#: failed). Best (minimum) ms of the log's runs per (mode, tensor-core precision, n). β = the log-log slope of
#: (time − the 128³ time, the call's floor) over n = 512, 1K, 2K, minus 1 (points with < 0.05 ms left are
#: dropped); the median over the six (mode, precision) estimates (−0.13 … −0.47) is the profile's β.
GEMM_SWEEP_MS: dict[tuple[str, str], dict[int, float]] = {
    ("MAXN", "tf32"): {128: 0.22, 512: 0.34, 1024: 1.64, 2048: 4.62},
    ("MAXN", "fp16"): {128: 0.22, 512: 0.20, 1024: 0.79, 2048: 3.67},
    ("50W", "tf32"): {128: 0.52, 512: 0.90, 1024: 1.94, 2048: 4.02},
    ("50W", "fp16"): {128: 0.69, 512: 0.29, 1024: 1.02, 2048: 2.42},
    ("15W", "tf32"): {128: 0.77, 512: 1.12, 1024: 3.28, 2048: 11.04},
    ("15W", "fp16"): {128: 0.76, 512: 0.95, 1024: 2.07, 2048: 6.50},
}
GEMM_SWEEP_SOURCE = (f"{REPO_URL}@{COMMIT} hardware_registry/boards/jetson_orin_agx/logs/jetson_orin_agx_gpu_"
                     "{MAXN,50W,15W}.log (BLAS Level 3 GEMM, torch.matmul n³, perf_counter + synchronize, "
                     "PyTorch 2.1 nv23.06, AGX Orin 64GB)")


def gemm_beta(sweep: dict[tuple[str, str], dict[int, float]] = GEMM_SWEEP_MS,
              min_ms: float = 0.05) -> tuple[float, dict[str, float]]:
    """(median β, β per "mode/precision") of a GEMM sweep: slope of log(t − t(128³)) on log(2n³), minus 1."""
    per: dict[str, float] = {}
    for (mode, prec), times in sweep.items():
        floor = times[128]
        pts = [(2.0 * n ** 3, t - floor) for n, t in times.items() if n >= 512 and t - floor >= min_ms]
        if len(pts) >= 2:
            x, y = np.log([a for a, _ in pts]), np.log([b for _, b in pts])
            per[f"{mode}/{prec}"] = float(np.polyfit(x, y, 1)[0] - 1.0)
    if not per:
        raise ValueError("GEMM sweep: no (mode, precision) with two usable sizes")
    return float(np.median(list(per.values()))), per


_FILE_RE = re.compile(r"calibration_data/jetson_orin_(agx_)?(maxn|50w|30w|15w)/measurements/(fp32|fp16)/(\w+)_b1\.json$")


# --- the extract ----------------------------------------------------------------------------------
def build_extract(gitdir: Path) -> dict[str, Any]:
    """Read the measurement files at COMMIT from a git snapshot of branes-ai/graphs (compact form)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(gitdir), *args], capture_output=True, text=True, check=True).stdout

    names: dict[str, list[list[str]]] = {}
    runs: dict[str, list[float]] = {}
    for path in sorted(git("ls-tree", "-r", "--name-only", COMMIT).splitlines()):
        m = _FILE_RE.search(path)
        if not m or m.group(4) not in MODELS:
            continue
        camp, mode, prec, model = "agx" if m.group(1) else "a", MODES[m.group(2)], m.group(3), m.group(4)
        doc = json.loads(git("show", f"{COMMIT}:{path}"))
        sgs = doc["subgraphs"]
        nn = [list(s["node_names"]) for s in sgs]
        if names.setdefault(model, nn) != nn:
            raise SystemExit(f"{path}: subgraph partition differs from the model's other files")
        runs[f"{camp}/{mode}/{prec}/{model}"] = [round(float(s["measured_latency"]["mean"]), 5) for s in sgs]
    return {"source": f"{REPO_URL}@{COMMIT} calibration_data/jetson_orin{{,_agx}}_{{maxn,50w,30w,15w}}/measurements/"
                      "{fp32,fp16}/<model>_b1.json: per fused subgraph, the mean (50 runs) of the summed per-node "
                      "CUDA-event times (ms); AGX Orin 64GB, JetPack 5.1, PyTorch 2.1.0a0 nv23.06, batch 1",
            "commit": COMMIT, "subgraph_nodes": names, "latency_ms": runs}


# --- the dataset ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Sub:
    """One measured subgraph mapped onto twin operators."""

    camp: str
    mode: str
    prec: str
    model: str
    t_ms: float
    s: float                     # 1 / CPU clock cap (GHz⁻¹)
    n_nodes: int                 # FX nodes timed (the floor is paid per node)
    ops: tuple[int, ...]         # twin operator indices
    no_kernel: bool              # a single node that launches nothing (floor sample)


def _map_nodes(graph: Any, nodes: list[str]) -> tuple[list[int], bool]:
    idx = {op.name: i for i, op in enumerate(graph.ops)}
    ops: list[int] = []
    for n in nodes:
        if n in idx:
            ops.append(idx[n])
        elif (m := re.fullmatch(r"encoder_layers_encoder_layer_(\d+)_self_attention", n)):
            layer = int(m.group(1))
            ops += [idx[n + "_in_proj"], idx["scaled_dot_product_attention" + (f"_{layer}" if layer else "")],
                    idx[n + "_out_proj"]]
        elif n == "adaptive_avg_pool2d" and "avgpool" in idx:
            ops.append(idx["avgpool"])
    no_kernel = len(nodes) == 1 and not ops and not any(t in nodes[0] for t in ("dropout", "flatten", "classifier"))
    return ops, no_kernel


def dataset(extract: dict[str, Any], platform: Any) -> tuple[list[Sub], dict[str, Any]]:
    """Subgraphs with their twin operators, and per (model, mode, prec) the twin's GPU terms at η = π = 1."""
    from sparoa_sim.hwmodels import predict
    from sparoa_sim.hwmodels.kinds import KINDS
    from sparoa_sim.workloads import as_graph

    lat = platform.gpu.latency
    flat = platform.with_latency("gpu", dataclasses.replace(lat, eta=(1.0,) * len(KINDS), lanes=1e-9, residual=None,
                                                                    conv_size_beta=0.0))
    graphs = {m: as_graph(w) for m, w in MODELS.items()}
    terms: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}
    subs: list[Sub] = []
    for key, lats in sorted(extract["latency_ms"].items()):
        camp, mode, prec, model = key.split("/")
        g = graphs[model]
        if (model, mode, prec) not in terms:
            p = predict(flat, g.hw_ops, batch=1, mode=mode, precision="fp16_tc" if prec == "fp16" else "fp32",
                        tf32="conv")
            terms[(model, mode, prec)] = {"tc1": p.t_compute[:, 1] * 1e3, "tm": p.t_memory[:, 1] * 1e3}
        s = 1e9 / platform.mode(mode).cpu_clock_hz
        for nodes, t in zip(extract["subgraph_nodes"][model], lats):
            ops, nk = _map_nodes(g, nodes)
            subs.append(Sub(camp, mode, prec, model, float(t), s, len(nodes), tuple(ops), nk))
    info = {"graphs": graphs, "terms": terms}
    return subs, info


# --- the model ------------------------------------------------------------------------------------
class Design:
    """Flattened arrays of one set of subgraphs for the vectorised model."""

    def __init__(self, subs: list[Sub], info: dict[str, Any], platform: Any) -> None:
        from sparoa_sim.hwmodels.kinds import KINDS

        kinds = [k.value for k in KINDS]
        self.y = np.array([x.t_ms for x in subs])
        self.s = np.array([x.s for x in subs])
        self.nodes = np.array([x.n_nodes for x in subs], dtype=float)
        self.count = np.zeros((len(subs), len(HOST_KINDS)))
        seg, tc1, tm, eta_k, units, tpcs, flops, is_conv = [], [], [], [], [], [], [], []
        for j, x in enumerate(subs):
            g = info["graphs"][x.model]
            t = info["terms"][(x.model, x.mode, x.prec)]
            for i in x.ops:
                k = kinds[int(g.hw_ops.kind[i])]
                self.count[j, HOST_KINDS.index(k)] += 1
                seg.append(j)
                tc1.append(t["tc1"][i])
                tm.append(t["tm"][i])
                eta_k.append(ETA_KINDS.index(k) if k in ETA_KINDS else -1)
                units.append(float(g.hw_ops.units[i]))
                flops.append(float(g.hw_ops.flops[i]))
                is_conv.append(k == "conv")
                tpcs.append(platform.mode(x.mode).gpu_tpcs)
        self.seg, self.tc1, self.tm = np.array(seg, dtype=int), np.array(tc1), np.array(tm)
        self.eta_k, self.units, self.tpcs = np.array(eta_k), np.array(units), np.array(tpcs, dtype=float)
        self.flops, self.is_conv = np.array(flops), np.array(is_conv, dtype=bool)
        eta0 = {k.value: e for k, e in zip(KINDS, platform.gpu.latency.eta)}
        self.eta_other = np.array([eta0[kinds[int(info["graphs"][x.model].hw_ops.kind[i])]]
                                   for x in subs for i in x.ops])

    def predict(self, phi: float, h: np.ndarray, eta: np.ndarray, lanes: float, beta: float = 0.0) -> np.ndarray:
        x = np.maximum(self.units, 1.0) / (self.tpcs * lanes)
        par = x / np.ceil(x)
        e = np.where(self.eta_k >= 0, eta[np.maximum(self.eta_k, 0)], self.eta_other)
        dev = np.maximum(self.tc1 / (e * par) * conv_size_factor(self.flops, self.is_conv, beta), self.tm)
        out = self.s * (phi * self.nodes + self.count @ h)
        np.add.at(out, self.seg, dev)
        return out


def fit(design: Design, phi: float, eta0: np.ndarray, lanes0: float, conv_size: bool = False,
        beta_fixed: float = 0.0) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(h per HOST_KINDS in ms·GHz, η per ETA_KINDS, lanes, β of the conv size term): robust least
    squares on log time; β is fitted where ``conv_size``, else held at ``beta_fixed``."""
    from scipy.optimize import least_squares

    nh, ne = len(HOST_KINDS), len(ETA_KINDS)

    def split(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        return q[:nh], q[nh:nh + ne], float(np.exp(q[nh + ne])), float(q[-1]) if conv_size else beta_fixed

    def resid(q: np.ndarray) -> np.ndarray:
        h, eta, lanes, beta = split(q)
        r = np.log(design.predict(phi, h, eta, lanes, beta)) - np.log(design.y)
        prior = _PRIOR_W * np.r_[np.log(h / _PRIOR_H), 0.3 * np.log(eta / eta0)]
        return np.r_[r, prior]

    # The wave term is a step function of lanes (ceil): profile the cost over a log grid of lanes,
    # fitting h and η (and β) at each, and keep the best.
    best = None
    extra = 1 if conv_size else 0
    for lanes in np.geomspace(lanes0, 2.0 ** 22, 34):
        ll = np.log(lanes)
        lo = np.r_[np.full(nh, 1e-3), np.full(ne, 1e-3), ll - 1e-9, np.full(extra, -1.0)]
        hi = np.r_[np.full(nh, 5.0), np.ones(ne), ll + 1e-9, np.full(extra, 1.0)]
        q0 = np.r_[np.full(nh, _PRIOR_H), eta0, ll, np.zeros(extra)]
        res = least_squares(resid, q0, bounds=(lo, hi), loss="soft_l1", f_scale=0.1)
        if best is None or res.cost < best.cost:
            best = res
    return split(best.x)


# --- reporting ------------------------------------------------------------------------------------
def isolated(subs: list[Sub], info: dict[str, Any], max_dev_ms: float = 0.004) -> dict[str, dict[str, float]]:
    """Check table: median time × CPU clock (ms·GHz) of single-node subgraphs whose twin device time is
    tiny, per kind and mode (floor = nodes that launch nothing). All models (it is not used by the fit)."""
    from sparoa_sim.hwmodels.kinds import KINDS

    kinds = [k.value for k in KINDS]
    acc: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for x in subs:
        if x.n_nodes != 1:
            continue
        if x.no_kernel:
            acc[("floor (no kernel)", x.mode)].append(x.t_ms / x.s)
        elif len(x.ops) == 1:
            t = info["terms"][(x.model, x.mode, x.prec)]
            i = x.ops[0]
            if max(t["tc1"][i], t["tm"][i]) < max_dev_ms:
                acc[(kinds[int(info["graphs"][x.model].hw_ops.kind[i])], x.mode)].append(x.t_ms / x.s)
    out: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for (k, m), v in acc.items():
        out[k][m] = float(np.median(v))
        out[k][m + "_n"] = len(v)
    return dict(out)


def totals(subs: list[Sub], pred: np.ndarray) -> dict[tuple[str, str, str, str], tuple[float, float]]:
    agg: dict[tuple[str, str, str, str], list[float]] = collections.defaultdict(lambda: [0.0, 0.0])
    for x, t in zip(subs, pred):
        a = agg[(x.camp, x.mode, x.prec, x.model)]
        a[0] += x.t_ms
        a[1] += float(t)
    return {k: (v[0], v[1]) for k, v in agg.items()}


def summary(tot: dict[tuple[str, str, str, str], tuple[float, float]], train: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for group in ("in-sample", "held-out"):
        for mode in MODES.values():
            r = np.array([p / m for (c, md, pr, mo), (m, p) in tot.items()
                          if md == mode and ((mo in train) == (group == "in-sample"))])
            if r.size:
                rows.append({"group": group, "mode": mode, "n": int(r.size), "median_ratio": float(np.median(r)),
                             "median_abs_dev": float(np.median(np.abs(r - 1))), "min": float(r.min()),
                             "max": float(r.max()), "within_2x": int(np.sum((r >= 0.5) & (r <= 2.0)))})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default=",".join(DEFAULT_TRAIN), help="models fitted on (default: %(default)s)")
    ap.add_argument("--modes", default=",".join(DEFAULT_FIT_MODES), help="power modes fitted on (default: %(default)s)")
    ap.add_argument("--conv-size", choices=("off", "gemm", "fit"), default="gemm",
                    help="the compute-only conv size term β: off (the profiles before it), gemm (default: the "
                         "shipped profiles: from the same board's GEMM sweep), or fitted with the rest")
    ap.add_argument("--branes", type=Path, default=None, help="git dir of a branes-ai/graphs snapshot: rebuild the extract")
    ap.add_argument("--extract", type=Path, default=EXTRACT, help="compact extract (default: %(default)s)")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS, help="JSON output (default: %(default)s)")
    args = ap.parse_args(argv)
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.hwmodels.kinds import KINDS

    if args.branes is not None:
        args.extract.write_text(json.dumps(build_extract(args.branes), separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"extract written: {args.extract}")
    extract = json.loads(args.extract.read_text(encoding="utf-8"))
    train = tuple(t.strip() for t in args.train.split(",") if t.strip())
    fit_modes = tuple(t.strip() for t in args.modes.split(",") if t.strip())
    unknown = [m for m in train if m not in MODELS] + [m for m in fit_modes if m not in MODES.values()]
    if unknown:
        print(f"fit_published_overheads.py: unknown model or mode {unknown}", file=sys.stderr)
        return 2
    # The base profile: the shipped one, with the GPU's dispatch factors reset (the fit replaces them).
    base = load_platform(PROFILE)
    lat0 = base.gpu.latency
    subs, info = dataset(extract, base)
    fit_set = [x for x in subs if x.model in train and x.mode in fit_modes]
    floor = [x.t_ms / x.s for x in fit_set if x.no_kernel]
    phi = float(np.median(floor)) if floor else 0.0
    eta_prior = np.array([PRIOR_ETA[k] for k in ETA_KINDS])
    beta_gemm, beta_per = gemm_beta()
    h, eta, lanes, beta = fit(Design(fit_set, info, base), phi, eta_prior, 2048.0, conv_size=args.conv_size == "fit",
                              beta_fixed=beta_gemm if args.conv_size == "gemm" else 0.0)
    design_all = Design(subs, info, base)
    tot = totals(subs, design_all.predict(phi, h, eta, lanes, beta))
    rows = summary(tot, train)

    f_max = base.cpu.max_clock_hz / 1e9
    t_launch = lat0.t_launch * 1e3 * f_max  # stored at the max CPU clock: in ms·GHz
    t_disp = lat0.t_dispatch * 1e3 * f_max
    node_count = collections.Counter()
    for x in fit_set:
        g = info["graphs"][x.model]
        for i in x.ops:
            node_count[KINDS[int(g.hw_ops.kind[i])].value] += 1
    table = []
    for k, hk in zip(HOST_KINDS, h):
        used = node_count[k] >= MIN_NODES
        table.append({"kind": k, "h_ms_ghz": float(hk), "train_nodes": node_count[k], "in_profile": used,
                      "dispatch_factor": float(max(hk - t_launch, 1e-3) / t_disp) if used else None,
                      "eta": float(eta[ETA_KINDS.index(k)]) if k in ETA_KINDS else None})
    iso = isolated(subs, info)
    graphs = info["graphs"]
    fx_extra = {m: sum(1 for nodes in extract["subgraph_nodes"][m] for n in nodes
                       if n not in {op.name for op in graphs[m].ops}
                       and not re.fullmatch(r"encoder_layers_encoder_layer_\d+_self_attention|adaptive_avg_pool2d", n))
                for m in MODELS}

    print(f"Source: {REPO_URL}@{COMMIT} (AGX Orin 64GB, PyTorch 2.1 nv23.06, per-node CUDA events)")
    print(f"train models: {', '.join(train)}; fit modes: {', '.join(fit_modes)}; held out: "
          f"{', '.join(m for m in MODELS if m not in train)}")
    print(f"floor φ (FX node launching nothing, median of {len(floor)}): {phi:.4f} ms·GHz "
          f"({phi / f_max * 1e3:.1f} us at MAXN)")
    print(f"profile base: t_dispatch {t_disp:.4f} ms·GHz, t_launch {t_launch:.4f} ms·GHz; fitted GPU lanes {lanes:.0f}")
    print(f"conv size term β = {beta:+.4f} (device time × exp(β · (ln FLOPs − ln 1e8)), clip ×/÷ 4; "
          f"{args.conv_size}; GEMM sweep median {beta_gemm:+.3f} of {', '.join(f'{k} {v:+.2f}' for k, v in beta_per.items())}): a 3.7 GFLOP conv × {float(conv_size_factor(np.array([3.7e9]), np.array([True]), beta)[0]):.2f}, "
          f"a 10 MFLOP conv × {float(conv_size_factor(np.array([1e7]), np.array([True]), beta)[0]):.2f}")
    print(f"{'kind':10s} {'h ms·GHz':>9s} {'nodes':>6s} {'factor':>7s} {'eta':>6s}   isolated tiny nodes, ms·GHz incl. floor "
          "(MAXN / 30W / 50W / 15W)")
    for t in table:
        iso_k = iso.get(t["kind"], {})
        iso_s = " / ".join(f"{iso_k[m]:.3f}" if m in iso_k else "-" for m in ("MAXN", "30W", "50W", "15W"))
        fac = f"{t['dispatch_factor']:.2f}" if t["dispatch_factor"] is not None else "(1)"
        eta_s = f"{t['eta']:.3f}" if t["eta"] is not None else "-"
        print(f"{t['kind']:10s} {t['h_ms_ghz']:9.3f} {t['train_nodes']:6d} {fac:>7s} {eta_s:>6s}   {iso_s}")
    iso_f = iso.get("floor (no kernel)", {})
    print("floor (no kernel) isolated: " + " / ".join(f"{iso_f.get(m, float('nan')):.3f}" for m in ("MAXN", "30W", "50W", "15W")))
    print(f"\n{'group':10s} {'mode':5s} {'n':>3s} {'median r':>9s} {'med|r-1|':>9s} {'min':>5s} {'max':>5s} within2x")
    for r in rows:
        print(f"{r['group']:10s} {r['mode']:5s} {r['n']:3d} {r['median_ratio']:9.2f} {r['median_abs_dev']:9.1%} "
              f"{r['min']:5.2f} {r['max']:5.2f} {r['within_2x']}/{r['n']}")
    print(f"FX nodes with no twin operator, per model: {fx_extra}")
    doc = {"source": extract["source"], "train": train, "fit_modes": fit_modes, "phi_ms_ghz": phi,
           "lanes": lanes, "conv_size": {"how": args.conv_size, "beta": beta, "gemm_beta": beta_gemm,
                                          "gemm_beta_per": beta_per, "gemm_source": GEMM_SWEEP_SOURCE, "profile_key": "gpu.latency.conv_size_beta",
                                          "center_flops": CONV_SIZE_CENTER_FLOPS, "clip": CONV_SIZE_CLIP},
           "t_dispatch_ms_ghz": t_disp, "t_launch_ms_ghz": t_launch, "kinds": table,
           "isolated_ms_ghz": iso, "summary": rows, "fx_extra_nodes": fx_extra,
           "totals": [{"campaign": c, "mode": md, "prec": pr, "model": mo, "published_ms": m, "fit_ms": p}
                      for (c, md, pr, mo), (m, p) in sorted(tot.items())],
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           "command": " ".join(["python", "benchmarks/fit_published_overheads.py", *(argv or sys.argv[1:])])}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"JSON: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
