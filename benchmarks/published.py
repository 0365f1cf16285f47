"""Published-latency check: the twin's prediction beside every published measured latency.

Reads ``benchmarks/data/published_latency.toml`` (curated from docs/research/published_latency.toml;
each row names its source URL, board, power mode, framework, precision and batch), predicts each
row with the twin **by the row's own measurement method**, prints one table row per published
row (twin ms, ratio twin / published, role), a summary per (device kind, role) and the issue's
target check, and writes JSON to ``benchmarks/results/published.json``.

Methods (the data file's ``method``):

``e2e``
    one model forward timed end to end. Twin: ``sparoa_sim.sim.simulator.simulate`` of the row's
    workload on the row's profile / mode / precision with the single-device policy (``gpu`` or
    ``cpu``, the row's ``device_kind``), in the reference setting (docs/architecture.md §4.3), one
    job of the row's batch (closed loop, ``requests = batch = row.batch``); the request latency.

``per_node_sync``
    each torch.fx node run alone between two CUDA events and an ``event.synchronize()``, the node
    times summed (the branes-ai/graphs rows). Nothing overlaps: the host issues a node, the device
    runs it, the host waits, then the next node. Twin, from ``hwmodels.predict`` (the same
    per-operator tables ``sim.predtables`` builds), over the workload's operators *i* on device *d*::

        t = Σ_i  dispatch[i, d]                           # host dispatch: t_dispatch[d] · f_d(kind_i) · max(1, kernels_i)
          + Σ_i  latency[i, d]                            # device latency (t_launch · kernels + roofline)
          + N · φ / f_cpu(mode)                           # the method's per-node floor

    ``dispatch`` is the prediction's per-operator host time (the profile's per-kind
    ``dispatch_factor`` on ``t_dispatch``, per kernel; where a twin has no ``dispatch`` it is
    ``t_dispatch[d] · max(1, kernels)``). φ = ``FX_NODE_FLOOR_MS_GHZ``: what the method itself costs
    per node on the GPU timeline between its two events — the interpreter's visit and the event
    records — measured as the median time × CPU clock cap of the nodes that launch nothing
    (``getattr``, ``getitem``, ``_assert``, …; 0.083 ms·GHz, the same in all four modes,
    benchmarks/fit_published_overheads.py). It replaces the twin's ``interconnect.t_sync``
    (20 µs, assumed, not scaled with the CPU clock), which measured nothing of the sort: the
    ``synchronize()`` wait falls outside the events. N is the row's ``fx_nodes`` (the torch.fx nodes
    the source timed) where given, else the twin's operator count (the twin has no node for
    ``getattr`` / ``getitem`` / ``_assert`` / dropout; ViT-B/16 has 216 FX nodes for 125 operators).
    On the CPU φ = 0 (a CPU operator returns when done).

``op``
    one eager PyTorch statement on CPU tensors timed alone in a loop (``perf_counter`` around each
    call; the branes-ai/graphs STREAM / BLAS / matmul calibrations). Twin: the statement written as
    the IR operators eager PyTorch runs for it (``benchmarks/published_ops.py``: the row's ``op`` and
    ``op_shape``), Σ dispatch + latency over them from ``hwmodels.predict`` on the CPU. The CPU clock
    is the mode's cap; where the source reports a lower governor reading (``cpu_clock_mhz``) the
    prediction at that reading is given beside it (``ratio_at_reported_clock``), never fitted.
    ``fit_source = true`` marks a row whose figure set a profile parameter (in-sample): the CPU
    target check is reported over all rows and over the rows not used for fitting.

Precision: ``twin_precision`` (fp16 rows → ``fp16_tc``: eager FP16 convolutions run on tensor
cores). ``tf32`` (default ``conv``, PyTorch's default) is passed to the twin where its
``predict`` / ``simulate`` take a ``tf32`` argument; otherwise the row says ``tf32_applied: false``.

Repeatability: where the data file holds the same twin setting more than once (the branes
campaigns "a" and "agx" measured every (mode, precision, model) twice), the spread max / min − 1 of
those published values is recorded per row (``repeat_spread``); rows whose spread exceeds
``REPEAT_LIMIT`` (20 %) are ``reproducible: false``. The target check is reported twice: over every
target row (the issue's check, unchanged) and over the reproducible target rows only.

Roles: ``target`` rows are PyTorch eager on a board with a shipped profile; ``context`` rows (other
runtimes, boards without a profile, models not shipped) are listed; those the twin cannot predict are
skipped from the summary with the reason. Target check (issue 17 item 5): PyTorch-eager GPU rows
have median |twin/published − 1| ≤ 25 % and every row within 2×; CPU rows every row within 2×.

    python benchmarks/published.py [--data FILE] [--rows FILTER] [--json] [-o PATH]

``--rows``: comma-separated terms; ``key=GLOB`` keeps rows whose field matches (e.g.
``twin_mode=MAXN``, ``method=per_node_sync``, ``role=target``), a bare ``GLOB`` matches the row id
(any of the bare globs). A malformed data file is one line on stderr naming the row and field, exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import hashlib
import inspect
import json
import math
import platform as pyplatform
import statistics
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "published_latency.toml"
RESULTS = ROOT / "benchmarks" / "results" / "published.json"
GPU_MEDIAN_LIMIT = 0.25
WITHIN = 2.0
#: Repeatability of the source: target rows the data file holds more than once for the same twin setting
#: (profile, mode, workload, precision, tf32, method, batch: e.g. the two branes campaigns) whose published
#: values differ by more than this (max / min − 1) are not reproducible in their own source. 20 % is about
#: twice the worst disagreement of those campaigns at MAXN (11 %, resnet50 fp32).
REPEAT_LIMIT = 0.20
ROLES = ("target", "context")
METHODS = ("e2e", "per_node_sync", "op")
DEVICE_KINDS = ("gpu", "cpu")
TF32 = ("conv", "all", "none")
REQUIRED = ("id", "model", "device", "power_mode", "framework", "precision", "batch", "latency_ms", "device_kind",
            "url", "role", "method", "workload", "profile", "twin_mode", "twin_precision")
TEXT_OPTIONAL = ("input_shape", "jetpack", "torch_version", "method_detail", "note", "reason", "op")


class DataError(ValueError):
    """A malformed published-latency data file (the message names the row and the field)."""


@dataclass(frozen=True)
class Row:
    """One published measurement, checked; ``src`` keeps every field of the file."""

    index: int
    id: str
    model: str
    device: str
    power_mode: str
    framework: str
    precision: str
    batch: int
    latency_ms: float
    device_kind: str
    role: str
    method: str
    workload: str
    profile: str
    twin_mode: str
    twin_precision: str
    tf32: str
    url: str
    src: dict[str, Any]


def _where(path: Path, i: int, rid: Any) -> str:
    return f"{path}: row {i + 1}" + (f" (id {rid!r})" if isinstance(rid, str) else "")


def load_rows(path: Path) -> list[Row]:
    """Read and check the data file; raise :class:`DataError` naming the row and field."""
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.hwmodels.platform import PRECISIONS
    from sparoa_sim.hwmodels.profile_io import list_platforms
    from sparoa_sim.workloads import list_workloads

    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise DataError(f"{path}: cannot read the data file: {e}") from None
    raw = doc.get("row")
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: no [[row]] tables")
    workloads, profiles = set(list_workloads()), set(list_platforms())
    rows: list[Row] = []
    ids: set[str] = set()
    for i, r in enumerate(raw):
        where = _where(path, i, r.get("id"))

        def bad(field: str, why: str) -> DataError:
            return DataError(f"{where}: field {field!r}: {why}")

        for f in REQUIRED:
            if f not in r:
                raise bad(f, "missing")
        for f in (*REQUIRED, *TEXT_OPTIONAL, "tf32"):
            if f in r and f not in ("batch", "latency_ms") and not isinstance(r[f], str):
                raise bad(f, f"must be a string, got {r[f]!r}")
        if r["id"] in ids:
            raise bad("id", "duplicate id")
        ids.add(r["id"])
        lat = r["latency_ms"]
        if isinstance(lat, bool) or not isinstance(lat, (int, float)) or not math.isfinite(lat) or lat <= 0:
            raise bad("latency_ms", f"must be a finite positive number of milliseconds, got {lat!r}")
        batch = r["batch"]
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise bad("batch", f"must be a positive integer, got {batch!r}")
        fxn = r.get("fx_nodes")
        if fxn is not None and (isinstance(fxn, bool) or not isinstance(fxn, int) or fxn < 1):
            raise bad("fx_nodes", f"must be a positive integer (the torch.fx nodes the source timed), got {fxn!r}")
        for f, allowed in (("role", ROLES), ("method", METHODS), ("device_kind", DEVICE_KINDS)):
            if r[f] not in allowed:
                raise bad(f, f"unknown value {r[f]!r} (known: {', '.join(allowed)})")
        tf32 = r.get("tf32", "conv")
        if tf32 not in TF32:
            raise bad("tf32", f"unknown value {tf32!r} (known: {', '.join(TF32)})")
        if r["workload"] != "none" and r["workload"] not in workloads:
            raise bad("workload", f"unknown workload {r['workload']!r} (known: {', '.join(sorted(workloads))}, none)")
        if r["profile"] != "none" and r["profile"] not in profiles:
            raise bad("profile", f"unknown device profile {r['profile']!r} (known: {', '.join(profiles)}, none)")
        if r["twin_precision"] != "none" and r["twin_precision"] not in PRECISIONS:
            raise bad("twin_precision", f"unknown precision {r['twin_precision']!r} (known: {', '.join(PRECISIONS)}, none)")
        if r["profile"] != "none" and r["twin_mode"] != "none":
            try:
                load_platform(r["profile"]).mode(r["twin_mode"])
            except Exception as e:  # the twin's own message for an unknown mode
                raise bad("twin_mode", " ".join(str(e).splitlines())) from None
        if r["method"] == "op":
            _check_op_row(r, bad)
        for f in ("cpu_clock_mhz",):
            v = r.get(f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0):
                raise bad(f, f"must be a finite positive number of MHz (the source's reported CPU clock), got {v!r}")
        if "fit_source" in r and not isinstance(r["fit_source"], bool):
            raise bad("fit_source", f"must be true or false (whether the figure set a profile parameter), got {r['fit_source']!r}")
        if r["role"] == "target":
            for f in ("profile", "twin_mode", "twin_precision") if r["method"] == "op" else \
                    ("workload", "profile", "twin_mode", "twin_precision"):
                if r[f] == "none":
                    raise bad(f, "a target row needs one (make the row context, with a reason)")
        rows.append(Row(index=i, id=r["id"], model=r["model"], device=r["device"], power_mode=r["power_mode"],
                        framework=r["framework"], precision=r["precision"], batch=batch, latency_ms=float(lat),
                        device_kind=r["device_kind"], role=r["role"], method=r["method"], workload=r["workload"],
                        profile=r["profile"], twin_mode=r["twin_mode"], twin_precision=r["twin_precision"],
                        tf32=tf32, url=r["url"], src=dict(r)))
    return rows


def _ops_module() -> Any:
    """``benchmarks/published_ops.py`` (a sibling script, not a package)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import published_ops

    return published_ops


