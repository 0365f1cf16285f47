"""Errors of the hardware twin.

The root of the project's exception hierarchy lives here, in the lowest layer, so ``hwmodels``
can raise user-facing errors without importing anything above it; ``sparoa_sim.errors``
re-exports it with the subclasses of the upper layers.
"""

from __future__ import annotations

__all__ = ["SparOAError", "ProfileError", "CalibrationError"]


class SparOAError(Exception):
    """Base of every error the user can cause with bad input (the CLI exits 2 on these)."""


class ProfileError(SparOAError, ValueError):
    """A malformed hardware profile, unknown platform, device kind or power mode."""


class CalibrationError(SparOAError, ValueError):
    """A malformed measurement table or a calibration that cannot be done."""
