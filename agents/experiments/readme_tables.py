"""The README's "What we measured" table, generated from the committed result files (issue 24).

Every row is built from one JSON file under ``benchmarks/results/`` and names it, the command that
wrote it and where and when it ran (the file's ``provenance`` record:
``agents.experiments.provenance``), so each figure can be traced to a run. The README keeps the
table between :data:`BEGIN` and :data:`END`; ``tests/benchmarks/test_measured_table.py`` fails
when the two disagree. Regenerate with ``python -m sparoa_sim.agents.experiments.readme_tables``
(prints the block; ``--write README.md`` replaces it in place).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparoa_sim.errors import SparOAError

__all__ = ["BEGIN", "END", "MeasuredRow", "ResultFileError", "measured_rows", "measured_table", "replace_block"]

BEGIN = "<!-- measured:begin -->"
END = "<!-- measured:end -->"
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


#: Environment variables shown in front of a command (they change the timings, not the figures' meaning).
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


class ResultFileError(SparOAError, ValueError):
    """A result file behind a README row is missing, unreadable or lacks a field the row needs."""


@dataclass(frozen=True)
class MeasuredRow:
    """One table row: what was measured, the figures, the command and the result file behind them."""

    what: str
    result: str
    command: str
    source: str

    def markdown(self) -> str:
        cells = (self.what, self.result, f"`{self.command}`", self.source)
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


class _Doc:
    """A result file's JSON with field access that names the file and the field when one is missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ResultFileError(f"{path}: result file missing (run the benchmark that writes it)") from None
        except (OSError, ValueError) as exc:
            raise ResultFileError(f"{path}: unreadable result file: {exc}") from None
        if not isinstance(self.data, dict):
            raise ResultFileError(f"{path}: a result file must hold a JSON object, got {type(self.data).__name__}")

    def get(self, *keys: str | int) -> Any:
        v: Any = self.data
        for k in keys:
            try:
                v = v[k]
            except (KeyError, IndexError, TypeError):
                field = ".".join(map(str, keys))
                raise ResultFileError(f"{self.path}: field '{field}' missing") from None
        return v

    def num(self, *keys: str | int) -> float:
        v = self.get(*keys)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ResultFileError(f"{self.path}: field '{'.'.join(map(str, keys))}' must be a finite number, got {v!r}")
        return float(v)

    def source(self) -> str:
        """The file, its commit (with "+changes" for a dirty tree), date and machine."""
        p = self.get("provenance")
        commit = (p.get("git_commit") or "unknown")[:7] + ("+changes" if p.get("git_dirty") else "")
        m = p.get("machine") or {}
        load = m.get("loadavg")
        machine = f"{m.get('cores', '?')}-core {m.get('cpu_model') or m.get('machine', '?')}"
        extra = f", load {load[0]:.1f}" if load else ""
        return (f"`benchmarks/results/{self.path.name}` ({commit}, {str(p.get('date', '?'))[:10]}, {machine}, "
                f"torch {m.get('torch') or '–'}{extra})")

    def command(self) -> str:
        """The command as run, with the thread-count variables it was run under."""
        env = self.get("provenance").get("env") or {}
        pre = "".join(f"{k}={env[k]} " for k in _THREAD_ENV if k in env)
        return pre + str(self.get("provenance", "command"))


def _pct(v: float, signed: bool = False) -> str:
    return f"{v * 100:+.1f} %" if signed else f"{v * 100:.1f} %"


def predictor_rows(d: _Doc) -> list[MeasuredRow]:
    """Threshold predictor: held-out families beside in sample, against the best constant."""
    per = d.get("per_model")
    kept = d.get("model")
    others = ", ".join(f"{m} {_pct(float(v))}" for m, v in per.items() if m != kept) or "the only model trained"
    fams = ", ".join(d.get("held_out_families"))
    a = d.get("args")
    size = "quick form" if a.get("quick") else f"{a['synthetic']} synthetic graphs, {a['contexts']} contexts, " \
                                               f"{a['epochs']} epochs"
    res = (f"held out (families {fams}, with every pruned variant, + unseen synthetic graphs): mean regret "
           f"{_pct(d.num('regret_mean'))} ({kept}; {others}), worst {_pct(d.num('regret_max'))}, best constant "
           f"thresholds {_pct(d.num('constant_regret_mean'))}; in sample (the training surfaces): "
           f"{_pct(d.num('train_regret_mean'))}, constant {_pct(d.num('constant_train_regret_mean'))}; "
           f"target ≤ {_pct(d.num('target_regret'))} held out: {'met' if d.get('met') else 'missed'}")
    return [MeasuredRow(f"threshold predictor ({size})", res, d.command(), d.source())]


def _e2e(s: dict[str, Any], n_label: str) -> str:
    misses = ", ".join(s["misses"]) or "none"
    return (f"{n_label}: mean |error| {_pct(s['mean'])}, worst {s['worst']} {_pct(s['max'])}, "
            f"{round(s['within'] * s['n'])} of {s['n']} within 5 % (misses: {misses})")


