"""Pattern reuse ρ of an operator's input activations, accumulated one input at a time (schema 4, ``act_reuse``).

``ir.sparsity.pattern_reuse`` defines ρ on the stacked masks of all inputs (mean share of one input's
non-zeros that another input shares, beyond chance). Extraction with a user's inputs sees them one at
a time and cannot keep every operator's masks (tens of MB per input for a large CNN), so
:class:`ReuseAccumulator` keeps two vectors per operator instead — how many earlier inputs had each
feature non-zero, and the same weighted by one over each earlier input's non-zero count — from which
the sum over ordered pairs follows exactly: for a new mask ``m`` with ``|m|`` non-zeros, the pairs
(new, earlier) add ``m·S / |m|`` and the pairs (earlier, new) add ``m·W``.
"""

from __future__ import annotations

import torch

__all__ = ["ReuseAccumulator", "nonzero_mask"]


def nonzero_mask(tensors: list[torch.Tensor]) -> torch.Tensor | None:
    """The non-zero pattern of an operator's floating-point inputs, flattened and concatenated
    (one feature per element); None where it has none."""
    masks = [t.detach().reshape(-1) != 0 for t in tensors if t.is_floating_point()]
    if not masks:
        return None
    return masks[0] if len(masks) == 1 else torch.cat(masks)


class ReuseAccumulator:
    """ρ of one operator over the inputs :meth:`add` has seen, equal to ``pattern_reuse`` of their
    stacked masks (to float rounding) without keeping them; memory: 12 bytes per element of its
    input (a float32 count, a float64 weight), whatever the number of inputs."""

    def __init__(self) -> None:
        self.count: torch.Tensor | None = None  # S: earlier inputs non-zero at each feature
        self.weighted: torch.Tensor | None = None  # W: the same, each input weighted 1 / its non-zeros
        self.inputs = 0
        self.inputs_nonzero = 0  # inputs with at least one non-zero (the pairs they start count)
        self.nonzeros = 0.0
        self.pair_sum = 0.0
        self.consistent = True  # False once an input's size differs from the first's: ρ is then 0

    def add(self, mask: torch.Tensor) -> None:
        """Take one input's non-zero pattern (booleans, any shape; flattened)."""
        m = mask.reshape(-1)
        if self.count is None:
            self.count = torch.zeros(m.numel(), dtype=torch.float32)
            self.weighted = torch.zeros(m.numel(), dtype=torch.float64)
        if m.numel() != self.count.numel():
            self.consistent = False
            return
        nz = int(m.sum())
        if nz:
            # sums in float64: ρ subtracts chance (d) from the mean share, so rounding is amplified
            self.pair_sum += float(self.count[m].sum(dtype=torch.float64)) / nz  # pairs (this, earlier)
            self.pair_sum += float(self.weighted[m].sum())  # pairs (earlier, this)
            self.count += m
            self.weighted[m] += 1.0 / nz
            self.inputs_nonzero += 1
        self.inputs += 1
        self.nonzeros += nz

    def value(self) -> float:
        """ρ in [0, 1]: 0 with fewer than two inputs (no evidence of reuse) or inputs of differing
        sizes; 1 where every input is dense, 0 where every input is all zeros (as ``pattern_reuse``)."""
        if not self.consistent or self.inputs < 2 or self.count is None or self.count.numel() == 0:
            return 0.0
        d = self.nonzeros / (self.inputs * self.count.numel())
        if d >= 1.0:
            return 1.0
        if d <= 0.0:
            return 0.0
        pairs = self.inputs_nonzero * (self.inputs - 1)
        mean = self.pair_sum / pairs
        return float(min(1.0, max(0.0, (mean - d) / (1.0 - d))))
