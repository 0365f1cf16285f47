"""Hostile runs (issue 20, items 3, 4, 6): Ctrl-C is honest, outputs are checked before any work,
no run is overwritten silently, the TensorRT-like baseline never hides its precision, and
``extract`` puts the user's folder last on ``sys.path``.

The Ctrl-C case runs the real entry point in a child (tests/cli/hostile.py); the refusals run
in-process through ``main`` (same code, no interpreter start-up) plus one child run per kind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sparoa_sim.cli.app import main
from sparoa_sim.errors import SimulationError

from hostile import TIME_LIMIT_S, assert_refused, digest_tree, refused_in_process, run_cli

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "sparoa_sim" / "workloads"
P = "jetson-orin-nano-8gb"


def chain_graph(path: Path, n_ops: int) -> Path:
    """A graph of ``n_ops`` operators: ResNet-18's operators repeated, each copy after the last."""
    doc = json.loads((SHIPPED / "resnet18.json").read_text())
    base, ops = doc["ops"], []
    while len(ops) < n_ops:
        off = len(ops)
        for op in base[: n_ops - off]:
            deps = [d + off for d in op["deps"]] or ([off - 1] if off else [])
            ops.append(dict(op, name=f"{op['name']}_{off}", deps=deps))
    doc.update(ops=ops, name=f"chain{n_ops}")
    path.write_text(json.dumps(doc))
    return path




# --- Ctrl-C ----------------------------------------------------------------------------------

