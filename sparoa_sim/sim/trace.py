"""Traces of a simulated run: Chrome/Perfetto ``traceEvents`` JSON and a Gantt PNG (docs/architecture.md §4).

Tracks (thread ids): 0 CPU, 1 GPU, 2 host dispatch, 3… transfers (copies run concurrently, so
each overlapping copy gets its own lane). One complete ("X") slice per operator, kernel launch
and copy, named after the operator, with the batch (job), its requests and its size in
``args`` — so a simulated schedule opens next to a real ``torch.profiler`` trace in Perfetto or
``chrome://tracing``. Times are written in microseconds, as the format expects. With co-running
streams (``sim.streams``) each job is labelled with its stream (``Slice.stream``, ``args.stream``,
slice names ``stream/op``) and its operators are named from that stream's graph.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparoa_sim.ir.graph import atomic_write_text
from sparoa_sim.plots import save_figure

__all__ = ["SimTrace", "Slice"]

_TRACK = ("CPU", "GPU", "host dispatch")
_DEV = ("cpu", "gpu")
_KIND = {0: "op", 1: "launch", 2: "transfer", 3: "merge"}


@dataclass(frozen=True)
class Slice:
    """One slice of the trace, decoded."""

    track: str  # "CPU", "GPU", "host dispatch", "transfers"
    kind: str  # "op", "launch", "transfer", "merge"
    op: int  # operator index (for an input copy: n_ops)
    name: str
    job: int
    start: float
    end: float
    share: float | None = None  # op: the operator's GPU share
    nbytes: float | None = None  # transfer / merge: bytes copied
    dst: str | None = None  # transfer / merge / launch: the destination device
    stream: str | None = None  # with co-running streams: the stream the job belongs to


@dataclass(frozen=True)
class SimTrace:
    """Every slice the engine recorded, with what is needed to name them."""

    events: tuple[tuple, ...]
    op_names: tuple[str, ...]
    job_requests: tuple[tuple[int, ...], ...]
    job_batches: tuple[int, ...]
    workload: str = ""
    platform: str = ""
    policy: str = ""
    loads: tuple[tuple[float, int, float], ...] = ()  # background-load changes: (time, device, share)
    # with co-running streams: each stream's name and operator names, and the stream of each job
    stream_names: tuple[str, ...] = ()
    stream_op_names: tuple[tuple[str, ...], ...] = ()
    job_streams: tuple[int, ...] = ()

    def stream_of(self, job: int) -> str | None:
        """The stream job ``job`` belongs to (None with a single stream)."""
        return self.stream_names[self.job_streams[job]] if self.job_streams else None

    def _name(self, op: int, job: int = 0) -> str:
        if not self.job_streams:
            return self.op_names[op] if op < len(self.op_names) else "input"
        k = self.job_streams[job]
        names = self.stream_op_names[k]
        return f"{self.stream_names[k]}/{names[op] if op < len(names) else 'input'}"

    def slices(self) -> list[Slice]:
        """The events decoded, in recording order."""
        out = []
        for track, kind, op, job, t0, t1, a, b in self.events:
            k = _KIND[kind]
            name, stream = self._name(op, job), self.stream_of(job)
            if k == "op":
                out.append(Slice(_TRACK[track], k, op, name, job, t0, t1, share=float(a), stream=stream))
            elif k == "launch":
                out.append(Slice(_TRACK[track], k, op, name, job, t0, t1, dst=_DEV[a], stream=stream))
            else:
                out.append(Slice("transfers", k, op, name, job, t0, t1, nbytes=float(a), dst=_DEV[b], stream=stream))
        return out

    def ops(self, device: str | None = None) -> list[Slice]:
        """Operator slices (optionally of one device, "cpu" or "gpu")."""
        want = None if device is None else _TRACK[_DEV.index(device)]
        return [s for s in self.slices() if s.kind == "op" and (want is None or s.track == want)]

    def transfer_lanes(self) -> list[int]:
        """Lane per transfer/merge event (recording order): the first lane free at its start."""
        lanes_end: list[float] = []
        out = []
        for ev in sorted((e for e in self.events if e[0] == 3), key=lambda e: (e[4], e[5])):
            t0, t1 = ev[4], ev[5]
            for k, end in enumerate(lanes_end):
                if end <= t0:
                    lanes_end[k] = t1
                    out.append(k)
                    break
            else:
                lanes_end.append(t1)
                out.append(len(lanes_end) - 1)
        return out

    def to_chrome(self) -> dict[str, Any]:
        """The ``traceEvents`` document (JSON-able)."""
        meta_pid = 1
        evs: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": meta_pid, "tid": 0,
             "args": {"name": f"SparOA-sim {self.workload} on {self.platform} ({self.policy})"}},
        ]
        xfers = sorted((e for e in self.events if e[0] == 3), key=lambda e: (e[4], e[5]))
        lanes = self.transfer_lanes()
        n_lanes = max(lanes, default=-1) + 1
        for tid, name in enumerate(_TRACK):
            evs.append({"name": "thread_name", "ph": "M", "pid": meta_pid, "tid": tid, "args": {"name": name}})
            evs.append({"name": "thread_sort_index", "ph": "M", "pid": meta_pid, "tid": tid, "args": {"sort_index": tid}})
        for k in range(n_lanes):
            tid = 3 + k
            evs.append({"name": "thread_name", "ph": "M", "pid": meta_pid, "tid": tid,
                        "args": {"name": "transfers" if k == 0 else f"transfers {k + 1}"}})
            evs.append({"name": "thread_sort_index", "ph": "M", "pid": meta_pid, "tid": tid, "args": {"sort_index": tid}})

        def base(job: int) -> dict[str, Any]:
            out = {"job": job, "requests": list(self.job_requests[job]), "batch": self.job_batches[job]}
            if self.job_streams:
                out["stream"] = self.stream_of(job)
            return out

        for track, kind, op, job, t0, t1, a, b in self.events:
            if track == 3:
                continue
            args = base(job)
            args["op"] = op
            if kind == 0:
                args["gpu_share"] = a
                cat = "op"
            else:
                args["device"] = _DEV[a]
                cat = "launch"
            evs.append({"name": self._name(op, job), "cat": cat, "ph": "X", "pid": meta_pid, "tid": track,
                        "ts": t0 * 1e6, "dur": (t1 - t0) * 1e6, "args": args})
        for (track, kind, op, job, t0, t1, a, b), lane in zip(xfers, lanes):
            args = base(job)
            args.update(op=op, bytes=a, to=_DEV[b])
            label = "merge " if kind == 3 else ""
            evs.append({"name": f"{label}{self._name(op, job)} -> {_DEV[b]}", "cat": _KIND[kind], "ph": "X",
                        "pid": meta_pid, "tid": 3 + lane, "ts": t0 * 1e6, "dur": (t1 - t0) * 1e6, "args": args})
        for t, d, level in self.loads:
            evs.append({"name": f"background load {_DEV[d]}", "ph": "C", "pid": meta_pid, "ts": t * 1e6,
                        "args": {"share": level}})
        return {"traceEvents": evs, "displayTimeUnit": "ms",
                "otherData": {"workload": self.workload, "platform": self.platform, "policy": self.policy}}

    def to_json(self) -> str:
        """The Chrome trace as JSON text."""
        return json.dumps(self.to_chrome(), allow_nan=False)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the Chrome/Perfetto trace JSON atomically."""
        return atomic_write_text(path, self.to_json() + "\n")

    def gantt(self, path: str | os.PathLike[str], max_jobs: int | None = 20, title: str | None = None) -> Path:
        """Draw a Gantt chart (one row per device, host and transfer lane) to a PNG.

        Slices are coloured by batch; only the first ``max_jobs`` batches are drawn (None: all).
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        keep = (lambda j: True) if max_jobs is None else (lambda j: j < max_jobs)
        xfers = sorted((e for e in self.events if e[0] == 3), key=lambda e: (e[4], e[5]))
        lanes = self.transfer_lanes()
        n_lanes = max(lanes, default=-1) + 1
        rows = list(_TRACK) + [f"transfers{'' if k == 0 else ' ' + str(k + 1)}" for k in range(n_lanes)]
        bars: list[list[tuple[float, float]]] = [[] for _ in rows]
        colours: list[list[Any]] = [[] for _ in rows]
        cmap = plt.get_cmap("tab20")
        t_end = 0.0
        for track, kind, op, job, t0, t1, a, b in self.events:
            if track == 3 or not keep(job):
                continue
            bars[track].append((t0 * 1e3, max((t1 - t0) * 1e3, 1e-9)))
            colours[track].append(cmap(job % 20))
            t_end = max(t_end, t1)
        for ev, lane in zip(xfers, lanes):
            if not keep(ev[3]):
                continue
            bars[3 + lane].append((ev[4] * 1e3, max((ev[5] - ev[4]) * 1e3, 1e-9)))
            colours[3 + lane].append(cmap(ev[3] % 20))
            t_end = max(t_end, ev[5])
        fig, ax = plt.subplots(figsize=(12, 1.0 + 0.55 * len(rows)))
        for k, (bs, cs) in enumerate(zip(bars, colours)):
            if bs:
                ax.broken_barh(bs, (k - 0.4, 0.8), facecolors=cs, edgecolor=(0, 0, 0, 0.35), linewidth=0.2)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(rows)
        ax.invert_yaxis()
        ax.set_xlabel("time (ms)")
        ax.set_xlim(0, max(t_end * 1e3, 1e-6) * 1.01)
        shown = "" if max_jobs is None or len(self.job_batches) <= max_jobs else f" (first {max_jobs} batches)"
        ax.set_title(title or f"{self.workload} on {self.platform}, policy {self.policy}{shown}; colour = batch")
        ax.grid(axis="x", alpha=0.3)
        return save_figure(fig, path)
