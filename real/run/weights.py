"""The GPU's copy of a model's weights, one per device and only as much as needed (docs/architecture.md §7).

:func:`device_copy` moves an fx module to the GPU tensor by tensor (``copy.deepcopy`` with every
parameter and buffer already placed in its memo), so no transient whole-model host copy exists
beside the original (on a Jetson, host and GPU copies share one DRAM). With ``share`` the
weights stay where they are, pinned, and the GPU reads them in place (an integrated GPU:
:func:`is_integrated`) — one copy for both devices.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import torch
import torch.fx
from torch import nn

from sparoa_sim.real.run.transfers import mapped_view

__all__ = ["device_copy", "is_integrated"]


def is_integrated(device: torch.device | str | None = None) -> bool:
    """Whether the CUDA device shares the host's DRAM (a Jetson's iGPU); False without CUDA."""
    if not torch.cuda.is_available():
        return False
    return bool(torch.cuda.get_device_properties(torch.device("cuda") if device is None else device).is_integrated)


def device_copy(gm: torch.fx.GraphModule, dev: torch.device, dtype: torch.dtype, share: bool
                 ) -> tuple[torch.fx.GraphModule, list[torch.Tensor]]:
    """``gm`` for device ``dev`` with floating weights in ``dtype``, made tensor by tensor (no
    transient whole-model host copy); with ``share``, the weights are pinned in place on the host
    and the copy reads them there (zero-copy). Returns the copy and the pinned tensors to keep."""
    memo: dict[int, Any] = {}
    keep: list[torch.Tensor] = []
    with torch.no_grad():
        for t in itertools.chain(gm.parameters(), gm.buffers()):
            if id(t) in memo:
                continue
            if share:
                if not t.is_pinned():
                    t.data = t.data.contiguous().pin_memory()  # same values, now in pinned host memory
                keep.append(t.data)
                moved = mapped_view(t.data, dev)
            else:
                moved = t.detach().to(dev, dtype=dtype if t.is_floating_point() else t.dtype)
            memo[id(t)] = nn.Parameter(moved, requires_grad=False) if isinstance(t, nn.Parameter) else moved
    return copy.deepcopy(gm, memo), keep
