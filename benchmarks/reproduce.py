"""Did a re-run reproduce the committed results? Each result file against its committed version.

After ``make bench`` (or one ``make bench-NAME``) the files under ``benchmarks/results/`` hold the
new run; this script compares each with the version at ``--ref`` (default ``HEAD``) figure by figure,
within the noise :data:`sparoa_sim.agents.experiments.result_diff.TOLERANCE` gives the file
(exact for computations that do not time this machine, ±25 % for timings; time-limited searches
by their summary), and prints one line per file: reproduced, outside the noise (with the figures
that moved), or not re-run (its provenance date unchanged). Exit 1 when a file is outside its
noise, 2 on bad input (an unknown ref, a file that is not JSON).

    python benchmarks/reproduce.py [FILE ...] [--ref HEAD] [--show 5] [--json-out PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sparoa_sim.agents.experiments.result_diff import diff_results, skip_for, tolerance_for

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SUMMARY_TOLERANCE = 0.25


class InputError(Exception):
    """Bad input: one line for the user, exit 2."""


def committed(path: Path, ref: str) -> Any | None:
    """The document at ``ref`` (None if the file did not exist there)."""
    rel = path.resolve().relative_to(ROOT).as_posix()
    out = subprocess.run(["git", "show", f"{ref}:{rel}"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        if "exists on disk, but not in" in out.stderr or "does not exist in" in out.stderr:
            return None
        raise InputError(f"git show {ref}:{rel}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else 'failed'}")
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError as e:
        raise InputError(f"{rel} at {ref}: not JSON ({e.msg}, line {e.lineno})") from None


def _date(doc: Any) -> Any:
    if isinstance(doc, dict):
        prov = doc.get("provenance")
        if isinstance(prov, dict) and "date" in prov:
            return prov["date"]
        return doc.get("date")
    return None


def compare_file(path: Path, ref: str) -> dict[str, Any]:
    """One file's verdict: ``reproduced``, ``outside noise``, ``not re-run`` or ``new``."""
    try:
        new = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None
    old = committed(path, ref)
    tol = tolerance_for(path.name)
    row: dict[str, Any] = {"file": path.name, "tolerance": tol, "differences": []}
    if old is None:
        return row | {"verdict": "new"}
    if old == new or (_date(old) is not None and _date(old) == _date(new)):
        return row | {"verdict": "not re-run"}
    if tol is None:  # a time-limited search: its summary, within the timing noise
        old, new = (d.get("summary", d) if isinstance(d, dict) else d for d in (old, new))
        tol, row["compared"] = SUMMARY_TOLERANCE, "summary"
    diffs = diff_results(old, new, rtol=tol, skip=skip_for(path.name))
    row["differences"] = [d.describe() for d in diffs]
    return row | {"verdict": "reproduced" if not diffs else "outside noise"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="result files (default: every benchmarks/results/*.json)")
    ap.add_argument("--ref", default="HEAD", help="the committed version to compare with (default HEAD)")
    ap.add_argument("--show", type=int, default=5, help="figures listed per file that moved (default 5)")
    ap.add_argument("--json-out", type=Path, help="also write the verdicts as JSON here")
    args = ap.parse_args(argv)
    files = args.files or sorted(RESULTS.glob("*.json"))
    try:
        rows = [compare_file(f, args.ref) for f in files]
    except InputError as e:
        print(f"reproduce: {e}", file=sys.stderr)
        return 2
    width = max((len(r["file"]) for r in rows), default=4)
    print(f"{'file':<{width}}  {'noise':>7}  verdict")
    for r in rows:
        tol = "search" if r["tolerance"] is None else ("exact" if r["tolerance"] == 0 else f"±{r['tolerance']:.0%}")
        n = len(r["differences"])
        extra = f" ({n} figure{'s' if n != 1 else ''})" if n else ""
        print(f"{r['file']:<{width}}  {tol:>7}  {r['verdict']}{extra}")
        for d in r["differences"][:max(0, args.show)]:
            print(f"{'':<{width}}           {d}")
    rerun = [r for r in rows if r["verdict"] in ("reproduced", "outside noise")]
    bad = [r["file"] for r in rows if r["verdict"] == "outside noise"]
    print(f"re-run and compared: {len(rerun)} of {len(rows)}; outside the noise: {', '.join(bad) if bad else 'none'}")
    if args.json_out:
        tmp = args.json_out.with_name(args.json_out.name + ".tmp")
        tmp.write_text(json.dumps({"ref": args.ref, "files": rows}, indent=1), encoding="utf-8")
        tmp.replace(args.json_out)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