def _check_op_row(r: dict[str, Any], bad: Any) -> None:
    """The fields of a ``method = "op"`` row: a known ``op``, its ``op_shape``, a CPU row, no workload."""
    ops = _ops_module()
    if "op" not in r:
        raise bad("op", f"missing (method 'op' needs the statement timed; known: {', '.join(ops.OPS)})")
    if r["op"] not in ops.OPS:
        raise bad("op", f"unknown value {r['op']!r} (known: {', '.join(ops.OPS)})")
    why = ops.check_shape(r["op"], r.get("op_shape"))
    if isinstance(why, str):
        raise bad("op_shape", why)
    if r["device_kind"] != "cpu":
        raise bad("device_kind", f"method 'op' is for CPU rows only, got {r['device_kind']!r}")
    if r["workload"] != "none":
        raise bad("workload", f"an op row times one statement, not a workload: must be 'none', got {r['workload']!r}")


def select(rows: list[Row], spec: str | None) -> list[Row]:
    """The rows ``--rows`` keeps (see the module docstring)."""
    if not spec:
        return rows
    terms = [t.strip() for t in spec.split(",") if t.strip()]
    keyed = [t.partition("=")[::2] for t in terms if "=" in t]
    bare = [t for t in terms if "=" not in t]

    def keep(r: Row) -> bool:
        if any(not fnmatch.fnmatchcase(str(r.src.get(k.strip(), getattr(r, k.strip(), ""))), g.strip()) for k, g in keyed):
            return False
        return not bare or any(fnmatch.fnmatchcase(r.id, g) for g in bare)

    return [r for r in rows if keep(r)]


