"""Hostile inputs (issue 20, items 1, 2 and 5): every input is bounded where it is read, before any work.

Each case was reproduced on main first (before: rc, seconds, last stderr line; see the docstrings);
now it ends with exit 2 and one line naming the file or flag, the field, the value and the limit
(``sparoa_sim.limits``). The cases that need a real process run the ``sparoa`` entry point in a
child (tests/cli/hostile.py: time, memory, one line, inputs unchanged); the rest run in-process
through ``main`` (same code, no interpreter start-up). Hypothesis fuzzes the graph, profile, trace
and scenario loaders at the text level: a value or the loader's own error, never another exception.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sparoa_sim.limits as limits
from sparoa_sim.cli.app import main
from sparoa_sim.errors import GraphError, ProfileError, SimulationError

from hostile import assert_refused, digest_tree, run_cli
from hostile import refused_in_process as refused

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "sparoa_sim" / "workloads"
PROFILES = REPO / "hwmodels" / "profiles"
P = "jetson-orin-nano-8gb"
W = "squeezenet1_1"




def graph_doc(name: str = W) -> dict:
    return json.loads((SHIPPED / f"{name}.json").read_text())


def one_op_graph(path: Path, macs: float) -> Path:
    op = {"name": "huge_conv", "kind": "conv", "macs": macs, "flops": 2 * macs, "bytes_in": 1e6, "bytes_out": 1e6,
          "bytes_w": 1e6}
    path.write_text(json.dumps({"schema_version": 2, "name": "huge", "ops": [op]}))
    return path


def profile_text(**values: float) -> str:
    """The shipped Nano profile with ``gpu.latency.<key>``'s value replaced."""
    text = (PROFILES / f"{P}.toml").read_text()
    head, sep, tail = text.partition("[gpu.latency]")
    for key, v in values.items():
        tail, n = re.subn(rf"^{key} = {{ value = [^,]+,", f"{key} = {{ value = {v!r},", tail, count=1, flags=re.M)
        assert n == 1, key
    return head + sep + tail


# --- through the real entry point, in a child -------------------------------------------------

def _deep_json(tmp: Path) -> list[str]:
    (tmp / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    return ["simulate", "--workload", "deep.json", "--platform", P]


def _huge_macs(tmp: Path) -> list[str]:
    doc = graph_doc()
    doc["ops"][0]["macs"] = 1e308
    (tmp / "macs.json").write_text(json.dumps(doc))
    return ["simulate", "--workload", "macs.json", "--platform", P]


def _huge_t_launch(tmp: Path) -> list[str]:
    (tmp / "launch.toml").write_text(profile_text(t_launch=1e300))
    return ["simulate", "--workload", W, "--platform", "launch.toml"]


def _far_trace(tmp: Path) -> list[str]:
    (tmp / "far.json").write_text("[0, 1e308]")
    return ["simulate", "--workload", W, "--platform", P, "--arrival", "trace:far.json"]


#: (case, how to build its argv in a folder, words its one line must hold). Before, on main:
#: deep JSON exit 1 with a RecursionError in 1.2 s; every other case still running at 20 s.
CHILD_CASES = [
    ("deep-json", _deep_json, ("deep.json", "nested", "MAX_NESTING_DEPTH")),
    ("batch-2^31", lambda tmp: ["simulate", "--workload", W, "--platform", P, "--batch", "2147483647"],
     ("--batch", "2,147,483,647", "MAX_REQUESTS")),
    ("poisson-1e-300", lambda tmp: ["simulate", "--workload", W, "--platform", P, "--arrival", "poisson:1e-300"],
     ("poisson", "MAX_HORIZON_S")),
    ("trace-1e308", _far_trace, ("far.json", "arrival trace", "MAX_HORIZON_S")),
    ("macs-1e308", _huge_macs, ("macs.json", "'macs'", "MAX_OP_FLOPS")),
    ("t_launch-1e300", _huge_t_launch, ("launch.toml", "gpu.latency.t_launch", "1e+300")),
]


@pytest.mark.parametrize("build, mentions", [c[1:] for c in CHILD_CASES], ids=[c[0] for c in CHILD_CASES])
def test_hostile_input_is_refused_by_the_real_command_in_time(tmp_path, build, mentions):
    argv = build(tmp_path)
    (tmp_path / "earlier.json").write_text('{"an": "earlier output"}')
    before = digest_tree(tmp_path)
    ended = run_cli(argv, tmp_path)
    assert_refused(ended, mentions=mentions)
    assert digest_tree(tmp_path) == before  # nothing written, nothing given changed


# --- in-process: the same code through main() -------------------------------------------------

def test_deep_or_dotted_toml_and_deep_traces_are_refused_before_parsing(capsys, tmp_path):
    """Before: RecursionError tracebacks (exit 1); dotted keys 100,000 deep were killed for memory."""
    (tmp_path / "deep.toml").write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "dotted.toml").write_text("a" + ".a" * 5_000 + " = 1\n")
    (tmp_path / "deep.json").write_text("{\"times\": " + "[" * 50_000 + "]" * 50_000 + "}")
    for name in ("deep.toml", "dotted.toml"):
        refused(capsys, "simulate", "--workload", W, "--platform", tmp_path / name,
                mentions=(name, "nested", f"limit {limits.MAX_NESTING_DEPTH}"))
    refused(capsys, "simulate", "--workload", W, "--platform", P, "--arrival", f"trace:{tmp_path / 'deep.json'}",
            mentions=("arrival trace", "nested"))


