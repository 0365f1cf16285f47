"""The README as a tested contract (issue 24): every command its ```bash blocks show runs.

Each README command maps to its quick, CPU-only form in :data:`QUICK` (the README form with small
budgets; files chain from one command to the next in one working folder, as a reader's would).
The test fails when the README shows a command the table does not cover (or the table keeps one
the README dropped), when a command fails, and when a line that needs hardware this machine lacks
is not labelled so in the README. Synopsis blocks (``[options]``) are checked against the parser:
every sub-command and flag they show exists. ``SPAROA_README_FULL=1`` runs the README forms as
written instead (``make bench``; minutes).

The ``sparoa`` commands run in ONE child process (``sparoa_sim.cli.app.main`` per command, each
from the working folder): the quick forms take seconds each, the child's imports once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FULL = os.environ.get("SPAROA_README_FULL") == "1"


@dataclass(frozen=True)
class Quick:
    """How the test runs one README command.

    ``quick``: the command run by ``make test`` (None: the README form itself); ``full``: the form
    ``make bench`` runs where the README form would write into the repository (``{work}``: the test's
    working folder; None: the README form as written). ``needs``: hardware
    the command needs ("cuda", "jetson"); the README line must say so in its comment, and where the
    machine lacks it the command runs only if ``without`` gives the exit status and a phrase its
    one-line error must hold, else it is skipped. ``subst``: README words replaced in both forms
    (a placeholder such as ``TRAIN_DIR``); ``cpu_subst`` only without CUDA (a file only a CUDA line makes).
    """

    quick: str | None = None
    full: str | None = None
    needs: str | None = None
    without: tuple[int, str] | None = None
    subst: tuple[tuple[str, str], ...] = ()
    cpu_subst: tuple[tuple[str, str], ...] = ()


#: Every command of the README's ```bash blocks (exactly as written, comment stripped) → its quick form.
QUICK: dict[str, Quick] = {
    # "The two commands"
    "make demo": Quick("make -n demo DEMO_ARGS=--quick", full="make demo DEMO_ARGS='-o {work}/runs'"),
    # (the quick demo itself runs in tests/cli/test_demo.py)
    "make test": Quick("make -n test"),  # this test runs inside `make test`
    # "Calibrate on your own Jetson (or any machine)"
    "sudo jetson_clocks": Quick(needs="jetson"),
    "sparoa profile --workload resnet18 --workload mobilenetv2 --device cuda -o gpu.json": Quick(
        "sparoa profile --workload resnet18 --workload mobilenetv2 --device cuda -o gpu.json --reduced --reps 3 "
        "--time-budget 1 --no-sparse --bandwidth-mib 8", needs="cuda", without=(2, "no CUDA device")),
    "sparoa profile --workload resnet18 --workload mobilenetv2 --device cpu  -o cpu.json": Quick(
        "sparoa profile --workload resnet18 --workload mobilenetv2 --device cpu -o cpu.json --reduced --reps 3 "
        "--time-budget 1 --no-sparse --bandwidth-mib 8"),
    "sparoa calibrate cpu.json --base jetson-orin-nano-8gb -o step1.toml --device cpu": Quick(),
    "sparoa calibrate gpu.json --base step1.toml -o my-orin.toml --device gpu": Quick(needs="cuda"),
    # "Run sim-to-real"
    "sparoa train scheduler --workload resnet18 --platform jetson-orin-nano-8gb --time-budget 30 -o TRAIN_DIR": Quick(
        "sparoa train scheduler --workload resnet18 --platform jetson-orin-nano-8gb --time-budget 2 -o TRAIN_DIR",
        subst=(("TRAIN_DIR", "train"),)),
    "sparoa validate --workload resnet18 --platform host --policies cpu gpu heft -o runs/val": Quick(
        "sparoa validate --workload resnet18 --platform host --policies cpu gpu heft -o runs/val --reduced --reps 2"),
    "sparoa validate --workload resnet18 --platform my-orin.toml --policies cpu gpu heft TRAIN_DIR/schedule.json "
    "-o runs/val-orin": Quick(
        "sparoa validate --workload resnet18 --platform my-orin.toml --policies cpu gpu heft TRAIN_DIR/schedule.json "
        "-o runs/val-orin --reduced --reps 2",
        # my-orin.toml is the CUDA line's; without CUDA, step1.toml is the profile a CPU-only reader has
        subst=(("TRAIN_DIR", "train"),), cpu_subst=(("my-orin.toml", "step1.toml"),)),
    "sparoa replay --workload resnet18 --policy TRAIN_DIR --requests 200 --arrival poisson:50 --trace real.json": Quick(
        "sparoa replay --workload resnet18 --policy TRAIN_DIR --requests 3 --arrival poisson:50 --trace real.json "
        "--reduced --warmup 1", needs="cuda", without=(2, "--fallback cpu"), subst=(("TRAIN_DIR", "train"),)),
    "sparoa replay --workload resnet18 --policy TRAIN_DIR --fallback cpu --requests 40 --arrival poisson:2 "
    "--trace real.json": Quick(
        "sparoa replay --workload resnet18 --policy TRAIN_DIR --fallback cpu --requests 3 --arrival poisson:2 "
        "--trace real.json --reduced --warmup 1", subst=(("TRAIN_DIR", "train"),)),
    # "Adding your own model" (mymodels.py is the README's own python block)
    "sparoa extract mymodels:build --input-shape 1,3,224,224 -o mynet.json": Quick(),
    "sparoa workloads show mynet.json --plot mynet.png": Quick(),
}

#: What a comment must say on a README line that needs hardware.
NEEDS_LABEL = {"cuda": re.compile(r"CUDA|GPU|Jetson", re.I), "jetson": re.compile(r"Jetson")}


@dataclass(frozen=True)
class Line:
    """One command of a README ```bash block: its text, comment and line number."""

    command: str
    comment: str
    lineno: int
    synopsis: bool


def bash_lines(text: str = README) -> list[Line]:
    """Every command line of every ```bash block; a block showing ``[…]`` options is a synopsis."""
    out = []
    for m in re.finditer(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        first = text[:m.start()].count("\n") + 2
        body = m.group(1)
        synopsis = bool(re.search(r"\s\[", body))
        joined: list[tuple[str, int]] = []
        for k, raw in enumerate(body.splitlines()):
            if synopsis and raw.startswith(" ") and joined:  # a synopsis line wrapped onto the next
                joined[-1] = (joined[-1][0] + " " + raw.strip(), joined[-1][1])
            elif raw.strip():
                joined.append((raw, first + k))
        for raw, lineno in joined:
            cmd, _, comment = raw.partition("  #") if not raw.lstrip().startswith("#") else ("", "", raw)
            if cmd.strip():
                out.append(Line(cmd.rstrip(), comment.strip(), lineno, synopsis))
    return out


def runnable() -> list[Line]:
    return [ln for ln in bash_lines() if not ln.synopsis]


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _is_jetson() -> bool:
    return Path("/etc/nv_tegra_release").is_file()


HAVE = {"cuda": _has_cuda, "jetson": _is_jetson}


def _key(cmd: str) -> str:
    return cmd.strip()


def _form(line: Line) -> str:
    """The command this run executes for ``line``, placeholders substituted (``{work}`` left for the run)."""
    q = QUICK[_key(line.command)]
    cmd = (q.full or line.command.strip()) if FULL else (q.quick or line.command.strip())
    for old, new in q.subst + (() if HAVE["cuda"]() else q.cpu_subst):
        cmd = cmd.replace(old, new)
    return cmd


# --------------------------------------------------------------------------------------------------
# coverage and labels


def test_every_readme_command_has_a_quick_form_and_no_stale_one():
    shown = {_key(ln.command) for ln in runnable()}
    assert shown, "no ```bash command found in README.md"
    missing = sorted(shown - set(QUICK))
    assert not missing, f"README commands with no quick form in tests/test_readme_commands.py QUICK: {missing}"
    stale = sorted(set(QUICK) - shown)
    assert not stale, f"QUICK covers commands the README no longer shows: {stale}"


def test_lines_that_need_hardware_say_so():
    for ln in runnable():
        need = QUICK[_key(ln.command)].needs
        if need:
            assert NEEDS_LABEL[need].search(ln.comment), f"README line {ln.lineno} needs {need} but its comment " \
                                                         f"does not say so: {ln.command!r} # {ln.comment!r}"


def test_a_cpu_only_form_stands_beside_each_cuda_command():
    """Every block with a line that needs CUDA also shows a form this CPU-only machine runs."""
    lines = runnable()
    for ln in lines:
        if QUICK[_key(ln.command)].needs == "cuda":
            verb = ln.command.split()[:2]
            beside = [o for o in lines if o.command.split()[:2] == verb and not QUICK[_key(o.command)].needs]
            if verb[1] == "calibrate":  # the CUDA calibration refines step1.toml, itself a complete CPU-side profile
                beside = [o for o in lines if "calibrate" in o.command and "--device cpu" in o.command]
            assert beside, f"README line {ln.lineno} ({ln.command!r}) needs CUDA and has no CPU-only form beside it"


# --------------------------------------------------------------------------------------------------
# the synopsis against the parser


def _option_strings(parser) -> set[str]:
    import argparse

    out: set[str] = set()
    for a in parser._actions:
        out.update(a.option_strings)
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                out |= _option_strings(sub)
    return out


def _nested(parser) -> dict:
    import argparse

    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def _groups(text: str) -> list[str]:
    """Top-level ``[…]`` groups of a synopsis line (nested brackets kept inside their group)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
            if depth == 1:
                start = i + 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                out.append(text[start:i])
    return out