def _accepts(fn: Any, name: str) -> bool:
    """Whether ``fn`` takes a keyword ``name`` by name (not merely through ``**kwargs``)."""
    return name in inspect.signature(fn).parameters


def skip_reason(r: Row) -> str | None:
    """Why the twin cannot predict row ``r`` (None when it can)."""
    for f, what in (("profile", "no shipped twin profile for this board"),
                    *((("workload", "model not among the shipped workloads"),) if r.method != "op" else ()),
                    ("twin_mode", "power mode unstated"), ("twin_precision", "precision unstated")):
        if getattr(r, f) == "none":
            return r.src.get("reason") or what
    return None


#: Per-node floor of the per_node_sync method, ms·GHz (module docstring): median of the 312 no-kernel
#: FX nodes of resnet18 / mobilenet_v2 / vit_b_16 at MAXN and 30W in branes-ai/graphs@b6c5e829
#: (AGX Orin 64GB; 0.083 / 0.082 / 0.082 / 0.081 ms·GHz at MAXN / 30W / 50W / 15W over all six models).
FX_NODE_FLOOR_MS_GHZ = 0.083
FLOOR_SOURCE = ("per_node_sync floor φ = 0.083 ms·GHz / CPU clock cap: median time × clock of the torch.fx nodes that "
                "launch nothing, branes-ai/graphs@b6c5e829 AGX Orin 64GB (benchmarks/fit_published_overheads.py)")