def calibration_rows(d: _Doc) -> list[MeasuredRow]:
    """Twin vs this CPU: end to end (held out by family and in sample), per operator, graph context."""
    e2e = d.get("end_to_end")
    profiled = sorted({r["family"] for r in e2e if r.get("family_profiled")})
    never = sorted({r["family"] for r in e2e if not r.get("family_profiled")})
    mode = "quick form" if d.get("quick") else f"{len(d.get('workloads_profiled'))} models profiled"
    res = (_e2e(d.get("e2e_held_out"), "held out (leave one family out)") + "; "
           + _e2e(d.get("e2e_in_sample"), "in sample") + f". Fitted on {', '.join(profiled)}"
           + (f"; {', '.join(never)} never profiled, so held out in both" if never else ""))
    rows = [MeasuredRow(f"twin vs this CPU, CPU-only end to end, {len(e2e)} workloads ({mode}, "
                        f"{d.num('budget_s'):g} s each, {d.get('clock')} clock)", res, d.command(), d.source())]
    ho = d.get("held_out")
    per_op = (f"in the graph: {_pct(d.num('held_out', 'within_10pct'))} within ±10 % (median error "
              f"{_pct(d.num('held_out', 'median_error'))})")
    iso = d.get("held_out_isolated")
    if iso is not None:
        per_op += (f"; kernels timed alone: {_pct(d.num('held_out_isolated', 'within_10pct'))} (median "
                   f"{_pct(d.num('held_out_isolated', 'median_error'))})")
    per_op += f"; repeatability {_pct(float(ho['repeatability_within_10pct']))} within ±10 %"
    rows.append(MeasuredRow("twin vs this CPU, per operator, held-out workloads (leave one model out, shared "
                            "shapes removed)", per_op, d.command(), d.source()))
    ctx = d.get("graph_over_isolated")
    if ctx is not None:
        kinds = ", ".join(f"{k} {v['median']:.2f}" for k, v in sorted(ctx["per_kind"].items())
                          if k in ("linear", "conv", "norm", "add", "mul"))
        rows.append(MeasuredRow("in-graph / isolated time per operator",
                                f"median {d.num('graph_over_isolated', 'median'):.2f} × ({kinds})",
                                d.command(), d.source()))
    return rows


def sim_to_real_rows(d: _Doc) -> list[MeasuredRow]:
    """Twin vs the hybrid executor (held out by family and in sample) and the executor's overhead."""
    rows = d.get("rows")
    fams = d.get("trained_families")
    shares = [r["other_processes_cpu_share"] for r in rows if r.get("other_processes_cpu_share") is not None]
    busy = f"; other processes took a median {_pct(statistics.median(shares))} of the CPU meanwhile" if shares else ""
    lines = "; ".join(d.get("summary", "lines"))
    prof = (f"profile fitted on {', '.join(fams)}" if fams else "the stored host profile (training set unknown)")
    shift = d.get("summary").get("max_abs_held_out_shift")
    moved = (f"; holding the family out moves the twin's own figure by at most {_pct(shift[1])} ({shift[0]})"
             if shift else "")
    res = f"{lines}{moved} ({prof}{busy})"
    out = [MeasuredRow(f"twin vs the hybrid executor, CPU-only placement, {len(rows)} workloads, "
                       f"{int(d.num('reps'))} runs each", res, d.command(), d.source())]
    ratios = [(r["workload"], r["executor_over_eager"]) for r in rows if r.get("executor_over_eager")]
    if ratios:
        lo, hi = min(ratios, key=lambda p: p[1]), max(ratios, key=lambda p: p[1])
        med = statistics.median(v for _, v in ratios)
        out.append(MeasuredRow("executor overhead over eager, CPU-only (timed pass)",
                               f"median {med:.2f} × eager, from {lo[1]:.2f} ({lo[0]}) to {hi[1]:.2f} ({hi[0]})",
                               d.command(), d.source()))
    return out


def hw_predict_rows(d: _Doc) -> list[MeasuredRow]:
    """One vectorised prediction of every operator of a ResNet-50 on both devices."""
    cases = d.get("cases")
    plain = [c["predict_s"] for c in cases if not c["residual"]]
    resid = [c["predict_s"] for c in cases if c["residual"]]
    res = (f"{min(plain) * 1e3:.2f}–{max(plain) * 1e3:.2f} ms per call"
           + (f" ({min(resid) * 1e3:.2f}–{max(resid) * 1e3:.2f} ms with the shape-feature residual)" if resid else "")
           + f", CPU time of the calling thread; {d.get('summary')}")
    return [MeasuredRow(f"all {int(d.num('n_ops'))} ResNet-50 operators on both devices, one call", res,
                        d.command(), d.source())]