def check_synopsis(text: str) -> None:
    """Every synopsis line of ``text`` names a real sub-command, real actions and real flags."""
    from sparoa_sim.cli import build_parser

    commands = _nested(build_parser())
    synopsis = [ln for ln in bash_lines(text) if ln.synopsis]
    assert len(synopsis) >= 10, "the Command line synopsis block was not found"
    for ln in synopsis:
        words = ln.command.split()
        assert words[0] == "sparoa", ln.command
        assert words[1] in commands, f"README line {ln.lineno}: no sub-command {words[1]!r}"
        parser = commands[words[1]]
        nested = _nested(parser)
        if nested:  # `train predictor`, `workloads [list | show …]`: each shown action exists
            shown = [words[2]] if not words[2].startswith(("[", "-")) else []
            for group in _groups(ln.command):
                alts = [a.strip() for a in re.split(r" \| ", group)]
                if not alts[0].startswith("-"):
                    shown += [a.split()[0] for a in alts]
            for word in shown:
                assert word in nested, f"README line {ln.lineno}: {words[1]} has no action {word!r}"
        flags = set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", ln.command))
        unknown = sorted(flags - _option_strings(parser))
        assert not unknown, f"README line {ln.lineno}: `sparoa {words[1]}` has no option(s) {unknown}"