def sync_cost(platform: Any, device_kind: str, mode: str | None = None) -> tuple[float, str]:
    """(seconds, provenance) of the per_node_sync method's floor per node on ``device_kind`` in ``mode``."""
    if device_kind == "cpu":
        return 0.0, "0 on the CPU (a CPU operator returns when it is done)"
    m = platform.mode(mode)
    return FX_NODE_FLOOR_MS_GHZ * 1e-3 / (m.cpu_clock_hz / 1e9), f"{FLOOR_SOURCE}; {m.name}: CPU cap {m.cpu_clock_hz / 1e9:.4g} GHz"


def fx_nodes(r: Row, n_ops: int) -> int:
    """Nodes the source timed: the row's ``fx_nodes`` where given (a positive integer), else the twin's operators."""
    v = r.src.get("fx_nodes")
    return int(v) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else n_ops


def per_node_sync(platform: Any, graph: Any, r: Row) -> tuple[float, dict[str, Any]]:
    """Serial Σ (host dispatch + device latency) over the operators + the per-node floor (module docstring)."""
    from sparoa_sim.hwmodels import predict

    d = 1 if r.device_kind == "gpu" else 0
    ops = graph.hw_ops
    kw: dict[str, Any] = {"tf32": r.tf32} if _accepts(predict, "tf32") else {}
    pred = predict(platform, ops, batch=r.batch, mode=r.twin_mode, precision=r.twin_precision, **kw)
    kernels = np.asarray(getattr(ops, "kernels", np.ones(len(ops))), dtype=float)
    per_op = getattr(pred, "dispatch", None)
    td = np.asarray(pred.t_dispatch, dtype=float)
    if per_op is not None:
        host = np.asarray(per_op, dtype=float)[:, d]
    else:
        host = td[d] * np.maximum(1.0, kernels) if td.ndim == 1 else td[:, d]
    dev = np.asarray(pred.latency, dtype=float)[:, d]
    floor, _ = sync_cost(platform, r.device_kind, r.twin_mode)
    n = len(ops)
    nodes = fx_nodes(r, n)
    total = float(host.sum() + dev.sum() + nodes * floor)
    return total, {"n_ops": n, "fx_nodes": nodes, "kernels": float(kernels.sum()), "host_ms": float(host.sum()) * 1e3,
                   "device_ms": float(dev.sum()) * 1e3, "sync_ms": nodes * floor * 1e3, "tf32_applied": bool(kw)}