def _interrupt_when(args: list[str], cwd: Path, marker: str, delay_s: float, timeout_s: float = 60.0
                    ) -> tuple[int, str, float]:
    """Run the CLI in a child; SIGINT it ``delay_s`` after ``marker`` appears on its stderr."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "sparoa_sim.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if marker in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(timeout_s), "".join(lines)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    proc.stdout.close()
    return proc.returncode, "".join(lines), time.monotonic() - t0


def test_ctrl_c_during_the_oracle_solve_exits_130_and_keeps_the_schedule_marked_interrupted(tmp_path):
    """Before: exit 0, "FEASIBLE", the cut-short schedule written to -o as the answer."""
    out = tmp_path / "oracle.json"
    rc, err, _s = _interrupt_when(["oracle", "--workload", "googlenet", "--platform", P, "--time-limit", "120",
                                   "-o", str(out)], tmp_path, "horizon", delay_s=1.0)
    last = err.strip().splitlines()[-1]
    assert rc == 130 and "Traceback" not in err, err
    assert last.startswith("sparoa: interrupted: solver stopped") and "not optimal" in last, err
    assert not out.exists()  # -o holds answers only
    side = tmp_path / "oracle.interrupted.json"
    assert str(side) in last
    doc = json.loads(side.read_text())
    assert doc["interrupted"] is True and doc["status"] in ("FEASIBLE", "UNKNOWN")
    assert 0.0 <= doc["bound_s"] <= doc["latency_s"] and doc["gap"] == pytest.approx(
        (doc["latency_s"] - doc["bound_s"]) / doc["latency_s"])
    from sparoa_sim.sim.policies import StaticSchedule

    assert len(StaticSchedule.load(side).placement) == doc["n_ops"] == 195  # still a replayable schedule


class _BlockingSolver:
    """Stands in for CpSolver: ``solve`` blocks until ``stop_search`` (as CP-SAT does on a hard model)."""

    def __init__(self) -> None:
        self.parameters = type("Params", (), {"catch_sigint_signal": True})()
        self.stopped = threading.Event()

    def solve(self, _model):
        assert self.stopped.wait(20), "stop_search was never called"
        return "FEASIBLE"

    def stop_search(self) -> None:
        self.stopped.set()


def test_solve_interruptibly_turns_sigint_into_a_stopped_search():
    from sparoa_sim.agents.exact.budget import solve_interruptibly

    solver = _BlockingSolver()
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    status, interrupted = solve_interruptibly(solver, None)
    assert (status, interrupted) == ("FEASIBLE", True)
    assert solver.parameters.catch_sigint_signal is False  # CP-SAT must not swallow Ctrl-C itself
    done = _BlockingSolver()
    done.stopped.set()
    assert solve_interruptibly(done, None) == ("FEASIBLE", False)


def test_an_interrupted_solve_raises_with_its_best_schedule_marked(monkeypatch):
    """The library never returns a cut-short solve as an answer: OracleInterrupted (a KeyboardInterrupt)."""
    from sparoa_sim.agents.exact import oracle as orc
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.workloads import load_workload

    real = orc.solve_interruptibly

    def cut_short(solver, model):
        solver.parameters.max_time_in_seconds = 0.01
        status, _ = real(solver, model)
        return status, True

    monkeypatch.setattr(orc, "solve_interruptibly", cut_short)
    with pytest.raises(orc.OracleInterrupted) as info:
        orc.solve_oracle(load_workload("googlenet"), load_platform(P), time_limit_s=30)
    assert isinstance(info.value, KeyboardInterrupt)
    res = info.value.result
    assert res.interrupted and not res.optimal and res.to_dict()["interrupted"] is True
    assert res.bound_s <= res.latency_s and res.gap >= 0.0


def test_the_time_limit_covers_model_building(tmp_path):
    """Before: 10,000 operators with --time-limit 5 took 20 s (478 s on this loaded machine), all of
    it building the model; now a spent budget skips the model and keeps the best start."""
    from sparoa_sim.agents.exact.oracle import solve_oracle
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.workloads import load_workload

    lines: list[str] = []
    g = load_workload(chain_graph(tmp_path / "g.json", 300))
    res = solve_oracle(g, load_platform(P), time_limit_s=0.01, log=lines.append)
    assert res.status == "UNKNOWN" and not res.optimal and not res.interrupted
    assert any("before the solver started" in line for line in lines), lines
    assert res.latency_s == pytest.approx(res.hint_latency_s, rel=0, abs=0)  # the best start, exactly
    assert res.bound_s <= res.latency_s


def test_the_oracle_refuses_more_operators_than_it_can_model(tmp_path):
    from sparoa_sim.agents.exact.budget import MAX_ORACLE_OPS

    big = chain_graph(tmp_path / "big.json", MAX_ORACLE_OPS + 1)
    ended = run_cli(["oracle", "--workload", str(big), "--platform", P, "--time-limit", "5"], tmp_path)
    assert_refused(ended, mentions=(f"{MAX_ORACLE_OPS + 1:,} operators", f"at most {MAX_ORACLE_OPS:,}"))


# --- evaluate never keeps a cut-short cell ---------------------------------------------------------

def test_evaluate_does_not_save_an_interrupted_oracle_cell(tmp_path, monkeypatch):
    from sparoa_sim.agents.exact import oracle as orc
    from sparoa_sim.agents.experiments import evaluate as ev

    def interrupted(*_a, **_k):
        raise orc.OracleInterrupted(result=None)

    monkeypatch.setattr(orc, "solve_oracle", interrupted)
    sweep = ev.cells(["squeezenet1_1"], [P], None, ["cpu", "oracle"])
    with pytest.raises(KeyboardInterrupt):
        ev.run_sweep(sweep, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert [r["policy"] for r in rows] == ["cpu"]  # the finished cell is kept, the cut-short one is not
    # a row marked interrupted (e.g. written by another tool) is never taken as done
    ev.append_row(tmp_path / "cells.jsonl", dict(rows[0], policy="oracle", interrupted=True,
                                                 oracle_time_limit_s=sweep[1].oracle_time_limit_s))
    assert set(ev.done_keys(tmp_path / "cells.jsonl")) == {sweep[0].key}


def test_ctrl_c_in_evaluate_says_how_many_cells_are_saved(tmp_path, monkeypatch, capsys):
    from sparoa_sim.agents.experiments import evaluate as ev

    real = ev.run_cell

    def second_cell_interrupted(cell):
        if cell.policy == "gpu":
            raise KeyboardInterrupt
        return real(cell)

    monkeypatch.setattr(ev, "run_cell", second_cell_interrupted)
    out = tmp_path / "ev"
    code = main(["evaluate", "--workloads", "squeezenet1_1", "--platforms", P, "--policies", "cpu,gpu", "-o",
                 str(out), "--json"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and err[-1].startswith("sparoa: interrupted: 1 of 2 cells saved in"), err
    assert "resume" in err[-1] and len((out / "cells.jsonl").read_text().splitlines()) == 1


def test_ctrl_c_in_train_scheduler_says_what_was_kept(tmp_path, monkeypatch, capsys):
    from sparoa_sim.agents.learn import scheduler

    def stop(_job):
        raise KeyboardInterrupt

    monkeypatch.setattr(scheduler, "run_training", stop)
    code = main(["train", "scheduler", "--workload", "squeezenet1_1", "-o", str(tmp_path / "t")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and err == [f"sparoa: interrupted: training stopped before its first checkpoint; no policy "
                                   f"written to {tmp_path / 't'}"]
    (tmp_path / "t" / "checkpoints").mkdir(parents=True)
    (tmp_path / "t" / "checkpoints" / "latest.zip").write_bytes(b"PK")
    assert main(["train", "scheduler", "--workload", "squeezenet1_1", "--resume", "-o", str(tmp_path / "t")]) == 130
    assert "(continue with --resume)" in capsys.readouterr().err


# --- no silent overwrite: outputs checked before any work ------------------------------------------

@pytest.fixture()
def other_run(tmp_path):
    """A folder holding another training run (its files' digests, to prove them unchanged)."""
    d = tmp_path / "run"
    (d / "checkpoints").mkdir(parents=True)
    (d / "metadata.json").write_text('{"kind": "sparoa-scheduler"}')
    (d / "policy.zip").write_bytes(b"PK\x03\x04 earlier policy")
    (d / "checkpoints" / "latest.zip").write_bytes(b"PK\x03\x04 earlier checkpoint")
    return d


@pytest.mark.parametrize("argv", [
    ["train", "scheduler", "--workload", "squeezenet1_1", "--time-budget", "1"],
    ["train", "predictor", "--quick"],
    ["evaluate", "--workloads", "squeezenet1_1", "--platforms", P, "--policies", "cpu"],
    ["evaluate", "--scenarios", "idle", "--workloads", "squeezenet1_1", "--platforms", P],
])
def test_a_folder_holding_another_run_is_refused_and_left_unchanged(capsys, other_run, argv):
    """Before: `train scheduler -o DIR` into another run's folder overwrote its policy and checkpoints."""
    before = digest_tree(other_run)
    line = refused_in_process(capsys, *argv, "-o", other_run, mentions=("holds another run", "--force"))
    assert "metadata.json" in line and digest_tree(other_run) == before


def test_a_child_run_refuses_another_runs_folder_before_any_work(other_run, tmp_path):
    before = digest_tree(other_run)
    ended = run_cli(["train", "scheduler", "--workload", "squeezenet1_1", "--time-budget", "30", "-o",
                     str(other_run)], tmp_path)
    assert_refused(ended, mentions=("holds another run", "--resume", "--force"), time_limit_s=TIME_LIMIT_S)
    assert digest_tree(other_run) == before


def test_evaluate_resumes_in_its_own_folder_but_not_in_a_training_run(tmp_path, capsys, other_run):
    out = tmp_path / "ev"
    argv = ["evaluate", "--workloads", "squeezenet1_1", "--platforms", P, "--policies", "cpu", "-o", str(out), "--json"]
    assert main(argv) == 0
    capsys.readouterr()
    cells = (out / "cells.jsonl").read_text()
    assert main(argv) == 0 and (out / "cells.jsonl").read_text() == cells  # resumed: nothing ran again
    capsys.readouterr()
    (out / "policy.zip").write_bytes(b"PK")  # now it also holds a training run's file
    refused_in_process(capsys, *argv[:-3], "-o", out, mentions=("holds another run (policy.zip)", "--force"))
    assert main([*argv, "--force"]) == 0


@pytest.mark.parametrize("argv, mentions", [
    (["train", "scheduler", "--workload", "squeezenet1_1", "-o", ""], ("-o must name a folder", "''")),
    (["train", "predictor", "--quick", "-o", ""], ("-o must name a folder",)),
    (["evaluate", "--workloads", "squeezenet1_1", "--platforms", P, "-o", ""], ("-o must name a folder",)),
    (["oracle", "--workload", "squeezenet1_1", "--platform", P, "-o", ""], ("-o must name a file",)),
    (["oracle", "--workload", "squeezenet1_1", "--platform", P, "-o", "/proc/sparoa-out.json"], ("cannot write",)),
])
def test_empty_or_unwritable_outputs_are_refused_before_any_work(capsys, tmp_path, monkeypatch, argv, mentions):
    """Before: `-o ''` wrote into the working folder (or nothing) and exited 0."""
    monkeypatch.chdir(tmp_path)
    t0 = time.monotonic()
    refused_in_process(capsys, *argv, mentions=mentions)
    assert time.monotonic() - t0 < 2.0  # before loading a model or training anything
    assert list(tmp_path.iterdir()) == []


def test_output_file_checks(tmp_path):
    from sparoa_sim.cli.outputs_check import OutputError, check_output_file, check_outputs

    (tmp_path / "file").write_text("x")
    assert check_output_file(None, "--trace") is None
    assert check_output_file(tmp_path / "new" / "deeper" / "g.png", "--gantt") == tmp_path / "new" / "deeper" / "g.png"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    for bad, word in (("", "must name a file"), (tmp_path, "Is a directory"),
                      (tmp_path / "file" / "x.json", "not a folder"), ("/proc/x.json", "cannot write")):
        with pytest.raises(OutputError, match=word):
            check_output_file(bad, "--trace")
    with pytest.raises(OutputError, match="--trace and --gantt name the same file"):
        check_outputs([("--trace", tmp_path / "a.json"), ("--gantt", tmp_path / "." / "a.json")])
    assert sorted(os.listdir(tmp_path)) == ["file"]  # the probe file is gone


def test_tensorrt_never_runs_silently_at_another_precision():
    """Before: `--policy tensorrt --precision fp32` ran fp16_tc and reported it under `gpu`."""
    from sparoa_sim.agents.heuristics.baselines import TENSORRT_LABEL, TENSORRT_PRECISION, tensorrt_precision

    assert tensorrt_precision(None) == tensorrt_precision("fp16_tc") == TENSORRT_PRECISION
    assert TENSORRT_PRECISION in TENSORRT_LABEL and TENSORRT_LABEL.startswith("tensorrt")
    for asked in ("fp32", "fp16"):
        with pytest.raises(SimulationError, match=f"--precision {asked} contradicts"):
            tensorrt_precision(asked)


# --- trust boundary: the user's folder goes last -----------------------------------------------

def test_the_users_folder_is_added_last_after_torch(tmp_path, monkeypatch):
    from sparoa_sim.cli.user_code import add_user_folder

    (tmp_path / "torch.py").write_text("raise RuntimeError('the stray torch.py ran')\n")
    (tmp_path / "mymodels_20b.py").write_text("def build():\n    return 'built'\n")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p or os.curdir) != str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    added = add_user_folder()
    assert added == str(tmp_path) and sys.path[-1] == str(tmp_path)
    import importlib

    import torch

    assert not torch.__file__.startswith(str(tmp_path))
    assert importlib.import_module("mymodels_20b").build() == "built"
    assert add_user_folder() == str(tmp_path) and sys.path.count(str(tmp_path)) == 1
    sys.modules.pop("mymodels_20b", None)