def test_profile_numbers_out_of_physical_range_are_refused(capsys, tmp_path):
    """Before: noise_sigma 1e6 overflowed and ran past 20 s; t_dispatch 10 s was accepted."""
    for key, value in (("noise_sigma", 1e6), ("t_dispatch", 10.0), ("noise_sigma", 1.5)):
        path = tmp_path / f"{key}.toml"
        path.write_text(profile_text(**{key: value}))
        refused(capsys, "platforms", "show", path, mentions=(path.name, f"gpu.latency.{key}", repr(value), "<= 1"))
    ok = tmp_path / "edge.toml"
    ok.write_text(profile_text(noise_sigma=limits.MAX_NOISE_SIGMA, t_launch=limits.MAX_OVERHEAD_S))
    assert main(["platforms", "show", str(ok), "--json"]) == 0  # the limits themselves are accepted
    capsys.readouterr()


def test_graph_size_and_operator_count_are_bounded(capsys, tmp_path):
    """Before: a 1,000,000-operator graph was accepted (and simulated for minutes)."""
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # a sparse file: the size is refused before a byte is read
        fh.truncate(limits.MAX_GRAPH_FILE_BYTES + 1)
    refused(capsys, "workloads", "show", big, mentions=("big.json", "MAX_GRAPH_FILE_BYTES"))
    many = tmp_path / "many.json"
    n = limits.MAX_OPERATORS + 1
    many.write_text(json.dumps({"schema_version": 2, "name": "many",
                                "ops": [{"name": f"o{i}", "kind": "act"} for i in range(n)]}))
    refused(capsys, "simulate", "--workload", many, "--platform", P, mentions=("many.json", f"{n:,}", "MAX_OPERATORS"))


def test_run_size_is_estimated_up_front(capsys, tmp_path):
    """Operator runs, one operator's time and the simulated horizon are refused before simulating."""
    sim = ["simulate", "--platform", P]
    refused(capsys, *sim, "--workload", "resnet50", "--requests", "10000000", "--batch-timeout", "0.01",
            mentions=("10,000,000 batches", "174 operators", "MAX_OP_EVENTS"))
    slow = one_op_graph(tmp_path / "slow.json", 4e14)  # within MAX_OP_FLOPS, but hours on the CPU
    refused(capsys, *sim, "--workload", slow, mentions=("huge_conv", "on the cpu", "MAX_OP_SECONDS"))
    long = one_op_graph(tmp_path / "long.json", 1e14)  # minutes per request, 100,000 requests
    refused(capsys, *sim, "--workload", long, "--requests", "100000", "--arrival", "closed",
            mentions=("simulated time", "100,000 batches", "MAX_HORIZON_S"))
    # a background load that changes every picosecond: a short run, but billions of load changes
    fast = tmp_path / "fast-tenant.toml"
    fast.write_text('version = 1\nname = "fast-tenant"\n[background]\nkind = "markov"\nlevels = [0.0, 0.5]\n'
                    'mean_hold_s = 1e-12\n[primary.arrival]\nkind = "closed"\nrequests = 100\n')
    refused(capsys, *sim, "--workload", W, "--scenario", str(fast),
            mentions=("background load would change", "MAX_OP_EVENTS"))
    # before: a closed loop that cannot fill a batch waited 1e300 s per batch (still running at 20 s)
    few = [*sim, "--workload", W, "--batch", "4", "--arrival", "closed:1", "--requests", "40"]
    refused(capsys, *few, "--batch-timeout", "1e300", mentions=("timeout_s", "1e+300", "MAX_HORIZON_S"))
    refused(capsys, *few, "--batch-timeout", "1e6", mentions=("40 batches", "MAX_HORIZON_S"))