def e2e(platform: Any, graph: Any, r: Row) -> tuple[float, dict[str, Any]]:
    """Reference-setting single-device simulation of one job of ``r.batch`` requests."""
    from sparoa_sim.sim.simulator import simulate

    kw: dict[str, Any] = {"tf32": r.tf32} if _accepts(simulate, "tf32") else {}
    res = simulate(graph, platform, r.device_kind, requests=r.batch, batch=r.batch, reference=True,
                   mode=r.twin_mode, precision=r.twin_precision, seed=0, **kw)
    return float(res.latency_mean_s), {"n_ops": len(graph), "tf32_applied": bool(kw)}


def predict_row(r: Row, platforms: dict[str, Any], graphs: dict[str, Any]) -> dict[str, Any]:
    """The row's output record: published, twin, ratio (twin / published), or the skip reason."""
    out = {"id": r.id, "model": r.model, "device": r.device, "power_mode": r.power_mode, "framework": r.framework,
           "method": r.method, "precision": r.precision, "batch": r.batch, "device_kind": r.device_kind,
           "role": r.role, "workload": r.workload, "profile": r.profile, "twin_mode": r.twin_mode,
           "twin_precision": r.twin_precision, "tf32": r.tf32, "published_ms": r.latency_ms, "twin_ms": None,
           "ratio": None, "skipped": skip_reason(r), "url": r.url, "source": r.src,
           "fit_source": bool(r.src.get("fit_source", False))}
    if out["skipped"] is not None:
        return out
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.workloads import as_graph

    plat = platforms.setdefault(r.profile, load_platform(r.profile))
    if r.method == "op":
        clock = r.src.get("cpu_clock_mhz")
        t_s, terms = _ops_module().predict_op_row(plat, r.src["op"], tuple(r.src["op_shape"]), r.twin_mode,
                                                   r.twin_precision, None if clock is None else clock * 1e6)
        out.update(twin_ms=t_s * 1e3, ratio=t_s * 1e3 / r.latency_ms, terms=terms)
        if "twin_ms_at_reported_clock" in terms:
            out["ratio_at_reported_clock"] = terms["twin_ms_at_reported_clock"] / r.latency_ms
        return out
    graph = graphs.setdefault(r.workload, as_graph(r.workload))
    t_s, terms = (per_node_sync if r.method == "per_node_sync" else e2e)(plat, graph, r)
    twin_ms = t_s * 1e3
    out.update(twin_ms=twin_ms, ratio=twin_ms / r.latency_ms, terms=terms)
    return out