def _sleep_or_return(job: float) -> float:
    time.sleep(job)
    return job


def test_ctrl_c_in_a_parallel_sweep_stops_its_workers_at_once():
    """Before: SIGINT to `evaluate --workers 2` waited for the running cells (or, sent to the parent
    alone, left its workers running after it was killed)."""
    import psutil

    from sparoa_sim.agents.experiments.evaluate import map_jobs

    def finished(_row):
        raise KeyboardInterrupt  # as Ctrl-C landing while the first result is handled

    def alive() -> set[int]:
        out = set()
        for c in psutil.Process().children(recursive=True):
            try:
                if c.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(c.cmdline()):
                    out.add(c.pid)
            except psutil.NoSuchProcess:
                continue
        return out

    before = alive()  # e.g. a Ray cluster another test started
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        map_jobs([0.0, 60.0, 60.0], _sleep_or_return, finished, workers=2)
    assert time.monotonic() - t0 < 20.0
    assert alive() - before == set()  # no worker left running


_PATH_PARTS = ["", ".", "..", "a", "new", "file", "file/x", "x.json", "dir/", " ", "a\x00b", "ü [x]", "n" * 300]


def test_output_checks_refuse_or_pass_any_path_cleanly(tmp_path):
    """Any path: accepted (and then writable) or refused with an OutputError; nothing created."""
    from hypothesis import given
    from hypothesis import strategies as st

    from sparoa_sim.cli.outputs_check import OutputError, check_output_dir, check_output_file

    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    listing = sorted(os.listdir(tmp_path))

    @given(parts=st.lists(st.sampled_from(_PATH_PARTS) | st.text(max_size=12), min_size=1, max_size=4),
           as_dir=st.booleans())
    def check(parts, as_dir):
        text = str(tmp_path) + "/" + "/".join(parts)
        try:
            got = check_output_dir(text, "-o") if as_dir else check_output_file(text, "-o")
        except OutputError as exc:
            assert "\n" not in str(exc).strip() or "\n" in text
            return
        finally:
            assert sorted(os.listdir(tmp_path)) == listing
        if not as_dir:  # accepted: the file can really be written there (then removed with new folders)
            new = [d for d in [got.parent, *got.parent.parents] if not d.exists()]
            if got.exists():
                open(got, "a").close()  # noqa: SIM115 - writable, left as it was
            else:
                got.parent.mkdir(parents=True, exist_ok=True)
                got.write_text("ok")
                got.unlink()
            if new:
                shutil.rmtree(new[-1])

    check()