def env_speed_rows(d: _Doc) -> list[MeasuredRow]:
    """`SparOA-v0` steps per second against `CartPole-v1` in the same run (issue 21's target 0.5 ×)."""
    target = d.num("target_ratio")
    cells = []
    rows = d.get("rows")
    paired = all("verdict_ratio" in r for r in rows)  # files before issue 21's re-run judged the best round
    for r in rows:
        best, med = float(r["ratio_to_cartpole"]), float(r["median_round_ratio"])
        if paired:
            cells.append(f"{r['config']} {med:.2f} × (best round {best:.2f} ×){'' if med >= target else ': missed'}")
        else:
            cells.append(f"{r['config']} {best:.2f} × (median round {med:.2f} ×){'' if best >= target else ': missed'}")
    how = (f"median of {int(d.num('rounds'))} paired rounds" if paired else f"best of {int(d.num('rounds'))} rounds")
    res = "; ".join(cells) + f"; target ≥ {target:g} × ({d.get('clock')} clock, {how})"
    return [MeasuredRow("`SparOA-v0` step rate vs `CartPole-v1`, one core", res, d.command(), d.source())]


def engine_rows(d: _Doc) -> list[MeasuredRow]:
    """Engine cost per simulated operator in bare SimPy timeouts, per policy and setting, every miss named."""
    cells = []
    rows = d.get("rows")
    paired = all("verdict_ratio" in r for r in rows)  # files before issue 21's re-run judged the best repetition
    for r in rows:
        setting = "reference" if r.get("reference") else "full"
        v = float(r["verdict_ratio"] if paired else r["ratio"])
        miss = "" if v <= float(r["target_ratio"]) else f" (target ≤ {float(r['target_ratio']):g}: missed)"
        cells.append(f"{r['policy']} {setting} {v:.1f} ×{miss}"
                     + (f" (best-of {float(r['ratio']):.1f} ×)" if paired else ""))
    how = (f"median of {int(d.num('repeat'))} paired repetitions" if paired else f"best of {int(d.num('repeat'))}")
    res = "; ".join(cells) + f" ({d.get('clock')} clock, {how})"
    return [MeasuredRow(f"engine cost per simulated operator, {d.get('workload')}, {int(d.num('requests'))} requests "
                        "(× one bare SimPy timeout)", res, d.command(), d.source())]


def host_quick_rows(d: _Doc) -> list[MeasuredRow]:
    """The first-use (quick) host calibration: in-sample end-to-end error per run, with its conditions."""
    runs = d.get("runs")
    cells, worst = [], 0.0
    for r in runs:
        errs = {w: float(v["error"]) for w, v in r["in_sample"].items()}
        worst = max(worst, *(abs(e) for e in errs.values()))
        cond = r["conditions"]
        state = "disturbed" if cond.get("disturbed") else ("noisy" if cond.get("noisy") else "quiet")
        cells.append(f"run {r['run']} ({state}): " + ", ".join(f"{w} {_pct(e, True)}" for w, e in errs.items()))
    verdict = "met" if worst <= 0.05 else "missed"
    res = "; ".join(cells) + f"; worst {_pct(worst)}, target ≤ 5 % in sample: {verdict} ({d.get('clock')} clock)"
    names = ", ".join(runs[0]["in_sample"]) if runs else ""
    return [MeasuredRow(f"first-use (quick) host calibration of `demo`/`validate`, in sample, {len(runs)} runs "
                        f"({names})", res, d.command(), d.source())]


#: (result file, row builder), in table order.
ROWS: tuple[tuple[str, Callable[[_Doc], list[MeasuredRow]]], ...] = (
    ("calibration.json", calibration_rows),
    ("host_quick_calibration.json", host_quick_rows),
    ("sim_to_real.json", sim_to_real_rows),
    ("predictor.json", predictor_rows),
    ("hw_predict.json", hw_predict_rows),
    ("env_speed.json", env_speed_rows),
    ("engine.json", engine_rows),
)


def measured_rows(results_dir: str | Path = RESULTS,
                  files: Sequence[tuple[str, Callable[[_Doc], list[MeasuredRow]]]] = ROWS) -> list[MeasuredRow]:
    """Every row of the table, each read from its result file (an error names a missing one)."""
    out: list[MeasuredRow] = []
    for name, build in files:
        out.extend(build(_Doc(Path(results_dir) / name)))
    return out


def measured_table(results_dir: str | Path = RESULTS) -> str:
    """The markdown table (header and rows, a trailing newline) the README keeps between the markers."""
    head = "| what | result | command | result file (commit, date, machine) |\n| --- | --- | --- | --- |\n"
    return head + "".join(r.markdown() + "\n" for r in measured_rows(results_dir))


def replace_block(text: str, table: str) -> str:
    """``text`` with what lies between :data:`BEGIN` and :data:`END` replaced by ``table``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ResultFileError(f"README: expected one {BEGIN} … {END} block, found {text.count(BEGIN)} begin and "
                              f"{text.count(END)} end marker(s)")
    before, rest = text.split(BEGIN + "\n", 1) if BEGIN + "\n" in text else text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    return f"{before}{BEGIN}\n{table}{END}{after}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the result files")
    ap.add_argument("--write", type=Path, default=None, help="replace the block in this file (the README)")
    args = ap.parse_args(argv)
    table = measured_table(args.results)
    if args.write is None:
        print(f"{BEGIN}\n{table}{END}")
        return 0
    path: Path = args.write
    path.write_text(replace_block(path.read_text(encoding="utf-8"), table), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