def _dev(ratio: float) -> float:
    return abs(ratio - 1.0)


def _within(ratio: float) -> bool:
    return 1.0 / WITHIN <= ratio <= WITHIN


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (device kind, role): rows compared and skipped, median |ratio − 1|, worst ratio, within 2×."""
    out = []
    for kind in DEVICE_KINDS:
        for role in ROLES:
            group = [x for x in records if x["device_kind"] == kind and x["role"] == role]
            if not group:
                continue
            done = [x for x in group if x["ratio"] is not None]
            ratios = [x["ratio"] for x in done]
            worst = max(done, key=lambda x: abs(math.log(x["ratio"])), default=None)
            skipped: dict[str, int] = {}
            for x in group:
                if x["skipped"] is not None:
                    skipped[x["skipped"]] = skipped.get(x["skipped"], 0) + 1
            out.append({"device_kind": kind, "role": role, "rows": len(done), "skipped": len(group) - len(done),
                        "skip_reasons": skipped,
                        "median_abs_dev": statistics.median(_dev(q) for q in ratios) if ratios else None,
                        "median_ratio": statistics.median(ratios) if ratios else None,
                        "worst_ratio": None if worst is None else worst["ratio"],
                        "worst_id": None if worst is None else worst["id"],
                        "within_2x": sum(_within(q) for q in ratios)})
    return out


def target_check(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 17 item 5: GPU eager median |r − 1| ≤ 25 % and all within 2×; CPU eager all within 2×. Over every
    target row, and (``reproducible``) over the rows ``mark_repeatability`` did not flag."""
    out = {}
    for kind in DEVICE_KINDS:
        rows = [x for x in records if x["device_kind"] == kind and x["role"] == "target" and x["ratio"] is not None]
        out[kind] = _check(rows, kind)
        if kind == "cpu":
            fresh = [x for x in rows if not x.get("fit_source")]
            out[kind]["out_of_sample"] = {**_check(fresh, kind),
                                          "excluded": [x["id"] for x in rows if x.get("fit_source")]}
        keep = [x for x in rows if x.get("reproducible") is not False]
        out[kind]["reproducible"] = {**_check(keep, kind), "repeat_limit": REPEAT_LIMIT,
                                     "excluded": [x["id"] for x in rows if x.get("reproducible") is False]}
    return out


def _setting(x: dict[str, Any]) -> tuple[Any, ...]:
    src = x.get("source") or {}
    return (x["device_kind"], x["profile"], x["twin_mode"], x["workload"], x["twin_precision"], x["tf32"],
            x["method"], x["batch"], src.get("op"), tuple(src.get("op_shape") or ()))


