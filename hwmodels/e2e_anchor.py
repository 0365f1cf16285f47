"""End-to-end anchor: two global device parameters fitted to the eager end-to-end times profiled.

Why: the operator rows a calibration fits are timed inside an fx interpretation, one timer per
node, so each small row carries interpreter and timer cost that eager PyTorch does not pay, and
a log-latency fit of the rows need not add up to the pass (on this project's host the rows' fit
over-predicted the many-small-operator models by 8-20 % and under-predicted ResNet-18 by ~7 %).
This stage, run after the row fit, refits two *global* parameters of one device so that the
twin's predicted pass matches the eager passes measured in the same tables:

- ``t_launch``: the per-kernel framework overhead (``latency.predict``'s ``overhead``), and
- ``s``: one factor on every operator's roofline time (compute and memory alike, every kind and
  kernel) — how much slower (s > 1) the bodies of the kernels run in an eager pass than the
  fitted rows say (caches the per-node timers disturb, the rows' own bias).

Least squares on ``log(predicted pass / eager pass)`` over the workloads (robust ``soft_l1``).
Nothing is per workload: the same two numbers describe the machine. With one workload only ``s``
is fitted. ``s`` is carried by the device's shape-feature residual (a shift of every kind's
offset, with its clip shifted alike), so ``predict`` multiplies ``t_compute`` and ``t_memory``
by exactly ``s`` (:func:`scale_roofline`); every other fitted parameter is left as it was.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from sparoa_sim.hwmodels.errors import CalibrationError
from sparoa_sim.hwmodels.kinds import KINDS
from sparoa_sim.hwmodels.latency import predict
from sparoa_sim.hwmodels.ops import OpArrays
from sparoa_sim.hwmodels.params import SCALAR_PARAMS, LatencyParams
from sparoa_sim.hwmodels.platform import Platform, PowerMode, device_index
from sparoa_sim.hwmodels.residual import Residual

__all__ = ["ANCHOR_SCALE_BOUNDS", "AnchorResult", "anchor_e2e", "pass_latency", "scale_roofline"]

#: Bounds of the roofline factor ``s``: the anchor corrects the rows' fit, it does not replace it.
ANCHOR_SCALE_BOUNDS: tuple[float, float] = (0.5, 2.0)
_T_LAUNCH_BOUNDS = next((p.lower, p.upper) for p in SCALAR_PARAMS if p.name == "t_launch")
#: Robust loss scale on log(pass ratio): about the 5 % end-to-end target.
_F_SCALE = 0.05


@dataclass(frozen=True)
class AnchorResult:
    """Outcome of :func:`anchor_e2e`: the platform, the two parameters, and per workload
    ``(eager s, predicted before s, predicted after s)``."""

    platform: Platform
    t_launch_before: float
    t_launch: float
    scale: float
    fitted: tuple[str, ...]
    passes: Mapping[str, tuple[float, float, float]]

    def report(self) -> dict[str, Any]:
        """Plain values for a fit report (key ``e2e_anchor``)."""
        return {"t_launch_before": self.t_launch_before, "t_launch": self.t_launch, "scale": self.scale,
                "fitted": list(self.fitted),
                "passes": {w: {"eager_s": m, "before_s": b, "after_s": a, "error_before": b / m - 1.0,
                               "error_after": a / m - 1.0} for w, (m, b, a) in self.passes.items()}}


def scale_roofline(params: LatencyParams, factor: float) -> LatencyParams:
    """``params`` whose residual multiplies every operator's roofline time by ``factor`` more.

    Adds ``log(factor)`` to the residual's offset of every kind (adding ``kind.K`` features where
    absent) and shifts its clip by the same amount, so ``clip(r + L, lo + L, hi + L) = clip(r) + L``
    exactly. Refused where the shifted clip would not hold 0 (``|log factor|`` beyond the clip).
    """
    if not (isinstance(factor, int | float) and math.isfinite(factor) and factor > 0):
        raise CalibrationError(f"scale_roofline: factor must be a positive finite number, got {factor!r}")
    shift = math.log(factor)
    if shift == 0.0:
        return params
    res = params.residual
    if res is None:
        lo, hi = min(0.0, shift), max(0.0, shift)
        res = Residual(features=(), coef=(), center=(), scale=(), clip=(0.0, 0.0))
    else:
        lo, hi = res.clip[0] + shift, res.clip[1] + shift
        lo, hi = (min(lo, 0.0) if lo < 1e-12 else lo), (max(hi, 0.0) if hi > -1e-12 else hi)  # rounding at the edge
        if not (lo <= 0.0 <= hi):
            raise CalibrationError(f"scale_roofline: factor {factor:g} moves the residual's clip {res.clip} past 0")
    feats, coef, center, scale = list(res.features), list(res.coef), list(res.center), list(res.scale)
    for k in KINDS:
        if f"kind.{k.value}" not in feats:
            feats.append(f"kind.{k.value}"), coef.append(0.0), center.append(0.0), scale.append(1.0)
    # offset[K] gains u for every kind K once each kind.K coefficient gains u·scale_K and the
    # centring term subtracts u·Σ center_J: u (1 − Σ center_J) = shift.
    kind_idx = [feats.index(f"kind.{k.value}") for k in KINDS]
    denom = 1.0 - sum(center[j] for j in kind_idx)
    if abs(denom) < 1e-9:
        raise CalibrationError("scale_roofline: the residual's kind offsets are centred so that no shift exists")
    u = shift / denom
    for j in kind_idx:
        coef[j] += u * scale[j]
    note = (res.note + "; " if res.note else "") + f"end-to-end anchor: roofline x{factor:.4g}"
    new = Residual(features=tuple(feats), coef=tuple(coef), center=tuple(center), scale=tuple(scale),
                   clip=(lo, hi), note=note)
    return dataclasses.replace(params, residual=new)


def pass_latency(platform: Platform, ops: OpArrays, device: str = "cpu", mode: str | PowerMode | None = None,
                 precision: str = "fp32") -> float:
    """One batch-1 pass on ``device`` alone: the sum of its operators' latencies (what the engine's
    single-device reference walk adds up)."""
    col = device_index(device)
    return float(predict(platform, ops, 1, mode=mode, precision=precision).latency[:, col].sum())


def anchor_e2e(platform: Platform, eager_s: Mapping[str, float], ops: Mapping[str, OpArrays], device: str = "cpu",
               mode: str | PowerMode | None = None, precision: str = "fp32", *,
               fit_launch: bool | None = None) -> AnchorResult:
    """Fit ``device``'s ``t_launch`` and roofline factor ``s`` to the eager passes ``eager_s``.

    ``ops`` holds each workload's operators as the engine sees them (per sample, kernels
    counted); every workload of ``eager_s`` needs one. ``fit_launch`` (default: with two or more
    workloads) fits ``t_launch`` beside ``s``; otherwise only ``s``. Returns the anchored platform
    (tagged ``fitted``), the values and the passes before and after.
    """
    names = sorted(eager_s)
    if not names:
        raise CalibrationError("anchor_e2e: no eager end-to-end figure to anchor to")
    missing = [w for w in names if w not in ops]
    if missing:
        raise CalibrationError(f"anchor_e2e: no operators given for workload(s) {missing}")
    bad = {w: eager_s[w] for w in names if not (math.isfinite(eager_s[w]) and eager_s[w] > 0)}
    if bad:
        raise CalibrationError(f"anchor_e2e: eager_s must be positive seconds, got {bad}")
    dev = platform.device(device)
    dev_name = ("cpu", "gpu")[device_index(device)]
    launch_free = len(names) >= 2 if fit_launch is None else bool(fit_launch)
    base = dev.latency
    log_m = np.log([eager_s[w] for w in names])
    smin, smax = ANCHOR_SCALE_BOUNDS

    def platform_of(z: np.ndarray) -> Platform:
        p = scale_roofline(base, float(math.exp(z[0])))
        if launch_free:
            p = dataclasses.replace(p, t_launch=float(z[1]))
        return platform.with_latency(dev_name, p, origin="fitted")

    def passes(p: Platform) -> np.ndarray:
        return np.array([pass_latency(p, ops[w], dev_name, mode, precision) for w in names])

    # log s also within what the residual's clip can shift by (scale_roofline keeps 0 inside it)
    clip = base.residual.clip if base.residual is not None else (-math.inf, math.inf)
    s_lo, s_hi = max(math.log(smin), -clip[1]), min(math.log(smax), -clip[0])
    if not s_lo < s_hi:
        raise CalibrationError(f"anchor_e2e: the {dev_name} residual's clip {clip} leaves no room for a roofline factor")
    z0 = [0.0] + ([float(np.clip(base.t_launch, *_T_LAUNCH_BOUNDS))] if launch_free else [])
    lo = [s_lo] + ([_T_LAUNCH_BOUNDS[0]] if launch_free else [])
    hi = [s_hi] + ([_T_LAUNCH_BOUNDS[1]] if launch_free else [])
    x_scale = [1.0] + ([max(base.t_launch, 1e-6)] if launch_free else [])
    try:
        sol = least_squares(lambda z: np.log(passes(platform_of(z))) - log_m, np.array(z0), bounds=(lo, hi),
                            loss="soft_l1", f_scale=_F_SCALE, x_scale=np.array(x_scale), method="trf",
                            xtol=1e-12, ftol=1e-12, gtol=1e-12)
    except ValueError as exc:
        raise CalibrationError(f"anchor_e2e failed: {exc}") from None
    before = passes(platform)
    factor = float(math.exp(sol.x[0]))
    t_launch = float(sol.x[1]) if launch_free else base.t_launch
    params = dataclasses.replace(scale_roofline(base, factor), t_launch=t_launch)
    note = (f"end-to-end anchor: t_launch and a roofline factor x{factor:.4g} fitted to the eager passes of "
            f"{', '.join(names)}" if launch_free else
            f"end-to-end anchor: a roofline factor x{factor:.4g} fitted to the eager pass of {', '.join(names)}")
    anchored = platform.with_latency(dev_name, params, origin="fitted", note=note)
    after = passes(anchored)
    return AnchorResult(platform=anchored, t_launch_before=base.t_launch, t_launch=t_launch, scale=factor,
                        fitted=("scale", "t_launch") if launch_free else ("scale",),
                        passes={w: (float(eager_s[w]), float(b), float(a))
                                for w, b, a in zip(names, before, after, strict=True)})