def test_synopsis_shows_only_real_subcommands_and_flags():
    check_synopsis(README)


@pytest.mark.parametrize("before, after, caught", [
    ("sparoa doctor [--check] [--json]", "sparoa doctor [--check] [--json] [--no-such-flag]", "no-such-flag"),
    ("sparoa platforms [list | show NAME]", "sparoa platforms [list | show NAME | drop NAME]", "drop"),
    ("sparoa demo [--quick] [-o runs]", "sparoa demos [--quick] [-o runs]", "demos"),
])
def test_synopsis_check_catches_what_the_parser_lacks(before, after, caught):
    assert before in README
    with pytest.raises(AssertionError, match=caught):
        check_synopsis(README.replace(before, after))


# --------------------------------------------------------------------------------------------------
# running the commands

_RUNNER = r"""
import contextlib, io, json, os, shlex, sys, time
from sparoa_sim.cli.app import main
spec = json.loads(sys.argv[1])
os.chdir(spec["cwd"])
results = []
for cmd in spec["commands"]:
    argv = shlex.split(cmd)[1:]
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            import traceback; traceback.print_exc(file=err); rc = 99
    results.append({"command": cmd, "rc": rc, "seconds": time.perf_counter() - t0,
                    "stderr": err.getvalue()[-3000:], "stdout": out.getvalue()[-1500:]})
    sys.__stdout__.write(json.dumps(results[-1]) + "\n"); sys.__stdout__.flush()
"""

