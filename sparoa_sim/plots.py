"""Pictures people would rather look at than tables (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from sparoa_sim.errors import SparOAError
from sparoa_sim.hwmodels.kinds import KINDS
from sparoa_sim.ir.graph import OpGraph

__all__ = ["quadrant_plot", "save_figure"]


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


def quadrant_plot(
    graph: OpGraph,
    path: str | os.PathLike[str],
    *,
    tau_s: float = 0.5,
    tau_i: float | None = None,
    sparsity: str = "act",
) -> Path:
    """The SparOA motivation figure: operators by sparsity vs arithmetic intensity, sized by FLOPs.

    The dashed lines are the threshold rule's cut (CPU iff sparsity >= tau_s and intensity <=
    tau_i); ``tau_i`` defaults to the graph's median intensity. Captioned with where the
    sparsity figures came from.
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
