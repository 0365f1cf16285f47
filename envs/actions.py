"""Agent actions → the engine's GPU share, with clear errors for anything malformed.

Discrete: ``0`` = CPU, ``1`` = GPU (an int, a numpy integer, or an integer array holding one
value). Continuous: one value ``a`` in [−1, 1] (shape ``(1,)`` or a scalar); ``u = (a + 1)/2``;
``u ≤ dead_zone`` → CPU, ``u ≥ 1 − dead_zone`` → GPU (a squashed Gaussian never outputs
exactly ±1); in between, an operator with a split axis runs with GPU share
``(u − dz)/(1 − 2 dz)`` rounded to a multiple of ``1/split_levels`` (kept strictly inside
(0, 1)), one without goes to the nearer end. Shares are quantised so that the engine's
per-share split tables stay bounded over a long training run.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["InvalidActionError", "continuous_share", "discrete_device"]


class InvalidActionError(ValueError):
    """An action outside the action space (wrong type, shape, NaN, out of range, masked)."""


def discrete_device(action: object) -> int:
    """The device (0 CPU, 1 GPU) of a ``Discrete(2)`` action."""
    a = action
    if isinstance(a, np.ndarray):
        if a.size != 1 or a.ndim > 1:
            raise InvalidActionError(f"action: expected one integer (0 = CPU, 1 = GPU), got an array of shape {a.shape}")
        if not np.issubdtype(a.dtype, np.integer):
            raise InvalidActionError(f"action: expected an integer 0 or 1, got an array of dtype {a.dtype}")
        a = a.reshape(-1)[0]
    if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
        raise InvalidActionError(f"action: expected an integer 0 (CPU) or 1 (GPU), got {action!r}")
    v = int(a)
    if v not in (0, 1):
        raise InvalidActionError(f"action: {v} is out of range; Discrete(2) takes 0 (CPU) or 1 (GPU)")
    return v


def continuous_share(action: object, splittable: bool, dead_zone: float, levels: int) -> float:
    """The GPU share of a ``Box(-1, 1, (1,))`` action for an operator (see the module doc)."""
    if action is None or isinstance(action, (bool, np.bool_, str, bytes)):
        raise InvalidActionError(f"action: expected a number in [-1, 1], got {action!r}")
    raw = np.asarray(action) if not isinstance(action, np.ndarray) else action
    if raw.dtype.kind not in "iuf":  # strings, objects, booleans: not a number, even where float() would parse
        raise InvalidActionError(f"action: expected a number in [-1, 1] (shape (1,)), got {action!r}")
    try:
        arr = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidActionError(f"action: expected a number in [-1, 1] (shape (1,)), got {action!r}") from None
    if arr.shape not in ((1,), ()):
        raise InvalidActionError(f"action: expected shape (1,), got shape {arr.shape}")
    a = float(arr.reshape(-1)[0])
    if not math.isfinite(a):
        raise InvalidActionError(f"action: {a} is not a finite number")
    if a < -1.0 or a > 1.0:
        raise InvalidActionError(f"action: {a} is outside [-1, 1]")
    u = 0.5 * (a + 1.0)
    if u <= dead_zone:
        return 0.0
    if u >= 1.0 - dead_zone:
        return 1.0
    if not splittable:
        return 1.0 if u >= 0.5 else 0.0
    s = (u - dead_zone) / (1.0 - 2.0 * dead_zone)
    k = min(max(int(round(s * levels)), 1), levels - 1)
    return k / levels
