"""The measuring device's state: what decides how fast it runs today (docs/architecture.md §7).

:func:`device_state` gathers torch/CUDA/cuDNN versions, the GPU (integrated or not), the TF32
switches, and on a Jetson the model, L4T/JetPack release, nvpmodel power mode, clocks
(``jetson_clocks --show`` where it runs), tegrastats' rails and total, plus the energy meters and
the CPU frequency governor. :func:`state_warnings` lists each item that will skew measurements.
Every probe is optional: a missing file or tool is recorded as None / a reason, never an error.
``sparoa doctor`` prints it; ``profile`` and ``validate`` store it with their results.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch

from sparoa_sim.real.measure.meters import detect_meters, parse_tegrastats
from sparoa_sim.real.measure.precision import tf32_flags
from sparoa_sim.real.measure.tegra_rails import board_power

__all__ = ["device_state", "state_warnings"]

_L4T_RE = re.compile(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")
#: L4T major release → JetPack major (NVIDIA's release pages: R32 = JetPack 4, R35 = 5, R36 = 6, R38/39 = 7).
_JETPACK = {"32": "4", "34": "5 (developer preview)", "35": "5", "36": "6", "38": "7", "39": "7"}


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip("\x00\n ")
    except OSError:
        return None


def _run(cmd: list[str], timeout: float = 5.0) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout + out.stderr).strip() or None


def _tegrastats_line(timeout: float = 3.0) -> str | None:
    """One line of ``tegrastats`` (started, read, stopped), or None."""
    exe = shutil.which("tegrastats")
    if exe is None:
        return None
    try:
        proc = subprocess.Popen([exe, "--interval", "200"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
    except OSError:
        return None
    try:
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        return proc.stdout.readline().strip() if sel.select(timeout) else None  # type: ignore[union-attr]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()


def _cpu_freqs() -> dict[str, Any]:
    base = Path("/sys/devices/system/cpu")
    govs, cur, mx = set(), [], []
    for d in sorted(base.glob("cpu[0-9]*/cpufreq")):
        g = _read(d / "scaling_governor")
        if g:
            govs.add(g)
        for name, lst in (("scaling_cur_freq", cur), ("cpuinfo_max_freq", mx)):
            v = _read(d / name)
            if v and v.isdigit():
                lst.append(int(v) * 1000)
    return {"cpu_governor": sorted(govs) or None, "cpu_cur_hz": cur or None, "cpu_max_hz": mx or None}


def _gpu_freqs() -> dict[str, Any]:
    """Jetson GPU devfreq (the 17000000.ga10b / 17000000.gv11b / 57000000.gpu node)."""
    for d in sorted(Path("/sys/class/devfreq").glob("*")):
        name = _read(d / "device/of_node/name") or d.name
        if "gpu" in name or d.name.endswith((".ga10b", ".gv11b", ".gp10b", ".gpu")):
            cur, mx, gov = _read(d / "cur_freq"), _read(d / "max_freq"), _read(d / "governor")
            return {"gpu_devfreq": str(d), "gpu_cur_hz": int(cur) if cur and cur.isdigit() else None,
                    "gpu_max_hz": int(mx) if mx and mx.isdigit() else None, "gpu_governor": gov}
    return {"gpu_devfreq": None, "gpu_cur_hz": None, "gpu_max_hz": None, "gpu_governor": None}


def device_state(probe_tegrastats: bool = True) -> dict[str, Any]:
    """Everything :mod:`this module <sparoa_sim.real.measure.device_state>` looks at, JSON-able."""
    cuda = torch.cuda.is_available()
    st: dict[str, Any] = {
        "torch": torch.__version__, "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": cuda, "gpu_name": None, "gpu_integrated": None, "gpu_capability": None,
        **tf32_flags(), "machine": platform.machine(),
    }
    if cuda:
        props = torch.cuda.get_device_properties(0)
        st.update(gpu_name=props.name, gpu_integrated=bool(props.is_integrated),
                  gpu_capability=f"{props.major}.{props.minor}")
    model = _read("/proc/device-tree/model")
    release = _read("/etc/nv_tegra_release")
    jetson = release is not None or (model is not None and "jetson" in model.lower())
    st.update(jetson=jetson, jetson_model=model if jetson else None, l4t=None, jetpack=None)
    if release:
        m = _L4T_RE.search(release)
        if m:
            st["l4t"] = f"R{m.group(1)}.{m.group(2)}"
            st["jetpack"] = _JETPACK.get(m.group(1))
    nv = _run(["nvpmodel", "-q"]) if jetson else None
    st["nvpmodel"] = nv.splitlines()[0].replace("NV Power Mode:", "").strip() if nv else None
    show = _run(["jetson_clocks", "--show"]) if jetson else None
    st["jetson_clocks_show"] = show
    st.update(_cpu_freqs())
    st.update(_gpu_freqs() if jetson else {"gpu_devfreq": None, "gpu_cur_hz": None, "gpu_max_hz": None,
                                           "gpu_governor": None})
    st["tegrastats"] = shutil.which("tegrastats")
    line = _tegrastats_line() if (probe_tegrastats and st["tegrastats"]) else None
    rails = parse_tegrastats(line) if line else {}
    total = board_power(rails) if rails else None
    st["tegrastats_rails"] = sorted(rails) or None
    st["tegrastats_total_w"] = None if total is None else total.watts
    st["tegrastats_total_rule"] = None if total is None or total.watts is None else "+".join(total.rails)
    st["tegrastats_reason"] = None if total is None else (total.reason or None)
    st["energy_meters"] = {k: {"available": m.available, "reason": m.reason} for k, m in detect_meters().items()}
    return st


def state_warnings(st: dict[str, Any]) -> list[str]:
    """One line per item of ``st`` that will skew measurements."""
    out: list[str] = []
    if not st.get("jetson"):
        out.append("not a Jetson: the twin's Jetson profiles are not this machine (compare with the 'host' profile)")
    if st.get("cuda_available") and st.get("cudnn_allow_tf32"):
        out.append("cuDNN TF32 is on (PyTorch's default): fp32 convolutions run in TF32 — record --tf32, or "
                   "use --tf32 none for full FP32")
    if st.get("matmul_allow_tf32"):
        out.append("matmul TF32 is on: fp32 linear/matmul run in TF32")
    govs = st.get("cpu_governor") or []
    if any(g != "performance" for g in govs):
        out.append(f"CPU governor {', '.join(govs)} (not performance): clocks move under load")
    cur, mx = st.get("cpu_cur_hz"), st.get("cpu_max_hz")
    if cur and mx and min(cur) < 0.9 * max(mx):
        out.append(f"CPU clocks below max ({min(cur) / 1e6:.0f} of {max(mx) / 1e6:.0f} MHz)")
    if st.get("jetson"):
        if st.get("nvpmodel") is None:
            out.append("nvpmodel mode unknown (nvpmodel -q failed): the twin's mode cannot be matched")
        if st.get("jetson_clocks_show") is None:
            out.append("jetson_clocks --show did not run (needs sudo): clocks may be scaling (run sudo jetson_clocks)")
        g, gm = st.get("gpu_cur_hz"), st.get("gpu_max_hz")
        if g and gm and g < 0.9 * gm:
            out.append(f"GPU clock below max ({g / 1e6:.0f} of {gm / 1e6:.0f} MHz): run sudo jetson_clocks")
        if st.get("tegrastats") is None:
            out.append("tegrastats not on PATH: no module energy")
        elif st.get("tegrastats_reason"):
            out.append(f"tegrastats gives no module total: {st['tegrastats_reason']}")
    if not any(v.get("available") for v in (st.get("energy_meters") or {}).values()):
        out.append("no energy meter: energy figures will be null")
    return out