def test_run_budget_values(tmp_path):
    from sparoa_sim.hwmodels import load_platform
    from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Periodic
    from sparoa_sim.sim.budget import check_run_budget, run_budget
    from sparoa_sim.workloads import load_workload

    g, p = load_workload(W), load_platform(P)
    b = run_budget(g, p, ClosedLoop(10), Batching.fixed(4))
    assert (b.batches, b.op_events, b.arrival_horizon_s) == (3, 3 * len(g), 0.0)
    assert 0 < b.batch_s <= b.slowest_op_s * len(g) and b.horizon_s == pytest.approx(3 * b.batch_s)
    assert run_budget(g, p, ClosedLoop(10), Batching(max_batch=4, timeout_s=0.1)).batches == 10  # singles possible
    day = Periodic(30.0, 30 * 86_400)  # a day of 30 fps frames: accepted
    assert check_run_budget(g, p, day).op_events == 30 * 86_400 * len(g)


def test_arrival_sources_bound_requests_and_horizon():
    from sparoa_sim.sim.arrivals import ClosedLoop, Periodic, Poisson, TraceArrivals

    with pytest.raises(SimulationError, match="MAX_REQUESTS"):
        ClosedLoop(limits.MAX_REQUESTS + 1)
    with pytest.raises(SimulationError, match="poisson.*MAX_HORIZON_S"):
        Poisson(1e-300, 2)
    with pytest.raises(SimulationError, match="periodic.*MAX_HORIZON_S"):
        Periodic(1e-3, 10_000)
    with pytest.raises(SimulationError, match=r"time 1 \(1e\+308\)"):
        TraceArrivals((0.0, 1e308))
    assert TraceArrivals((0.0, float(limits.MAX_HORIZON_S))).n_requests == 2  # the limit itself is accepted
    assert Poisson(30.0, 30 * 86_400).n_requests == 2_592_000  # a day at 30 requests/s


def test_command_line_sizes_are_bounded(capsys, tmp_path, monkeypatch):
    """Before: huge --input-shape / --bandwidth-mib were allocation tracebacks; --tau-s nan was accepted."""
    monkeypatch.chdir(tmp_path)
    refused(capsys, "extract", "m:f", "--input-shape", "100000,100000,100000", "-o", "g.json",
            mentions=("--input-shape", "MAX_INPUT_ELEMENTS"))
    refused(capsys, "extract", "m:f", "--input-shape", ",".join(["1"] * 9), "-o", "g.json",
            mentions=("--input-shape", "MAX_INPUT_DIMS"))
    refused(capsys, "extract", "m:f", "--input-shape", "9" * 5000, "-o", "g.json", mentions=("--input-shape",))
    refused(capsys, "profile", "--workload", "resnet18", "--bandwidth-mib", str(10**9), "-o", "p.json",
            mentions=("--bandwidth-mib", "at most 1,024"))
    refused(capsys, "profile", "--workload", "resnet18", "--reps", "0", "-o", "p.json", mentions=("--reps",))
    for flag in ("--tau-s", "--tau-i"):
        refused(capsys, "workloads", "show", W, flag, "nan", mentions=(flag, "finite"))
        refused(capsys, "simulate", "--workload", W, "--platform", P, "--policy", "threshold", flag, "inf",
                mentions=(flag,))
    refused(capsys, "workloads", "show", W, "--tau-s", "1.5", mentions=("--tau-s", "[0, 1]"))
    assert not list(tmp_path.iterdir())


