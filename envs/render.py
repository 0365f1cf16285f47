"""Renderings of an episode so far: a text Gantt (``ansi``) and the Gantt image (``rgb_array``).

The image is :meth:`sparoa_sim.sim.trace.SimTrace.gantt`'s chart (matplotlib, Agg backend), read
back as an ``(H, W, 3)`` uint8 array.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

__all__ = ["ansi_gantt", "rgb_gantt"]

_ROWS = ("CPU", "GPU", "host", "copies")
_MARK = {0: "#", 1: "l", 2: "=", 3: "m"}  # op, launch, transfer, merge


def ansi_gantt(trace, t_end: float, width: int = 72, header: str = "") -> str:
    """One text row per device, host dispatch thread and copies; a cell is marked when busy."""
    width = max(int(width), 8)
    span = t_end if t_end > 0 else 1.0
    rows = [[" "] * width for _ in _ROWS]
    for track, kind, _op, _job, t0, t1, *_ in trace.events:
        row = rows[min(track, 3)]
        a = min(int(t0 / span * width), width - 1)
        b = max(min(int(np.ceil(t1 / span * width)), width), a + 1)
        mark = _MARK[kind]
        for k in range(a, b):
            row[k] = mark
    lines = [header] if header else []
    lines += [f"{name:>6} |{''.join(r)}|" for name, r in zip(_ROWS, rows)]
    lines.append(f"{'':>6}  0{'':{width - 12}}{t_end * 1e3:9.3f} ms")
    return "\n".join(lines) + "\n"


#: (height, width) of every ``rgb_array`` frame: video recorders need one frame size for a whole
#: episode, while the chart's height follows its rows (transfer lanes come and go).
FRAME_SHAPE = (640, 1400)


def rgb_gantt(trace, title: str | None = None) -> np.ndarray:
    """The Gantt chart of ``trace`` as an RGB uint8 array of :data:`FRAME_SHAPE` (the chart on a
    white canvas, cropped where it would not fit)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.image as mpimg

    with tempfile.TemporaryDirectory(prefix="sparoa-render-") as tmp:
        path = trace.gantt(Path(tmp) / "gantt.png", title=title)
        img = mpimg.imread(path)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    img = img[: FRAME_SHAPE[0], : FRAME_SHAPE[1], :3]
    frame = np.full((*FRAME_SHAPE, 3), 255, dtype=np.uint8)
    frame[: img.shape[0], : img.shape[1]] = img
    return frame