MYMODELS_BLOCK = re.compile(r"```python\n# mymodels\.py\n(.*?)```", re.S)


def _plan() -> list[tuple[Line, str, str]]:
    """(line, command to run, how): how is "run", "expect-fail" or "skip: reason", in README order."""
    plan = []
    for ln in runnable():
        q = QUICK[_key(ln.command)]
        if q.needs and not HAVE[q.needs]():
            how = "expect-fail" if q.without else f"skip: needs {q.needs}, absent here"
        elif ln.command.startswith("make test") and FULL:
            how = "skip: `make test` is what runs this test"
        elif not ln.command.startswith(("sparoa ", "make ")):
            how = "skip: a system command (run it yourself where the README says)"
        else:
            how = "run"
        plan.append((ln, _form(ln), how))
    return plan


@pytest.fixture(scope="module")
def readme_runs(tmp_path_factory) -> dict[str, dict]:
    """Run every planned command once, in README order, in one working folder → results by README command."""
    work = tmp_path_factory.mktemp("readme")
    data = work / "data"
    (data / "profiles").mkdir(parents=True)
    if not FULL:  # the quick form uses the example host profile; the full form calibrates this CPU (a minute)
        from sparoa_sim.cli.demo import EXAMPLE_HOST_PROFILE

        shutil.copy(EXAMPLE_HOST_PROFILE, data / "profiles" / "host.toml")
    m = MYMODELS_BLOCK.search(README)
    assert m, "README: the ```python block starting `# mymodels.py` (the factory `sparoa extract` loads) is missing"
    (work / "mymodels.py").write_text(m.group(1))
    env = {**os.environ, "SPAROA_SIM_DATA": str(data), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    results: dict[str, dict] = {}
    sparoa = [(ln, cmd) for ln, cmd, how in _plan() if how in ("run", "expect-fail") and cmd.startswith("sparoa ")]
    for ln, cmd, how in _plan():
        if how in ("run", "expect-fail") and cmd.startswith("make "):
            r = subprocess.run(shlex.split(cmd.replace("{work}", str(work))), cwd=ROOT, capture_output=True,
                               text=True, timeout=3600 if FULL else 60, env=env)
            results[_key(ln.command)] = {"command": cmd, "rc": r.returncode, "stderr": r.stderr, "stdout": r.stdout}
    if sparoa:
        spec = json.dumps({"cwd": str(work), "commands": [cmd for _, cmd in sparoa]})
        r = subprocess.run([sys.executable, "-c", _RUNNER, spec], cwd=work, env=env, capture_output=True, text=True,
                           timeout=3600 if FULL else 600)
        done = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
        for (ln, _), res in zip(sparoa, done):
            results[_key(ln.command)] = res
        for ln, cmd in sparoa[len(done):]:
            results[_key(ln.command)] = {"command": cmd, "rc": None, "stderr": r.stderr[-3000:], "stdout": ""}
    (work / "readme_runs.json").write_text(json.dumps(results, indent=1))  # exit status and seconds of each
    return results


def _ids() -> list[str]:
    return [f"L{ln.lineno}:{' '.join(ln.command.split()[:3])}" for ln in runnable()]


@pytest.mark.parametrize("index", range(len(runnable())), ids=_ids())
def test_readme_command_runs(index, readme_runs):
    ln, cmd, how = _plan()[index]
    if how.startswith("skip"):
        pytest.skip(f"README line {ln.lineno}: {how[6:]}")
    res = readme_runs[_key(ln.command)]
    where = f"README line {ln.lineno}: `{cmd}`"
    if how == "expect-fail":  # on this machine the line must fail cleanly, saying what it needs
        rc, phrase = QUICK[_key(ln.command)].without
        assert res["rc"] == rc, f"{where}: exit {res['rc']} (expected {rc} without the hardware)\n{res['stderr']}"
        lines = res["stderr"].strip().splitlines()
        assert len(lines) == 1 and phrase in lines[0], f"{where}: expected one line naming {phrase!r}: {res['stderr']}"
        return
    assert res["rc"] == 0, f"{where}: exit {res['rc']}\n{res['stderr']}\n{res['stdout']}"
    if cmd.startswith("make -n"):  # the recipe runs what the README says; the demo's quick run is its own test
        target = cmd.split()[2]
        assert {"demo": "sparoa demo --quick", "test": "pytest"}[target] in res["stdout"], res["stdout"]
        if target == "demo":
            assert "def test_quick_demo_writes_every_artifact" in (ROOT / "tests/cli/test_demo.py").read_text()


# --------------------------------------------------------------------------------------------------
# `make bench` regenerates every committed result


def _make_dry(target: str) -> str:
    r = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_every_phony_target_exists():
    text = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", text, flags=re.M).group(1).split()
    bench = re.search(r"^BENCH_TARGETS := ((?:.*\\\n)*.*)$", text, flags=re.M).group(1).replace("\\\n", " ").split()
    targets = [t for t in phony if t != "$(BENCH_TARGETS)"] + bench
    for t in targets:
        assert re.search(rf"^{re.escape(t)}:", text, flags=re.M), f"Makefile: .PHONY names {t!r}, no such rule"


def test_make_bench_regenerates_every_committed_result():
    """Each committed benchmarks/results/*.json comes from a script (or a path) `make bench` runs."""
    r = subprocess.run(["git", "ls-files", "benchmarks/results/*.json"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("not a git checkout")
    committed = [Path(p) for p in r.stdout.split()]
    assert committed, "git lists no committed benchmarks/results/*.json"
    plan = _make_dry("bench")
    scripts = set(re.findall(r"benchmarks/(\w+)\.py", plan))
    for path in committed:
        stem = path.name.split(".")[0]
        folder = path.parent.relative_to("benchmarks/results").as_posix()  # "." or a results sub-folder
        made = (stem in scripts or any(re.search(rf"benchmarks/results/{re.escape(stem)}\.json\b", line)
                                       for line in plan.splitlines())
                or (folder != "." and f"benchmarks/results/{folder}" in plan))
        assert made, f"{path}: committed, but no `make bench` target regenerates it ({sorted(scripts)})"
    assert "SPAROA_README_FULL=1" in plan and "tests/test_readme_commands.py" in plan


# --------------------------------------------------------------------------------------------------
# files the README names


def test_every_repository_file_the_readme_names_exists():
    """A path the README names in a link or in backticks, under a folder of this repository, exists in
    it (outputs such as ``DIR/…`` are not repository paths); none points outside the repository."""
    tops = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")} | {".ci"}
    named = set(re.findall(r"`([\w.-]+/[\w./-]*)`", README)) | set(re.findall(r"\]\(([^)#\s]+)", README))
    outside = sorted(p for p in named if p.startswith("../") or p.startswith("/") and not p.startswith("/proc"))
    assert not outside, f"README names files outside the repository (absent on a fresh clone): {outside}"
    mine = sorted(p for p in named if not p.startswith(("http", "/")) and p.split("/")[0] in tops)
    assert len(mine) >= 20, mine
    missing = [p for p in mine if not (ROOT / p).exists()]
    assert not missing, f"README names repository paths that do not exist: {missing}"