def test_one_bad_user_profile_does_not_break_platforms_list(capsys, tmp_path, monkeypatch):
    """Before: one malformed profile in the user's folder made `platforms list` fail for all."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "broken.toml").write_text("schema_version = [[[")
    monkeypatch.setenv("SPAROA_SIM_DATA", str(tmp_path))
    assert main(["platforms", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert P in [r["name"] for r in doc["platforms"]]
    assert [b["name"] for b in doc["unreadable"]] == ["broken"] and "broken.toml" in doc["unreadable"][0]["error"]
    assert main(["platforms", "list"]) == 0
    assert "not listed: profile 'broken' cannot be read" in capsys.readouterr().out


def test_an_unwritable_folder_names_the_users_file_not_the_temporary_one(tmp_path, monkeypatch):
    """Before: the error named `.t.json.k3j2.tmp`, a name the user never gave."""
    import tempfile

    from sparoa_sim.hwmodels.fileio import atomic_write_text

    def deny(prefix: str = "", suffix: str = "", dir: str | None = None):
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}k3j2{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", deny)
    with pytest.raises(PermissionError) as exc:
        atomic_write_text(tmp_path / "t.json", "{}")
    assert exc.value.filename == str(tmp_path / "t.json") and exc.value.errno == 13
    target = tmp_path / "adir"
    target.mkdir()
    monkeypatch.undo()
    with pytest.raises(IsADirectoryError) as exc:
        atomic_write_text(target, "{}")
    assert exc.value.filename == str(target) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow  # imports torch (several seconds on a loaded machine)
def test_extract_reports_a_failing_factory_in_one_line(capsys, tmp_path, monkeypatch):
    """Before: a factory that raised or needed arguments ended in a traceback (exit 1)."""
    (tmp_path / "hostile_models_20a.py").write_text(
        "def boom():\n    raise ValueError('no weights here')\n\ndef needs(width):\n    return width\n\n"
        "def text():\n    return 'not a module'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    shape = ["--input-shape", "1,3,8,8", "-o", "g.json"]
    refused(capsys, "extract", "hostile_models_20a:boom", *shape,
            mentions=("hostile_models_20a:boom", "raised ValueError", "no weights here"))
    refused(capsys, "extract", "hostile_models_20a:needs", *shape, mentions=("raised TypeError", "width"))
    refused(capsys, "extract", "hostile_models_20a:text", *shape, mentions=("not a torch.nn.Module",))
    assert not (tmp_path / "g.json").exists()
    sys.modules.pop("hostile_models_20a", None)


# --- the limits table and the depth scan -------------------------------------------------------

def test_the_limits_table_lists_every_limit_once_with_its_value():
    names = [lim.name for lim in limits.LIMITS]
    assert len(names) == len(set(names))
    for lim in limits.LIMITS:
        assert getattr(limits, lim.name) == lim.value and lim.why and lim.what
    constants = {n for n in limits.__all__ if n.startswith(("MAX_", "MIN_"))}
    assert constants == set(names)
    md = limits.limits_markdown()
    assert md.count("\n") == len(names) + 2 and "| `MAX_REQUESTS` | 10,000,000 requests |" in md
    assert "| `MAX_GRAPH_FILE_BYTES` | 32 MiB |" in md and "30 days (2,592,000 s)" in md


@pytest.mark.parametrize("text, syntax, depth", [
    ('["[[[", [1]]', "json", 2),
    ('{"a\\"[[": [[]]}', "json", 3),
    ('["\\\\", [["]]]]"]]]', "json", 3),
    ("", "json", 0),
    ("[" * 1000 + "]" * 1000, "json", 1000),
    ('a = [[1]] # [[[[\nb = "[[[[["\n', "toml", 2),
    ("[x.y.z]\nw.v = 1\n", "toml", 5),
    ("s = '''\n[[[[[[\n'''\n", "toml", 1),
])
def test_nesting_depth_skips_strings_and_comments(text, syntax, depth):
    assert limits.nesting_depth(text, syntax) == depth


def test_every_shipped_file_is_well_within_the_limits():
    for path in sorted(SHIPPED.glob("*.json")):
        text = path.read_text()
        assert limits.nesting_depth(text) <= 8 and len(text) < limits.MAX_GRAPH_FILE_BYTES // 100
        assert len(json.loads(text)["ops"]) < limits.MAX_OPERATORS // 50
    scenarios = REPO / "sparoa_sim" / "scenarios" / "builtin"
    for path in sorted(PROFILES.glob("*.toml")) + sorted(scenarios.glob("*.toml")):
        assert limits.nesting_depth(path.read_text(), "toml") <= 8


# --- fuzzing the loaders at the text level -----------------------------------------------------

def _mutations(text: str) -> st.SearchStrategy[str]:
    """``text`` cut short, with a character inserted or removed, with a value replaced, or nested deep."""
    n = len(text)
    cut = st.integers(0, n).map(lambda i: text[:i])
    insert = st.tuples(st.integers(0, n), st.sampled_from(list('[]{}",:=#\\\'\n0e-') + ["1e308", "nan", "-1"])).map(
        lambda t: text[:t[0]] + t[1] + text[t[0]:])
    drop = st.integers(0, max(0, n - 1)).map(lambda i: text[:i] + text[i + 1:])
    deep = st.integers(60, 3000).map(lambda k: "[" * k + text + "]" * k)
    return st.one_of(cut, insert, drop, deep)


_GRAPH_TEXT = json.dumps(graph_doc("squeezenet1_1") | {"ops": graph_doc("squeezenet1_1")["ops"][:4]})
_NUMBER = re.compile(r"(?<=value = )[-0-9.e+]+")
_PROFILE_TEXT = (PROFILES / f"{P}.toml").read_text()
_NUMBERS = [m.span() for m in _NUMBER.finditer(_PROFILE_TEXT)]
_WILD = st.sampled_from(["1e308", "-1e308", "0", "-1", "1e-308", "nan", "inf", "1e300", "\"x\"", "[]", "{}"])


@given(_mutations(_GRAPH_TEXT))
def test_fuzzed_graph_files_load_or_raise_graph_errors(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("g") / "g.json"
    path.write_text(text)
    from sparoa_sim.ir.graph import load_graph

    try:
        load_graph(path)
    except GraphError as exc:
        assert str(path) in str(exc)


@given(st.one_of(st.integers(0, len(_NUMBERS) - 1).flatmap(
    lambda i: _WILD.map(lambda v: _PROFILE_TEXT[:_NUMBERS[i][0]] + v + _PROFILE_TEXT[_NUMBERS[i][1]:])),
    _mutations(_PROFILE_TEXT[:3000])))
def test_fuzzed_profiles_parse_or_raise_profile_errors(text):
    from sparoa_sim.hwmodels import parse_platform

    try:
        parse_platform(text, "fuzz.toml")
    except ProfileError as exc:
        assert str(exc).startswith("fuzz.toml")


_TRACE_VALUES = st.recursive(st.one_of(st.floats(), st.integers(-10, 10**400), st.text(max_size=3), st.none(),
                                       st.booleans()),
                             lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.just("times"), inner),
                             max_leaves=8)


@given(st.one_of(_TRACE_VALUES.map(lambda v: json.dumps(v)), _mutations("[0.0, 0.5, 1.25]\n"),
                 st.text(alphabet="0123456789.e-,\n# ", max_size=40)))
def test_fuzzed_arrival_traces_load_or_raise_simulation_errors(tmp_path_factory, text):
    from sparoa_sim.sim.arrivals import load_arrival_trace

    path = tmp_path_factory.mktemp("t") / "t.json"
    path.write_text(text)
    try:
        trace = load_arrival_trace(path)
    except SimulationError:
        return
    assert 1 <= trace.n_requests <= limits.MAX_REQUESTS and trace.times[-1] <= limits.MAX_HORIZON_S


_SCENARIO_TEXT = (REPO / "sparoa_sim" / "scenarios" / "builtin" / "detector-classifier.toml").read_text()


@given(_mutations(_SCENARIO_TEXT))
def test_fuzzed_scenarios_load_or_raise_simulation_errors(tmp_path_factory, text):
    from sparoa_sim.scenarios.files import load_scenario

    path = tmp_path_factory.mktemp("s") / "s.toml"
    path.write_text(text)
    try:
        load_scenario(path)
    except SimulationError:
        pass
