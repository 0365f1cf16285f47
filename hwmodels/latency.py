"""Roofline-and-sparsity latency of every operator on both devices, in one vectorised call.

The model is docs/architecture.md §3 exactly, per operator o, device d, batch b, power mode m, load ℓ_d::

    work      = b · flops · (1 − g_w · w_sparsity) · (1 − g_a · act_sparsity)  # sparse kernel only
    bytes     = b · (bytes_in + bytes_out) + bytes_w                            # CSR weights if sparse
    t_compute = work  / (P_d(m, rate) · (1 − ℓ_d) · η_d(kind) · π_d(units, b, m))
                × exp(clip(β_d · ln(flops / 1e8), ±ln 4))     # dense ``conv`` only; β_d = 0: no term
    t_memory  = bytes / (B_d(m) · c_d)
    latency   = overhead_d(m, kernels) + max(t_compute, t_memory)              # or a p-norm
    overhead  = t_launch_cpu(m) · max(1, kernels)   on the CPU (framework cost per ATen kernel)
                t_launch_gpu(m) · kernels           on the GPU (device-side launch per kernel)
    dispatch  = t_dispatch_d(m) · f_d(kind) · max(1, kernels)                  # host time, not in latency

``f_d(kind)`` is the profile's per-kind ``dispatch_factor`` (1 where absent): issuing a cuDNN
convolution costs the host several times an element-wise kernel (benchmarks/fit_published_overheads.py).

The rate is the one PyTorch's kernels run at: ``fp16`` (``.half()``; ``fp16_tc`` is its alias) puts
conv / linear / matmul / attention on the tensor cores; ``fp32`` puts the kinds the ``tf32`` switch
names (``platform.TF32_KINDS``; PyTorch's default "conv": cuDNN convolutions only) on the TF32
tensor cores; every other kind, and every sparse kernel, runs at the device's plain FP32 / FP16 rate.

Where a device's profile carries a shape-feature residual (``hwmodels.residual``), its
``t_compute`` and ``t_memory`` are both multiplied by ``exp(r)`` before the roofline combines
them (so ``retime`` stays exact). π_d is the parallel (wave) efficiency: an operator's ``b · units`` output elements run in
``waves = ceil(b · units / (active_units_d(m) · lanes_d))``, so π = b·units / (waves · slots);
small operators and batches lose efficiency through it rather than through a free constant. A
device runs the dense or the sparse kernel of an operator, whichever is predicted faster.

Kernels (``KERNELS``): ``dense``; ``csr`` (weights in CSR, skipping ``g_w`` of the weight zeros);
``act_sparse`` where a device lists the kind in ``act_kinds`` — the activation is gathered into
CSR and multiplied by the dense operand (``real.kernels.act_sparse``)::

    work_a    = b · flops · (1 − g_a · act_sparsity)
    t_compute = (work_a / act_eta + act_gather · b · bytes_in / elem_bytes) / (P_plain · (1 − ℓ_d))
    bytes_a   = b · (bytes_in + bytes_out) + bytes_w · (1 − g_a · act_sparsity)   # weight rows of non-zeros only
    latency   = overhead_d + act_launch_d + roofline(t_compute, t_memory)

Its optional cache term (``act_cache`` C bytes, ``act_miss`` µ s per byte; both 0 = no term, the
kernel above bit for bit): every non-zero reads one row of the dense operand (the weight, or the
second operand of a matmul), ``rows_bytes = work_a / 2 · elem`` per call. Those rows come from the
cache while the operand's working set fits it, from beyond it otherwise::

    W         = bytes_w (bytes_in where the kind has no weight)          # the dense operand
    cold      = clip(1 − C / W, 0, 1)                 # random rows: over a few calls all of W is read
    warm      = clip(1 − C / (W · (1 − g_a · act_sparsity)), 0, 1)   # the same rows every call
    miss      = ρ · warm + (1 − ρ) · cold
    t_compute += miss · rows_bytes · µ / (1 − ℓ_d)  # a row fetch stalls the sparse loop

ρ (``predict(act_reuse=...)``, default 0) is how stable the pattern of non-zeros is across inputs
beyond chance (``ir.sparsity.pattern_reuse``): that share of a call's row reads goes to the rows
every input keeps, the rest behaves as random. ReLU zeros of a trained layer repeat; the random
patterns of a cache-cold sweep do not.

:func:`choose_kernel` is the one rule that picks among them (the fastest predicted; a tie keeps
the earlier of dense, csr, act_sparse); the executor runs what it picks (``real.run.cpu_kernels``).
Where a device has no ``act_kinds``, ``g_a`` keeps its old place in the CSR kernel's work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sparoa_sim.hwmodels.errors import ProfileError
from sparoa_sim.hwmodels.kinds import KINDS, OpKind
from sparoa_sim.hwmodels.ops import OpArrays
from sparoa_sim.hwmodels.platform import (
    DEVICE_KINDS,
    PRECISION_BYTES,
    PRECISIONS,
    TENSOR_CORE_KINDS,
    TF32_KINDS,
    TF32_MODES,
    DeviceSpec,
    Platform,
    PowerMode,
)

__all__ = ["CONV_SIZE_CENTER_FLOPS", "CONV_SIZE_CLIP", "KERNELS", "Prediction", "bytes_scale", "choose_kernel",
           "conv_size_factor", "predict", "retime", "roofline", "wave_efficiency"]

#: The kernels a device may run for an operator, in tie-break order; ``Prediction.kernel`` holds indices.
KERNELS: tuple[str, ...] = ("dense", "csr", "act_sparse")
#: Values of ``predict(kernel=...)``: "auto" (the rule), or one kernel forced where it exists
#: ("sparse" is the CSR kernel, its old name).
KERNEL_OPTIONS: tuple[str, ...] = ("auto", "dense", "sparse", "act_sparse")

#: Which kind codes run on tensor cores at FP16 (``fp16`` / ``fp16_tc``).
_TC_MASK = np.array([k.value in TENSOR_CORE_KINDS for k in KINDS])
_TC_MASK.setflags(write=False)
#: Which kind codes run on TF32 tensor cores at FP32, per value of the ``tf32`` switch.
_TF32_MASKS = {mode: np.array([k.value in kinds for k in KINDS]) for mode, kinds in TF32_KINDS.items()}
for _m in _TF32_MASKS.values():
    _m.setflags(write=False)
_MIN_SHARPNESS = 1e-6
#: The conv size term (``LatencyParams.conv_size_beta``): FLOPs at which it is 1, and its bound (×/÷ this).
CONV_SIZE_CENTER_FLOPS = 1e8
CONV_SIZE_CLIP = 4.0
_CONV_CODE = KINDS.index(OpKind.CONV)


def conv_size_factor(flops: np.ndarray, is_conv: np.ndarray, beta: float | np.ndarray) -> np.ndarray:
    """exp(clip(β · ln(FLOPs / 1e8), ±ln 4)) where ``is_conv``, 1 elsewhere: the factor on a dense
    convolution's compute time (β < 0: a larger batch-1 convolution amortises its GEMM tiles' prologue
    and ramp and reaches a larger share of peak; the time stays increasing in FLOPs for β > −1)."""
    lim = float(np.log(CONV_SIZE_CLIP))
    r = np.clip(beta * (np.log(np.maximum(flops, 1.0)) - np.log(CONV_SIZE_CENTER_FLOPS)), -lim, lim)
    return np.where(is_conv, np.exp(r), 1.0)


@dataclass(frozen=True, eq=False)
class Prediction:
    """Predicted per-operator figures on both devices; (n, 2) arrays, column 0 = CPU, 1 = GPU.

    ``t_compute`` / ``t_memory`` / ``work`` / ``bytes`` are those of the kernel chosen on each
    device (``sparse`` says which), at the ``load`` and ``contention`` of the call.
    ``t_launch`` and ``t_dispatch`` are per device and per kernel, shape (2,): the overhead one
    kernel adds inside ``latency`` and the host time to issue one kernel of a kind whose
    ``dispatch_factor`` is 1 (not inside ``latency``). ``dispatch`` (n, 2) is each operator's host
    issue time, ``t_dispatch[d] · dispatch_factor[d, kind] · max(1, kernels)``, what the engine
    charges. ``launch`` (n, 2) is each operator's whole overhead inside ``latency``:
    ``t_launch[0] · max(1, kernels)`` on the CPU, ``t_launch[1] · kernels`` on the GPU
    (docs/architecture.md §3).
    """

    latency: np.ndarray
    t_compute: np.ndarray
    t_memory: np.ndarray
    t_launch: np.ndarray
    t_dispatch: np.ndarray
    work: np.ndarray
    bytes: np.ndarray
    sparse: np.ndarray
    load: np.ndarray
    contention: np.ndarray
    sharpness: np.ndarray
    mode: str
    precision: str
    batch: float | np.ndarray
    #: Per-operator factor on ε_flop for the kernel chosen, (n, 2): P_fp32 / P_kernel (1 at FP32).
    #: ε_flop was fitted to rail power on FP32 work; a kernel of another precision is charged the
    #: same power at its own peak, not ε_flop per FLOP at 8× the rate (which would exceed the
    #: module's power budget on tensor cores).
    eps_scale: np.ndarray | None = None
    #: Per-operator overhead inside ``latency``, (n, 2) (None: ``t_launch`` for every operator).
    launch: np.ndarray | None = None
    #: The ``tf32`` switch the FP32 kernels were predicted under ("conv", "all" or "none").
    tf32: str = "conv"
    #: Per-operator host issue time, (n, 2) (None: ``t_dispatch[d] · max(1, kernels)``).
    dispatch: np.ndarray | None = None
    #: Index into :data:`KERNELS` of the kernel chosen per operator and device, (n, 2) int8
    #: (None: from ``sparse`` — csr where set, else dense). ``sparse`` is ``kernel == 1``.
    kernel: np.ndarray | None = None

    @property
    def kernels_chosen(self) -> np.ndarray:
        """The chosen kernel's index into :data:`KERNELS`, (n, 2) int8."""
        if self.kernel is not None:
            return self.kernel
        return self.sparse.astype(np.int8)

    @property
    def act_sparse(self) -> np.ndarray:
        """Where the activation-sparse kernel is chosen, (n, 2) bool."""
        return self.kernels_chosen == KERNELS.index("act_sparse")

    @property
    def cpu(self) -> np.ndarray:
        """Latency on the CPU, (n,)."""
        return self.latency[:, 0]

    @property
    def gpu(self) -> np.ndarray:
        """Latency on the GPU, (n,)."""
        return self.latency[:, 1]

    def __len__(self) -> int:
        return int(self.latency.shape[0])


