"""Write a ``fit_published_overheads.py`` result into the Jetson profiles' GPU tables (a profile revision).

The fitted GPU values — ``lanes``, ``eta`` of the kinds the fit frees (conv, dwconv, attention), the per-kind
``dispatch_factor`` of the kinds with enough nodes, and ``conv_size_beta`` where the fit held or fitted one —
replace those of every ``jetson-*.toml`` in the profiles folder (the AGX Orin 64GB's own, transferred to the
others as their notes say), with the notes' h figures updated. Everything else is left as written.

    python benchmarks/fit_published_overheads.py --conv-size gemm -o /tmp/fit.json
    python benchmarks/apply_published_fit.py /tmp/fit.json [--profiles DIR]
    python benchmarks/published.py      # the published-latency check on the revised profiles

Every Jetson scheduling result depends on these values: after a revision the oracle, scenario and demo
benchmarks must be re-run (docs/jetson-profiles.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "hwmodels" / "profiles"
_FIT_TAG = "fitted by benchmarks/fit_published_overheads.py"
_LINE = re.compile(r"^(\w+) = \{ value = ([^,]+), (.*)$")


def _num(v: float) -> str:
    s = f"{v:.4g}"
    return s if any(c in s for c in ".e") else s + ".0"


def beta_note(conv_size: dict[str, Any]) -> str:
    """The provenance note of ``conv_size_beta`` (where β comes from; never a model's figure)."""
    per = ", ".join(f"{k} {v:+.2f}" for k, v in conv_size["gemm_beta_per"].items())
    how = ("the median over six (mode, precision) estimates ({per}) of the log-log slope, minus 1, of (time − the 128³ "
           "floor) against 2n³ for n = 512, 1024, 2048 in the same board's PyTorch GEMM sweep ({src}); taken from GEMMs, "
           "not fitted to any model" if conv_size["how"] == "gemm" else
           "fitted with the host costs and efficiencies to the per-node times")
    return (f"β of the dense convolution's size term (compute time × (FLOPs/1e8)^β, clip ×/÷ 4; hwmodels.latency): "
            + how.format(per=per, src=conv_size["gemm_source"])
            + f"; this table's η, lanes and host costs are fitted with it (fit_published_overheads.py --conv-size "
              f"{conv_size['how']})")


def revise(text: str, fit: dict[str, Any]) -> str:
    """``text`` (one profile's TOML) with the fit's GPU values written in (module docstring)."""
    kinds = {k["kind"]: k for k in fit["kinds"]}
    cs = fit.get("conv_size") or {"how": "off", "beta": 0.0}
    beta = float(cs["beta"]) if cs["how"] != "off" else 0.0
    flag = f"{_FIT_TAG} --conv-size {cs['how']} (train" if cs["how"] != "off" else f"{_FIT_TAG} (train"
    out: list[str] = []
    section = None
    for line in text.split("\n"):
        head = re.match(r"^\[(.+)\]\s*$", line)
        section = head.group(1) if head else section
        m = _LINE.match(line)
        if m and section and section.startswith("gpu.latency"):
            key, rest = m.group(1), m.group(3)
            rest = re.sub(re.escape(_FIT_TAG) + r"(?: --conv-size \w+)? \(train", flag, rest)
            k = kinds.get(key, {})
            if section == "gpu.latency" and key == "conv_size_beta":
                continue  # rewritten after noise_sigma below (or dropped when the fit has no term)
            if section == "gpu.latency" and key == "lanes":
                line = f"lanes = {{ value = {float(fit['lanes']):.1f}, {rest}"
            elif section == "gpu.latency.eta" and k.get("eta") is not None:
                line = f"{key} = {{ value = {_num(float(k['eta']))}, {rest}"
            elif section == "gpu.latency.dispatch_factor" and k.get("dispatch_factor") is not None:
                rest = re.sub(r"h = [0-9.]+ ms·GHz", f"h = {float(k['h_ms_ghz']):.3f} ms·GHz", rest)
                line = f"{key} = {{ value = {float(k['dispatch_factor']):.3f}, {rest}"
            else:
                line = f"{key} = {{ value = {m.group(2)}, {rest}"
        out.append(line)
        if section == "gpu.latency" and line.startswith("noise_sigma = ") and beta != 0.0:
            out.append(f'conv_size_beta = {{ value = {beta:.4f}, origin = "derived", note = "{beta_note(cs)}" }}')
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fit", type=Path, help="JSON written by benchmarks/fit_published_overheads.py")
    ap.add_argument("--profiles", type=Path, default=PROFILES, help="folder of jetson-*.toml (default: %(default)s)")
    args = ap.parse_args(argv)
    from sparoa_sim.hwmodels import ProfileError
    from sparoa_sim.hwmodels.profile_io import parse_platform
    from sparoa_sim.hwmodels.fileio import atomic_write_text

    try:
        fit = json.loads(args.fit.read_text(encoding="utf-8"))
        float(fit["lanes"]), [(k["kind"], k["eta"], k["dispatch_factor"], k["h_ms_ghz"]) for k in fit["kinds"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"apply_published_fit.py: {args.fit}: not a fit_published_overheads result ({exc})", file=sys.stderr)
        return 2
    paths = sorted(args.profiles.glob("jetson-*.toml"))
    if not paths:
        print(f"apply_published_fit.py: {args.profiles}: no jetson-*.toml", file=sys.stderr)
        return 2
    revised = {p: revise(p.read_text(encoding="utf-8"), fit) for p in paths}
    for p, text in revised.items():  # check every revision loads before writing any
        try:
            parse_platform(text, str(p), default_name=p.stem)
        except ProfileError as exc:
            print(f"apply_published_fit.py: the revision of {p.name} does not load: {exc}", file=sys.stderr)
            return 2
    for p, text in revised.items():
        atomic_write_text(p, text)
        print(f"revised {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