def mark_repeatability(records: list[dict[str, Any]]) -> None:
    """Set ``repeat_spread`` (max / min − 1 of the published values of the same twin setting, None where the
    setting appears once) and ``reproducible`` (spread ≤ REPEAT_LIMIT) on every target record, in place."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for x in records:
        if x["role"] == "target" and x["skipped"] is None:
            groups.setdefault(_setting(x), []).append(x)
    for x in records:
        group = groups.get(_setting(x), []) if x["role"] == "target" and x["skipped"] is None else []
        pub = [g["published_ms"] for g in group]
        spread = max(pub) / min(pub) - 1.0 if len(pub) > 1 else None
        x["repeat_spread"] = spread
        x["reproducible"] = None if not group else (spread is None or spread <= REPEAT_LIMIT)


def _check(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    misses = [{"id": x["id"], "ratio": x["ratio"], "why": f"outside {WITHIN:g}x"} for x in rows if not _within(x["ratio"])]
    med = statistics.median(_dev(x["ratio"]) for x in rows) if rows else None
    crit = [f"every row within {WITHIN:g}x"]
    if kind == "gpu":
        crit.insert(0, f"median |ratio - 1| <= {GPU_MEDIAN_LIMIT:.0%}")
    median_ok = med is not None and (kind != "gpu" or med <= GPU_MEDIAN_LIMIT)
    met = None if not rows else (median_ok and not misses)
    return {"criteria": crit, "rows": len(rows), "median_abs_dev": med, "median_ok": median_ok if rows else None,
            "met": met, "misses": misses}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def provenance(platforms: dict[str, Any], graphs: dict[str, Any], data: Path, argv: list[str]) -> dict[str, Any]:
    """Command line, git commit, date, machine, digests of the data file, profiles and workloads."""
    from sparoa_sim.hwmodels.profile_io import platform_to_toml
    from sparoa_sim.workloads import workload_path

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    status = git("status", "--porcelain")
    syncs = {name: dict(zip(("value_s", "source"), sync_cost(p, "gpu"))) for name, p in platforms.items()}
    return {
        "command": " ".join(["python", "benchmarks/published.py", *argv]),
        "git_commit": git("rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": pyplatform.node(), "machine": pyplatform.machine(), "system": pyplatform.system(),
                    "python": pyplatform.python_version()},
        "data_file": str(data), "data_sha256": _digest(data.read_bytes()),
        "profiles": {name: {"sha256": _digest(platform_to_toml(p).encode())} for name, p in sorted(platforms.items())},
        "workloads": {name: {"sha256": _digest(workload_path(name).read_bytes())} for name in sorted(graphs)},
        "sync_cost": syncs,
    }


def _f(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _ms(x: float | None) -> str:
    """Milliseconds: 2 decimals, or 3 significant digits below 1 ms (the op rows go down to µs)."""
    return _f(x, ".2f" if x is None or x >= 0.995 else ".3g")


def render(doc: dict[str, Any]) -> Any:
    """The table, the summary and the target check, for ``sparoa_sim.cli.output.emit``."""
    from sparoa_sim.cli.output import table

    cols = ("id", "model", "device", "mode", "framework", "method", "precision", "published ms", "twin ms",
            "ratio", "ratio at reported clock", "role")
    body = []
    for x in doc["rows"]:
        fw = "pytorch-eager" if x["framework"].startswith("pytorch-eager") else x["framework"]
        dev = x["profile"] if x["profile"] != "none" else x["device"].split(" (")[0]
        ratio = _f(x["ratio"], ".2f") if x["skipped"] is None else "skip"
        body.append((x["id"], x["model"].split(" (")[0], dev, x["power_mode"], fw, x["method"], x["precision"],
                     _ms(x["published_ms"]), _ms(x["twin_ms"]), ratio, _f(x.get("ratio_at_reported_clock"), ".2f"),
                     x["role"] + (" (fit)" if x.get("fit_source") else "")))
    tbl = table(cols, body, title="Published latency vs twin (ratio = twin / published)",
                left=("id", "model", "device", "mode", "framework", "method", "precision", "role"))
    for col, cells in zip(tbl.columns, zip(*body)):  # ids and numbers whole, never elided
        if col.header in ("id", "published ms", "twin ms", "ratio", "ratio at reported clock", "role"):
            col.no_wrap, col.min_width = True, max(len(str(c)) for c in cells)
    yield tbl
    for name, s in doc["provenance"]["sync_cost"].items():
        yield f"per_node_sync floor on {name}: {s['value_s'] * 1e6:.1f} us per node in its default mode, {s['source']}"
    yield f"tf32 passed to the twin: {doc['tf32_supported']} (rows' tf32 = {', '.join(sorted({x['tf32'] for x in doc['rows']}))})"
    srows = [(s["device_kind"], s["role"], s["rows"], s["skipped"], _f(s["median_abs_dev"], ".1%"),
              _f(s["median_ratio"], ".2f"), _f(s["worst_ratio"], ".2f"), s["worst_id"] or "-",
              f"{s['within_2x']}/{s['rows']}") for s in doc["summary"]]
    yield table(("device", "role", "rows", "skipped", "median |r-1|", "median r", "worst r", "worst row", "within 2x"),
                srows, title="Summary", left=("device", "role", "worst row"))
    for s in doc["summary"]:
        for why, n in s["skip_reasons"].items():
            yield f"  skipped ({s['device_kind']}, {s['role']}): {n} row(s): {why}"
    for kind, c in doc["target_check"].items():
        if c["met"] is None:
            yield f"target check {kind}: NOT CHECKED (no PyTorch-eager {kind.upper()} row with a twin prediction)"
            continue
        verdict = "MET" if c["met"] else "MISSED"
        yield (f"target check {kind}: {verdict} ({'; '.join(c['criteria'])}): {c['rows']} rows, "
               f"median |r-1| = {c['median_abs_dev']:.1%}, {c['rows'] - len(c['misses'])}/{c['rows']} within {WITHIN:g}x")
        if kind == "gpu" and not c["median_ok"]:
            yield f"  miss: median |r-1| {c['median_abs_dev']:.1%} > {GPU_MEDIAN_LIMIT:.0%}"
        for m in c["misses"]:
            yield f"  miss: {m['id']} ratio {m['ratio']:.2f} ({m['why']})"
        oos = c.get("out_of_sample")
        if oos is not None and oos["excluded"]:
            yield (f"target check {kind}, rows not used to set a profile parameter ({len(oos['excluded'])} fit_source "
                   f"rows excluded): " + ("NOT CHECKED (no row left)" if oos["met"] is None else
                   f"{'MET' if oos['met'] else 'MISSED'}: {oos['rows']} rows, median |r-1| = {oos['median_abs_dev']:.1%}, "
                   f"{oos['rows'] - len(oos['misses'])}/{oos['rows']} within {WITHIN:g}x"))
        rc = c["reproducible"]
        if rc["met"] is not None and rc["excluded"]:
            yield (f"target check {kind}, reproducible rows only (same setting measured twice within "
                   f"{rc['repeat_limit']:.0%}; {len(rc['excluded'])} rows excluded): "
                   f"{'MET' if rc['met'] else 'MISSED'}: {rc['rows']} rows, median |r-1| = {rc['median_abs_dev']:.1%}, "
                   f"{rc['rows'] - len(rc['misses'])}/{rc['rows']} within {WITHIN:g}x"
                   + (f"; misses: {', '.join(m['id'] for m in rc['misses'])}" if rc["misses"] else ""))
    yield f"JSON: {doc['json_path']}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="published-latency TOML (default: %(default)s)")
    ap.add_argument("--rows", default=None, help="filter: comma-separated GLOB (row id) or key=GLOB terms")
    ap.add_argument("--json", action="store_true", help="print the JSON document instead of the tables")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS, help="JSON output (default: %(default)s)")
    args = ap.parse_args(argv)
    from sparoa_sim.cli.output import emit, error_line

    try:
        rows = select(load_rows(args.data), args.rows)
    except DataError as e:
        error_line(f"published.py: {e}")
        return 2
    if not rows:
        error_line(f"published.py: --rows {args.rows!r} keeps no row of {args.data}")
        return 2
    from sparoa_sim.hwmodels import predict
    from sparoa_sim.sim.simulator import simulate

    platforms: dict[str, Any] = {}
    graphs: dict[str, Any] = {}
    records = [predict_row(r, platforms, graphs) for r in rows]
    mark_repeatability(records)
    doc = {"rows": records, "summary": summarise(records), "target_check": target_check(records),
           "tf32_supported": {"predict": _accepts(predict, "tf32"), "simulate": _accepts(simulate, "tf32")},
           "provenance": provenance(platforms, graphs, args.data, argv), "json_path": str(args.output)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    return emit(doc, args.json, lambda: render(doc))


if __name__ == "__main__":
    raise SystemExit(main())