def bytes_scale(precision: str, elem_bytes: float = 4.0) -> float:
    """Factor from byte counts taken at ``elem_bytes`` per value to bytes at ``precision``."""
    if precision not in PRECISION_BYTES:
        raise ProfileError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    return PRECISION_BYTES[precision] / elem_bytes


def roofline(t_compute: np.ndarray, t_memory: np.ndarray, sharpness: np.ndarray | float = 0.0) -> np.ndarray:
    """Combine compute and memory time: ``max`` where sharpness is 0, else the p-norm, p = 1/s.

    ``sharpness`` broadcasts against the last axis (one per device). Non-decreasing in both times.
    """
    hard = np.maximum(t_compute, t_memory)
    s = np.asarray(sharpness, dtype=float)
    soft_on = s > _MIN_SHARPNESS  # below it the p-norm equals the max to < 1e-6 relative
    if not np.any(soft_on):
        return hard
    p = 1.0 / np.where(soft_on, s, 1.0)
    safe = np.where(hard > 0, hard, 1.0)
    soft = hard * ((t_compute / safe) ** p + (t_memory / safe) ** p) ** (1.0 / p)
    return np.where(soft_on, soft, hard)


def _pair(value: float | Sequence[float], name: str, lo: float, hi: float, lo_incl: bool, hi_incl: bool) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    a = np.broadcast_to(a, (2,)) if a.ndim == 0 else a
    if a.shape != (2,):
        raise ValueError(f"{name} must be a number or a (cpu, gpu) pair, got shape {a.shape}")
    ok_lo = a >= lo if lo_incl else a > lo
    ok_hi = a <= hi if hi_incl else a < hi
    if not np.all(ok_lo & ok_hi & np.isfinite(a)):
        rng = f"{'[' if lo_incl else '('}{lo:g}, {hi:g}{']' if hi_incl else ')'}"
        raise ValueError(f"{name} must lie in {rng} for each device, got {a.tolist()}")
    return np.array(a, dtype=float)


