"""Pictures people would rather look at than tables (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparoa_sim.errors import SparOAError
from sparoa_sim.hwmodels.kinds import KINDS
from sparoa_sim.ir.graph import OpGraph

__all__ = ["DevicePreference", "device_preference", "quadrant_plot", "save_figure"]


def _umask() -> int:
    """The process umask (read by setting it and setting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_figure(fig, path: str | os.PathLike[str], dpi: int = 130) -> Path:
    """Save a matplotlib figure atomically (temp file in the same folder, then rename) and close it."""
    import matplotlib.pyplot as plt

    p = Path(path)
    fmt = p.suffix[1:].lower()
    if fmt and fmt not in fig.canvas.get_supported_filetypes():
        plt.close(fig)
        raise SparOAError(f"{p}: cannot write an image of type {p.suffix!r} "
                          f"(use one of: {', '.join(sorted(fig.canvas.get_supported_filetypes()))})")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=p.suffix or ".png", dir=p.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a figure is as readable as any output
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return p


@dataclass(frozen=True)
class DevicePreference:
    """Per operator the device the twin prefers in isolation without and with the sparse kernels
    (``hwmodels.act_sparse.preferred_device``: True = CPU), and the FLOPs that weigh the shares."""

    graph: str
    platform: str
    cpu_dense: tuple[bool, ...]
    cpu_sparse: tuple[bool, ...]
    flops: tuple[float, ...]

    def share(self, sparse: bool) -> float:
        """Share of the graph's FLOPs on operators preferred on the CPU (0 for a graph without FLOPs)."""
        cpu = np.array(self.cpu_sparse if sparse else self.cpu_dense, dtype=bool)
        f = np.array(self.flops, dtype=float)
        return float(f[cpu].sum() / f.sum()) if f.sum() > 0 else 0.0

    def count(self, sparse: bool) -> int:
        """Operators preferred on the CPU."""
        return int(sum(self.cpu_sparse if sparse else self.cpu_dense))

    @property
    def moved(self) -> tuple[int, ...]:
        """Operators whose preferred device changes when the sparse kernels come on."""
        return tuple(i for i, (a, b) in enumerate(zip(self.cpu_dense, self.cpu_sparse)) if a != b)

    def to_dict(self) -> dict[str, Any]:
        """Counts and FLOP shares before (dense kernels only) and after (sparse kernels on)."""
        return {"graph": self.graph, "platform": self.platform, "ops": len(self.flops),
                "cpu_ops_dense": self.count(False), "cpu_ops_sparse": self.count(True),
                "cpu_flop_share_dense": self.share(False), "cpu_flop_share_sparse": self.share(True),
                "moved": list(self.moved)}


def device_preference(graph: OpGraph, platform: Any, *, mode: str | None = None, batch: int = 1) -> DevicePreference:
    """The twin's per-operator device preference on ``platform`` with and without sparse kernels."""
    from sparoa_sim.hwmodels.act_sparse import preferred_device

    ops = graph.hw_ops
    dense = preferred_device(platform, ops, batch, mode, sparse_kernels=False) == 0
    sparse = preferred_device(platform, ops, batch, mode, sparse_kernels=True) == 0
    return DevicePreference(graph.name, platform.name, tuple(bool(x) for x in dense), tuple(bool(x) for x in sparse),
                            tuple(float(f) for f in graph.arrays.flops))


def quadrant_plot(
    graph: OpGraph,
    path: str | os.PathLike[str],
    *,
    tau_s: float = 0.5,
    tau_i: float | None = None,
    sparsity: str = "act",
    platform: Any = None,
    mode: str | None = None,
) -> Path:
    """The SparOA motivation figure: operators by sparsity vs arithmetic intensity, sized by FLOPs.

    The dashed lines are the threshold rule's cut (CPU iff sparsity >= tau_s and intensity <=
    tau_i); ``tau_i`` defaults to the graph's median intensity. Captioned with where the
    sparsity figures came from. Given a ``platform``, two panels show the device the twin
    prefers per operator (triangle: CPU, circle: GPU) with dense kernels only and with the
    sparse kernels on (:func:`device_preference`; operators that change device are outlined).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    a = graph.arrays
    s = graph.sparsity(sparsity)
    inten = np.maximum(a.intensity, 1e-3)
    if tau_i is None:
        tau_i = float(np.median(inten))
    flops = a.flops
    size = 8 + 400 * np.sqrt(flops / flops.max()) if flops.max() > 0 else np.full(len(flops), 20.0)
    if platform is not None:
        return _preference_panels(graph, path, platform, mode, s, inten, size, tau_s, tau_i, sparsity)
    fig, ax = plt.subplots(figsize=(8, 5.6))
    cmap = plt.get_cmap("tab20")
    for code in np.unique(a.kind):
        m = a.kind == code
        ax.scatter(inten[m], s[m], s=size[m], alpha=0.6, color=cmap(int(code) % 20), label=KINDS[code].value,
                   edgecolors="none")
    ax.set_xscale("log")
    ax.axvline(tau_i, color="k", ls="--", lw=1)
    ax.axhline(tau_s, color="k", ls="--", lw=1)
    ax.set_ylim(-0.04, 1.04)
    ax.set_xlabel("arithmetic intensity (FLOP / byte, log)")
    ax.set_ylabel({"act": "activation sparsity", "weight": "weight sparsity", "max": "max(act, weight) sparsity"}[sparsity])
    cpu = (s >= tau_s) & (a.intensity <= tau_i)
    labels = [
        (0.02, 0.97, "sparse & light → CPU", "left", "top"),
        (0.98, 0.97, "sparse & heavy → GPU", "right", "top"),
        (0.02, 0.03, "dense & light → GPU", "left", "bottom"),
        (0.98, 0.03, "dense & heavy → GPU", "right", "bottom"),
    ]
    for x, y, text, ha, va in labels:
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=9, color="0.3",
                bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none"})
    share = flops[cpu].sum() / flops.sum() if flops.sum() > 0 else 0.0
    ax.set_title(
        f"{graph.name}: {len(graph)} operators, {graph.total_macs / 1e9:.3g} GMACs — "
        f"{int(cpu.sum())} ops ({share:.1%} of FLOPs) in the CPU quadrant"
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, markerscale=0.5, frameon=False)
    fig.text(0.01, -0.02, f"sparsity source: {graph.sparsity_source}\n"
             f"thresholds: τ_s = {tau_s:g}, τ_I = {tau_i:.3g} FLOP/B; marker area ∝ √FLOPs",
             fontsize=8, color="0.3", va="top")
    return save_figure(fig, path)


_YLABEL = {"act": "activation sparsity", "weight": "weight sparsity", "max": "max(act, weight) sparsity"}


def _preference_panels(graph: OpGraph, path: str | os.PathLike[str], platform: Any, mode: str | None,
                       s: np.ndarray, inten: np.ndarray, size: np.ndarray, tau_s: float, tau_i: float,
                       sparsity: str) -> Path:
    """The quadrant plot's two-panel form: the twin's preferred device per operator, dense vs sparse kernels."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    pref = device_preference(graph, platform, mode=mode)
    kind = graph.arrays.kind
    cmap = plt.get_cmap("tab20")
    moved = np.zeros(len(graph), dtype=bool)
    moved[list(pref.moved)] = True
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6), sharey=True)
    for ax, sparse in zip(axes, (False, True)):
        cpu = np.array(pref.cpu_sparse if sparse else pref.cpu_dense, dtype=bool)
        for code in np.unique(kind):
            for on_cpu, marker in ((False, "o"), (True, "^")):
                for outlined in (False, True):
                    m = (kind == code) & (cpu == on_cpu) & ((moved & sparse) == outlined)
                    if m.any():
                        ax.scatter(inten[m], s[m], s=size[m], alpha=0.6, color=cmap(int(code) % 20), marker=marker,
                                   edgecolors="k" if outlined else "none", linewidths=1.5 if outlined else 0.0)
        ax.set_xscale("log")
        ax.axvline(tau_i, color="k", ls="--", lw=1)
        ax.axhline(tau_s, color="k", ls="--", lw=1)
        ax.set_ylim(-0.04, 1.04)
        ax.set_xlabel("arithmetic intensity (FLOP / byte, log)")
        ax.set_title(f"{'sparse kernels on' if sparse else 'dense kernels only'}: {pref.count(sparse)} ops "
                     f"({pref.share(sparse):.1%} of FLOPs) prefer the CPU", fontsize=10)
    axes[0].set_ylabel(_YLABEL[sparsity])
    handles = [Line2D([], [], ls="none", marker="o", color=cmap(int(c) % 20), label=KINDS[c].value)
               for c in np.unique(kind)]
    handles += [Line2D([], [], ls="none", marker="^", color="0.4", label="CPU preferred"),
                Line2D([], [], ls="none", marker="o", color="0.4", label="GPU preferred"),
                Line2D([], [], ls="none", marker="o", mfc="none", mec="k", label="changes device")]
    axes[1].legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    fig.suptitle(f"{graph.name} on {pref.platform}: {len(graph)} operators, {graph.total_macs / 1e9:.3g} GMACs — "
                 f"device the twin prefers per operator (in isolation, no transfers)", fontsize=11)
    fig.text(0.01, -0.02, f"sparsity source: {graph.sparsity_source}\n"
             f"thresholds: τ_s = {tau_s:g}, τ_I = {tau_i:.3g} FLOP/B; marker area ∝ √FLOPs",
             fontsize=8, color="0.3", va="top")
    return save_figure(fig, path)
