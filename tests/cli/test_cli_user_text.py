"""User text on the command line is shown literally, never read as rich markup.

Every sub-command that takes a workload, a profile or an output path runs on paths holding
``[``, ``]``, ``[/x]``, spaces and non-ASCII letters (copies of a shipped workload and profile,
whose graph, operator and profile names hold markup-like text too): each exits 0 (or 2 with
exactly one line on stderr), never with a traceback or a rich ``MarkupError``, and the text
appears as given. Budgets are tiny; the scheduler's training runs for real only under ``-m slow``
(otherwise its library step is replaced by a stub returning the same kind of summary).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sparoa_sim.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GRAPH_NAME = "mnv3 [bold]é€[/bold]"
OP_NAME = "[red]stem[/] [/x]"
PROFILE_NAME = "orin [bold]ñ[/bold] [/x]"


def squash(text: str) -> str:
    """Text without whitespace and box-drawing characters: rich may wrap a long title, caption or
    cell over lines (a cell between the table's borders)."""
    return re.sub(r"[\s\u2500-\u257f]", "", text)


def run(capsys, *argv: str | Path) -> tuple[int, str, str]:
    """``sparoa ARGV`` in-process; checks the exit-status contract; returns (code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err and "MarkupError" not in err + out, (argv, err)
    if code == 2:
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("sparoa"), (argv, err)
    return code, out, err


def shown(text: str | Path, out: str) -> bool:
    """``text`` appears literally in ``out`` (up to the whitespace rich wraps at)."""
    return squash(str(text)) in squash(out)


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> Path:
    """A folder whose path holds ``[/y]``, ``[bold]``, spaces and non-ASCII letters."""
    base = tmp_path_factory.mktemp("user-text") / "[" / "y] sp ace" / "[bold]é€ ñ"
    base.mkdir(parents=True)
    return base


@pytest.fixture(scope="module")
def workload(odd) -> Path:
    """A copy of the shipped MobileNetV3-Small whose graph and first operator names look like markup."""
    from importlib.resources import files

    doc = json.loads((files("sparoa_sim.workloads") / "mobilenetv3_small.json").read_text())
    doc["name"] = GRAPH_NAME
    doc["ops"][0]["name"] = OP_NAME
    path = odd / "w [x].json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def profile(odd) -> Path:
    """A copy of the shipped Orin Nano profile named like markup."""
    text = (ROOT / "hwmodels" / "profiles" / "jetson-orin-nano-8gb.toml").read_text()
    path = odd / "p [red].toml"
    path.write_text(re.sub(r'^name\s*=.*$', f'name = "{PROFILE_NAME}"', text, count=1, flags=re.M), encoding="utf-8")
    return path


def test_workloads_and_platforms_show(capsys, odd, workload, profile):
    png = odd / "q [i].png"
    code, out, _ = run(capsys, "workloads", "show", workload, "--plot", png)
    assert code == 0 and png.is_file()
    assert shown(GRAPH_NAME, out) and shown(OP_NAME, out) and f"quadrant plot written to {png}" in out
    code, out, _ = run(capsys, "workloads", "show", workload, "--json")
    doc = json.loads(out)
    assert doc["name"] == GRAPH_NAME and doc["ops_detail"][0]["name"] == OP_NAME
    code, out, _ = run(capsys, "platforms", "show", profile)
    assert code == 0 and shown(PROFILE_NAME, out) and shown(profile, out)


def test_simulate_oracle_and_a_schedule_file(capsys, odd, workload, profile):
    trace, gantt, sched = odd / "t [b].json", odd / "g [/i].png", odd / "s [k].json"
    code, out, _ = run(capsys, "simulate", "--workload", workload, "--platform", profile, "--requests", "2",
                       "--trace", trace, "--gantt", gantt)
    assert code == 0 and shown(GRAPH_NAME, out) and shown(PROFILE_NAME, out)
    assert f"trace written to {trace}" in out and f"Gantt chart written to {gantt}" in out
    code, out, _ = run(capsys, "oracle", "--workload", workload, "--platform", profile, "--time-limit", "1",
                       "-o", sched)
    assert code == 0 and f"schedule written to {sched}" in out and shown(GRAPH_NAME, out)
    code, out, _ = run(capsys, "simulate", "--workload", workload, "--platform", profile, "--policy", sched,
                       "--reference", "--json")
    assert code == 0 and json.loads(out)["workload"] == GRAPH_NAME
    code, out, _ = run(capsys, "simulate", "--workload", workload, "--platform", profile, "--policy", "tensorrt",
                       "--requests", "2")
    assert code == 0 and shown(PROFILE_NAME, out)


def test_calibrate_then_show_the_fitted_profile(capsys, odd, profile):
    table = odd / "m [x].json"
    shutil.copy(FIXTURES / "host_table.json", table)
    fitted, name = odd / "fit [/f]" / "h ñ.toml", "host [bold]x[/] ñ"
    code, out, _ = run(capsys, "calibrate", table, "--base", profile, "--name", name, "-o", fitted)
    assert code == 0 and shown(f"fitted profile written to {fitted}", out)
    code, out, _ = run(capsys, "platforms", "show", fitted)
    assert code == 0 and shown(name, out)


def test_evaluate(capsys, odd, workload, profile):
    out_dir = odd / "ev [/e] ñ"
    code, out, _ = run(capsys, "evaluate", "--workloads", workload, "--platforms", profile, "--policies", "cpu,gpu",
                       "-o", out_dir)
    # the workload and platform cells hold the paths as given; side by side they wrap line by line together
    assert code == 0 and shown(out_dir, out) and "[x].json" in out and "[red].toml" in out
    code, out, _ = run(capsys, "evaluate", "--workloads", workload, "--platforms", profile, "--policies", "cpu",
                       "-o", out_dir, "--json")
    row = json.loads(out)["summary"][0]
    assert code == 0 and row["workload"] == str(workload) and row["platform"] == str(profile)


def test_train_scheduler_summary_keyed_by_a_path(capsys, odd, workload, monkeypatch):
    """The reported bug: the summary's keys hold the workload path; printing them raised MarkupError."""
    from sparoa_sim.agents.learn import scheduler

    class Summary:  # the library's summary, without a minute of training
        def __init__(self, job):
            self.job = job

        def to_dict(self):
            job = self.job
            return {"output": str(job.output), "algo": job.algo, "timesteps": 0, "train_s": 0.0,
                    f"latency_s[{job.workloads[0]}]": 1e-3, f"teacher[{job.workloads[0]}]": "gpu 0.001"}

    monkeypatch.setattr(scheduler, "run_training", Summary)
    out_dir = odd / "out [/tr]"
    code, out, _ = run(capsys, "train", "scheduler", "--workload", workload, "--platform", "jetson-orin-nano-8gb",
                       "--time-budget", "60", "-o", out_dir)
    assert code == 0 and shown(f"latency_s[{workload}]", out) and shown(out_dir, out)


@pytest.mark.slow
def test_train_scheduler_for_real(capsys, odd):
    from sparoa_sim.ir.graph import save_graph
    from sparoa_sim.ir.synthetic import generate

    tiny = save_graph(generate(11, target_ops=8), odd / "tiny [/t].json")
    code, out, err = run(capsys, "train", "scheduler", "--workload", tiny, "--algo", "ppo", "--timesteps", "64",
                         "-o", odd / "sched [/s]")
    assert code == 0 and shown(f"latency_s[{tiny}]", out)
    assert "notice: trained 512 steps, not --timesteps 64" in err  # PPO learns from whole rollouts of 512


def test_train_predictor(capsys, odd):
    out_dir = odd / "pred [/p] ñ"
    code, out, _ = run(capsys, "train", "predictor", "--model", "mlp", "--synthetic", "1", "--contexts", "1",
                       "--epochs", "1", "-o", out_dir)
    assert code == 0 and shown(out_dir, out) and (out_dir / "metadata.json").is_file()


def test_demo_prints_its_index_literally(capsys, odd, monkeypatch):
    """``sparoa demo`` prints the run's index.md (markdown links look like markup) and the run folder."""
    from sparoa_sim.cli import demo

    index = "| [quadrants [/x].png](quadrants [/x].png) | [bold]plot[/bold] |\n"

    def fake(out_root, **kw):
        root = Path(out_root) / "demo-[/r]"
        root.mkdir(parents=True, exist_ok=True)
        (root / "index.md").write_text(index, encoding="utf-8")
        return root

    monkeypatch.setattr(demo, "run_demo", fake)
    out_dir = odd / "runs [/d]"
    code, out, _ = run(capsys, "demo", "--quick", "-o", out_dir)
    assert code == 0 and index.strip() in out and f"Everything is in {out_dir / 'demo-[/r]'}" in out


def test_extract_replay_validate(capsys, odd, profile, monkeypatch, tmp_path):
    """The torch commands with their quickest options and odd paths."""
    pytest.importorskip("torch")
    (tmp_path / "tiny_user_text_models.py").write_text(
        "import torch.nn as nn\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n")
    monkeypatch.chdir(tmp_path)
    graph, name = odd / "ex [/x].json", "net [red]x[/] é"
    code, out, _ = run(capsys, "extract", "tiny_user_text_models:build", "--input-shape", "1,3,8,8", "--name", name,
                       "-o", graph)
    assert code == 0 and f"wrote {graph}:" in out
    code, out, _ = run(capsys, "workloads", "show", graph)
    assert code == 0 and shown(name, out)
    trace = odd / "tr [/r].json"
    code, out, _ = run(capsys, "replay", "--workload", "mobilenetv3_small", "--reduced", "--requests", "1",
                       "--trace", trace)
    assert code == 0 and f"trace written to {trace}" in out
    val = odd / "val [/v]"
    code, out, _ = run(capsys, "validate", "--workload", "mobilenetv3_small", "--platform", profile, "--reduced",
                       "--reps", "2", "--policies", "cpu", "-o", val)
    assert code == 0 and shown(PROFILE_NAME, out) and shown(val / "report.md", out)


def test_profile(capsys, odd):
    pytest.importorskip("torch")
    table = odd / "prof [/p].json"
    code, out, _ = run(capsys, "profile", "--workload", "mobilenetv3_small", "--reduced", "--reps", "2", "--no-sparse",
                       "--time-budget", "0.5", "--bandwidth-mib", "1", "-o", table)
    assert code == 0 and shown(table, out)


def test_errors_carry_user_text_on_one_line(capsys, odd, workload, profile):
    (odd / "afile [x]").write_text("x")
    cases = [
        (["workloads", "show", odd / "[/nope].json"], str(odd / "[/nope].json")),
        (["platforms", "show", odd / "missing [red].toml"], str(odd / "missing [red].toml")),
        (["simulate", "--workload", workload, "--platform", profile, "--policy", "[bold]bogus[/]"],
         "[bold]bogus[/]: no such schedule file"),
        (["simulate", "--workload", workload, "--platform", profile, "--trace", odd / "afile [x]" / "t.json"],
         "afile [x]"),
        (["simulate", "--workload", workload, "--platform", profile, "--mode", "[/m] é"], "[/m] é"),
        (["simulate", "--workload", workload, "--arrival", "[/a]"], "--platform"),  # a usage error
        (["oracle", "--workload", odd / "[/gone].json", "--platform", profile], "[/gone].json"),
        (["calibrate", odd / "[/none].json", "--base", profile, "-o", odd / "x.toml"], "[/none].json"),
        (["evaluate", "--workloads", odd / "[/w].json", "--platforms", profile, "--policies", "cpu", "-o",
          odd / "ev2"], "[/w].json"),
        (["replay", "--workload", "[bold]net[/]"], "'[bold]net[/]'"),
        (["profile", "--workload", "[bold]net[/] é", "-o", odd / "p.json"], "'[bold]net[/] é'"),
        (["validate", "--workload", "[/v]", "--platform", profile, "-o", odd / "v"], "'[/v]'"),
    ]
    for argv, needle in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2 and needle in err, (argv, err)


def test_through_the_console_script(odd, workload, profile):
    """In a fresh process (``python -m sparoa_sim.cli`` and the installed ``sparoa``): same literal text."""
    png = odd / "sub [/s].png"
    proc = subprocess.run([sys.executable, "-m", "sparoa_sim.cli", "workloads", "show", str(workload), "--plot",
                           str(png)], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert shown(OP_NAME, proc.stdout) and f"quadrant plot written to {png}" in proc.stdout
    exe = Path(sys.executable).with_name("sparoa")
    argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "sparoa_sim.cli"]
    proc = subprocess.run([*argv, "platforms", "show", str(odd / "[/gone] é.toml")], capture_output=True,
                          text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert str(odd / "[/gone] é.toml") in proc.stderr and "Traceback" not in proc.stderr