def _batch(batch: float | np.ndarray, n: int) -> np.ndarray | float:
    b = np.asarray(batch, dtype=float)
    if b.ndim == 0:
        if not (np.isfinite(b) and b > 0):
            raise ValueError(f"batch must be a positive number, got {batch!r}")
        return float(b)
    if b.shape == (n,):
        b = b[:, None]
    elif b.shape != (n, 2) and b.shape != (n, 1):
        raise ValueError(f"batch must be a scalar or have shape ({n},) or ({n}, 2), got {b.shape}")
    if not np.all(np.isfinite(b) & (b > 0)):
        raise ValueError("batch must be positive and finite everywhere")
    return b


def _per_kind(platform: Platform) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(14, 2) dense efficiency, CSR-kernel and activation-sparse-kernel availability per kind and device."""
    eta = np.array([platform.cpu.latency.eta, platform.gpu.latency.eta], dtype=float).T
    ok = np.zeros((len(KINDS), 2), dtype=bool)
    act = np.zeros((len(KINDS), 2), dtype=bool)
    for j, dev in enumerate(platform.devices):
        for k in dev.latency.sparse_kinds:
            ok[KINDS.index(OpKind(k)), j] = True
        for k in dev.latency.act_kinds:
            act[KINDS.index(OpKind(k)), j] = True
    return eta, ok, act


def choose_kernel(times: Sequence[np.ndarray], available: Sequence[np.ndarray | bool]) -> np.ndarray:
    """The one kernel rule: per entry, the index of the fastest available kernel (ties: the earlier).

    ``times[i]`` / ``available[i]`` are kernel i's predicted latency and availability (kernel 0,
    dense, is always available); the twin (:func:`predict`) and the executor
    (``real.run.cpu_kernels`` through :func:`predict`) both choose through it.
    """
    if len(times) != len(available) or not times:
        raise ValueError(f"choose_kernel: need one availability per kernel time, got {len(times)} and {len(available)}")
    best_t = np.asarray(times[0], dtype=float)
    best = np.zeros(best_t.shape, dtype=np.int8)
    for i in range(1, len(times)):
        better = np.asarray(available[i], dtype=bool) & (np.asarray(times[i], dtype=float) < best_t)
        best = np.where(better, np.int8(i), best)
        best_t = np.where(better, times[i], best_t)
    return best


def _parallel(ops: OpArrays, b: np.ndarray | float, slots: np.ndarray) -> np.ndarray:
    """Wave efficiency π, (n, 2): ``x / ceil(x)`` with ``x = b·units / slots``."""
    x = np.maximum(ops.units[:, None] * b, 1.0) / slots
    return x / np.ceil(x)


def wave_efficiency(platform: Platform, ops: OpArrays, batch: float | np.ndarray = 1,
                    mode: str | PowerMode | None = None) -> np.ndarray:
    """π of every operator on both devices, (n, 2): the wave term of ``predict`` (residual feature)."""
    m = platform.mode(mode)
    slots = np.array([m.units(d) * dev.latency.lanes for d, dev in zip(DEVICE_KINDS, platform.devices)])
    return _parallel(ops, _batch(batch, len(ops)), slots)


def _residual_factor(devs: Sequence[DeviceSpec], ops: OpArrays, b: np.ndarray | float, par: np.ndarray,
                     scale: float) -> np.ndarray | None:
    """``exp(r)`` per operator and device where a device has a residual (1 elsewhere); None if none has."""
    if all(dev.latency.residual is None for dev in devs):
        return None
    out = np.ones(par.shape)
    for j, dev in enumerate(devs):
        res = dev.latency.residual
        if res is not None:
            bj = b if np.ndim(b) == 0 else b[:, min(j, b.shape[1] - 1)]
            out[:, j] = np.exp(res.log_factor(ops, bj, par[:, j], scale))
    return out


def _act_cache_terms(devs: Sequence[DeviceSpec]) -> tuple[np.ndarray, np.ndarray]:
    """(C bytes, µ s/byte) of the activation-sparse kernel's cache term per device (0, 0: none).

    Read with defaults so that a ``LatencyParams`` without the optional fields means no term.
    """
    cache = np.array([float(getattr(dev.latency, "act_cache", 0.0)) for dev in devs])
    miss = np.array([float(getattr(dev.latency, "act_miss", 0.0)) for dev in devs])
    return cache, miss


def _act_row_stall(devs: Sequence[DeviceSpec], ops: OpArrays, work_a: np.ndarray, keep: np.ndarray, scale: float,
                   act_reuse: float | np.ndarray | None) -> np.ndarray | None:
    """Seconds the activation-sparse kernel waits for operand rows from beyond the cache, (n, 2);
    None where no device has the term (module docstring)."""
    cache, miss = _act_cache_terms(devs)
    if not np.any(miss > 0):
        return None
    if act_reuse is None:
        act_reuse = getattr(ops, "act_reuse", None)
    rho = np.asarray(0.0 if act_reuse is None else act_reuse, dtype=float)
    if rho.ndim not in (0, 1) or (rho.ndim == 1 and rho.shape != (len(ops),)):
        raise ValueError(f"act_reuse must be a number or have shape ({len(ops)},), got shape {rho.shape}")
    if not np.all((rho >= 0.0) & (rho <= 1.0)):
        raise ValueError(f"act_reuse must lie in [0, 1], got {rho.tolist()}")
    rho = rho[:, None] if rho.ndim == 1 else rho
    operand = np.where(ops.bytes_w > 0, ops.bytes_w, ops.bytes_in)[:, None] * scale
    cold = np.clip(1.0 - cache / np.maximum(operand, 1e-30), 0.0, 1.0)
    warm = np.clip(1.0 - cache / np.maximum(operand * keep, 1e-30), 0.0, 1.0)
    out_of_cache = rho * warm + (1.0 - rho) * cold
    return out_of_cache * (work_a / 2.0 * ops.elem_bytes * scale) * miss


def predict(platform: Platform, ops: OpArrays, batch: float | np.ndarray = 1, mode: str | PowerMode | None = None,
            precision: str = "fp32", load: float | Sequence[float] = (0.0, 0.0),
            contention: float | Sequence[float] = (1.0, 1.0), kernel: str = "auto",
            tf32: str | None = None, act_reuse: float | np.ndarray | None = None) -> Prediction:
    """Latency of every operator on the CPU and the GPU (one numpy pass; see module docstring).

    Args:
        platform: the hardware profile.
        ops: per-operator features.
        batch: samples per operator: a scalar, (n,) or (n, 2) (e.g. the shares of a split batch).
        mode: power mode name, alias or :class:`PowerMode` (None = the profile's default).
        precision: ``"fp32"`` (TF32 tensor cores for the kinds ``tf32`` names) or ``"fp16"``
            (tensor cores for conv/linear/matmul/attention on a GPU that has them, the plain FP16
            rate elsewhere); ``"fp16_tc"`` is an alias of ``"fp16"``.
        load: background load ℓ per device in [0, 1): the share of the device other tenants take.
        contention: bandwidth factor c per device in (0, 1] (see ``contention.bandwidth_shares``).
        kernel: ``"auto"`` (the fastest of dense, CSR and activation-sparse: :func:`choose_kernel`),
            or ``"dense"`` / ``"sparse"`` (CSR) / ``"act_sparse"`` to force one (a sparse kernel only
            where the kind has it on that device) — e.g. to calibrate a sparse kernel against measurements.
        tf32: "conv" / "all" / "none" (see ``platform.TF32_KINDS``); None = the platform's.
        act_reuse: ρ in [0, 1], scalar or (n,): how far each operator's pattern of non-zero inputs
            repeats across inputs (the activation-sparse kernel's cache term; module docstring);
            None: the operators' own ``act_reuse`` where ``ops`` carries one, else 0.
    """
    tf32 = platform.tf32 if tf32 is None else tf32
    if tf32 not in TF32_MODES:
        raise ValueError(f"tf32 must be one of {', '.join(TF32_MODES)}, got {tf32!r}")
    if kernel not in KERNEL_OPTIONS:
        raise ValueError(f"kernel must be one of {', '.join(map(repr, KERNEL_OPTIONS))}, got {kernel!r}")
    m = platform.mode(mode)
    scale = bytes_scale(precision, ops.elem_bytes)
    load_a = _pair(load, "load", 0.0, 1.0, True, False)
    cont_a = _pair(contention, "contention", 0.0, 1.0, False, True)
    n = len(ops)
    b = _batch(batch, n)
    devs = platform.devices

    # Per-device constants, shape (2,). ``peak``: the plain rate (CUDA cores / CPU vector units),
    # ``tc_peak`` the tensor-core rate the kinds in ``tc_mask`` reach (equal to ``peak`` on a CPU).
    plain = "fp16" if precision == "fp16_tc" else precision
    peak = np.array([platform.peak_flops(d, m, plain) for d in DEVICE_KINDS])
    tc_rate, tc_mask = ("fp16_tc", _TC_MASK) if plain == "fp16" else ("tf32", _TF32_MASKS[tf32])
    tc_peak = np.array([platform.peak_flops(d, m, tc_rate) for d in DEVICE_KINDS])
    slots = np.array([m.units(d) * dev.latency.lanes for d, dev in zip(DEVICE_KINDS, devs)])
    bw = np.array([platform.mem_bw(d, m) for d in DEVICE_KINDS]) * cont_a
    ovh = platform.overhead_scale(m)
    t_launch = np.array([dev.latency.t_launch for dev in devs]) * ovh
    kern = ops.kernels if ops.kernels is not None else np.ones(n)
    launch = np.stack([t_launch[0] * np.maximum(kern, 1.0), t_launch[1] * kern], axis=1)
    t_dispatch = np.array([dev.latency.t_dispatch for dev in devs]) * ovh
    factor = np.array([dev.latency.dispatch_factor for dev in devs], dtype=float).T  # (kinds, 2)
    dispatch = t_dispatch * factor[ops.kind] * np.maximum(kern, 1.0)[:, None]
    sharp = np.array([dev.latency.sharpness for dev in devs])
    eta_k, sparse_ok_k, act_ok_k = _per_kind(platform)

    k = ops.kind
    flops_b = ops.flops[:, None] * b
    act_bytes = (ops.bytes_in + ops.bytes_out)[:, None] * (b * scale)
    w_bytes = (ops.bytes_w * scale)[:, None]
    par = _parallel(ops, b, slots)
    base_rate = eta_k[k] * par * (1.0 - load_a)  # fraction of peak actually reached, (n, 2)
    # (n, 2) shape-feature correction, or None. Its features are the operator's at batch 1 in the
    # platform's default mode: a constant factor per operator and device, so batch, power mode,
    # load and contention act through the roofline alone and latency stays monotone in each
    # (a fitted slope of either sign on work or traffic could otherwise make a layer faster at a
    # larger batch, or in a lower power mode).
    corr = None
    if any(dev.latency.residual is not None for dev in devs):
        corr = _residual_factor(devs, ops, 1.0, wave_efficiency(platform, ops, 1.0, None), scale)

    dense_peak = np.where(tc_mask[k][:, None], tc_peak, peak)
    # A sparse (CSR) kernel runs on the plain units (cuSPARSE-class on CUDA cores), and no faster
    # than the dense rate of its kind (the CPU's FP16 GEMM path is far below its NEON rate).
    sparse_peak = np.minimum(peak, dense_peak)
    tc_d = flops_b / (dense_peak * base_rate)
    beta = np.array([dev.latency.conv_size_beta for dev in devs])
    if np.any(beta != 0.0):  # the conv size term, at the operator's batch-1 FLOPs (a constant per operator)
        tc_d = tc_d * conv_size_factor(ops.flops[:, None], (k == _CONV_CODE)[:, None], beta)
    tm_d = (act_bytes + w_bytes) / bw
    if corr is not None:
        tc_d, tm_d = tc_d * corr, tm_d * corr
    t_d = roofline(tc_d, tm_d, sharp)
    shape = t_d.shape
    work = np.broadcast_to(flops_b, shape)
    nbytes = np.broadcast_to(act_bytes + w_bytes, shape)
    tc, tm, t = tc_d, tm_d, t_d

    sparse_ok = sparse_ok_k[k]
    act_ok = act_ok_k[k]
    chosen = np.zeros(shape, dtype=np.int8)
    times: list[np.ndarray] = [t_d]
    avail: list[np.ndarray] = [np.ones(shape, dtype=bool)]
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [(tc_d, tm_d, work, nbytes)]
    g_a = np.array([dev.latency.g_a for dev in devs])
    if sparse_ok.any() and kernel in ("auto", "sparse"):
        g_w = np.array([dev.latency.g_w for dev in devs])
        # g_a is the activation-sparse kernel's where a device has one; the CSR kernel skips no activations then
        g_a_csr = np.where(act_ok_k.any(axis=0), 0.0, g_a)
        s_eta = np.array([dev.latency.sparse_eta for dev in devs])
        idx = np.array([dev.latency.csr_index_overhead for dev in devs])
        ws = ops.w_sparsity[:, None]
        work_s = flops_b * (1.0 - g_w * ws) * (1.0 - g_a_csr * ops.act_sparsity[:, None])
        tc_s = work_s / (sparse_peak * base_rate * s_eta)
        # values at the simulated precision, indices as stored (relative to the graph's elem_bytes)
        bytes_s = act_bytes + ops.bytes_w[:, None] * (1.0 - ws) * (scale + idx)
        tm_s = bytes_s / bw
        if corr is not None:
            tc_s, tm_s = tc_s * corr, tm_s * corr
        times.append(roofline(tc_s, tm_s, sharp))
        avail.append(sparse_ok if kernel == "auto" else sparse_ok.copy())
        parts.append((tc_s, tm_s, work_s, bytes_s))
    act_launch = np.array([dev.latency.act_launch for dev in devs]) * ovh
    if act_ok.any() and kernel in ("auto", "act_sparse"):
        a_eta = np.array([dev.latency.act_eta for dev in devs])
        gather = np.array([dev.latency.act_gather for dev in devs])
        keep = 1.0 - g_a * ops.act_sparsity[:, None]
        work_a = flops_b * keep
        elems = ops.bytes_in[:, None] * b / ops.elem_bytes
        # a sparse loop at its own share of the plain peak (no GEMM tiling, no waves of outputs), plus the gather
        tc_a = (work_a / a_eta + gather * elems) / (sparse_peak * (1.0 - load_a))
        stall = _act_row_stall(devs, ops, work_a, keep, scale, act_reuse)
        if stall is not None:
            tc_a = tc_a + stall / (1.0 - load_a)
        bytes_a = act_bytes + w_bytes * keep
        tm_a = bytes_a / bw
        if corr is not None:
            tc_a, tm_a = tc_a * corr, tm_a * corr
        while len(times) < 2:  # keep the act kernel at its index when no CSR kernel is evaluated
            times.append(t_d)
            avail.append(np.zeros(shape, dtype=bool))
            parts.append(parts[0])
        t_a = roofline(tc_a, tm_a, sharp)
        times.append(t_a + act_launch)  # chosen on latency: its extra launch counts
        avail.append(act_ok)
        parts.append((tc_a, tm_a, work_a, bytes_a))
    if kernel == "auto" and len(times) > 1:
        chosen = choose_kernel(times, avail)
    elif kernel != "dense" and len(times) > 1:
        forced = 1 if kernel == "sparse" else 2
        if forced < len(times):
            chosen = np.where(avail[forced], np.int8(forced), chosen)
    sparse = chosen == 1
    if chosen.any():
        roof = times[:2] + [t_a] if len(times) > 2 else times  # the act kernel's extra launch goes in ``launch``
        t = np.choose(chosen, [np.broadcast_to(x, shape) for x in roof])
        tc = np.choose(chosen, [np.broadcast_to(p[0], shape) for p in parts])
        tm = np.choose(chosen, [np.broadcast_to(p[1], shape) for p in parts])
        work = np.choose(chosen, [np.broadcast_to(p[2], shape) for p in parts])
        nbytes = np.choose(chosen, [np.broadcast_to(p[3], shape) for p in parts])
        launch = np.where(chosen == 2, launch + act_launch, launch)

    peak32 = np.array([platform.peak_flops(d, m, "fp32") for d in DEVICE_KINDS])
    eps_scale = peak32 / np.where(chosen > 0, sparse_peak, np.broadcast_to(dense_peak, shape))
    return Prediction(
        latency=launch + t,
        t_compute=np.broadcast_to(tc, shape),
        t_memory=np.broadcast_to(tm, shape),
        t_launch=t_launch,
        t_dispatch=t_dispatch,
        work=work,
        bytes=nbytes,
        sparse=sparse,
        load=load_a,
        contention=cont_a,
        sharpness=sharp,
        mode=m.name,
        precision=precision,
        batch=b,
        eps_scale=eps_scale,
        launch=launch,
        tf32=tf32,
        dispatch=dispatch,
        kernel=chosen,
    )


def retime(pred: Prediction, load: float | Sequence[float] | None = None,
           contention: float | Sequence[float] | None = None) -> np.ndarray:
    """Latencies (n, 2) of the same kernels under another background load and/or contention.

    Used by the engine when rates change while operators run (``None`` keeps the prediction's).
    """
    tc, tm = pred.t_compute, pred.t_memory
    if load is not None:
        new = _pair(load, "load", 0.0, 1.0, True, False)
        tc = tc * ((1.0 - pred.load) / (1.0 - new))
    if contention is not None:
        new_c = _pair(contention, "contention", 0.0, 1.0, False, True)
        tm = tm * (pred.contention / new_c)
    launch = pred.t_launch if pred.launch is None else pred.launch
    return launch + roofline(tc, tm, pred.sharpness)
