"""Every input limit in one table: the most a file, a graph, a profile or a run may ask for (issue 20).

Each limit is a named constant with its unit and a one-line reason, generous for real use (the
largest shipped and zoo graphs, a day of 30 fps camera frames) and far below what would exhaust
memory or run for ever. They are checked once, where the input is read or parsed, before any
work; a refusal names the file or flag, the field, the value and the limit (a ``SparOAError``
subclass: the command line exits 2 with one line). :data:`LIMITS` lists them for the README's
"Limits" table (:func:`limits_markdown`). :func:`nesting_depth` is the depth scan the JSON and
TOML readers run on the text before parsing it (a parser recurses per level: 100,000 ``[`` used
to end in a ``RecursionError``).

It lives in ``hwmodels`` (which imports nothing above itself), beside ``hwmodels.errors``, so every
reader can use it; ``sparoa_sim.limits`` is its public face, as ``sparoa_sim.errors`` is the errors'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LIMITS",
    "Limit",
    "MAX_BANDWIDTH_MIB",
    "MAX_GRAPH_FILE_BYTES",
    "MAX_HORIZON_S",
    "MAX_INPUT_DIMS",
    "MAX_INPUT_ELEMENTS",
    "MAX_JSON_FILE_BYTES",
    "MAX_NESTING_DEPTH",
    "MAX_NOISE_SIGMA",
    "MAX_OPERATORS",
    "MAX_ORACLE_OPS",
    "MAX_REPLAY_TRACE_EVENTS",
    "MAX_OP_BYTES",
    "MAX_OP_EVENTS",
    "MAX_OP_FLOPS",
    "MAX_OP_SECONDS",
    "MAX_OVERHEAD_S",
    "MAX_PROFILE_FILE_BYTES",
    "MAX_REQUESTS",
    "MAX_SCENARIO_FILE_BYTES",
    "MAX_TRACE_FILE_BYTES",
    "MIN_EFFICIENCY",
    "check_nesting",
    "limit_name",
    "limits_markdown",
    "nesting_depth",
]

MiB = 1 << 20
DAY_S = 86_400

# --- files ------------------------------------------------------------------------------
#: Deepest nesting of arrays/objects/tables a JSON or TOML file may have (graph files nest 4 deep).
MAX_NESTING_DEPTH = 64
#: Largest graph JSON file, bytes (the largest shipped graph is 91 kB; 20,000 operators ≈ 7.5 MB).
MAX_GRAPH_FILE_BYTES = 32 * MiB
#: Largest hardware profile TOML, bytes (the shipped ones are 23-28 kB).
MAX_PROFILE_FILE_BYTES = 1 * MiB
#: Largest scenario TOML, bytes (the shipped ones are under 2 kB).
MAX_SCENARIO_FILE_BYTES = 1 * MiB
#: Largest arrival-trace file, bytes (a day of 30 fps frames, 2.6 M times, is about 50 MB of text).
MAX_TRACE_FILE_BYTES = 128 * MiB
#: Largest other JSON input (measurement tables, schedules), bytes.
MAX_JSON_FILE_BYTES = 256 * MiB

# --- graphs -----------------------------------------------------------------------------
#: Most operators one graph may hold (the largest shipped graph has 245; 80x that).
MAX_OPERATORS = 20_000
#: Most operators the CP-SAT oracle takes: its model's construction needs the exact evaluator's least
#: solution several times, about n² on graphs with many device switches (measured here: 1,000 operators
#: 10.6 s wall with --time-limit 5; 2,000 operators 24.6 s before the solver could start).
MAX_ORACLE_OPS = 1000
#: Most executor events (requests × operators) a `replay --trace` records (a trace is held in memory).
MAX_REPLAY_TRACE_EVENTS = 2_000_000
#: Most FLOPs (or MACs) one operator may do per sample (VGG16's largest conv: 3.7e9 FLOPs).
MAX_OP_FLOPS = 1e15
#: Most bytes one operator may read, write or hold as weights per sample (a Jetson has 64 GB at most).
MAX_OP_BYTES = 1e12

# --- profiles ---------------------------------------------------------------------------
#: Largest per-operator overhead of a profile (t_launch, t_dispatch, act_launch, t_sync), s (measured: 1e-5).
MAX_OVERHEAD_S = 1.0
#: Largest log-normal noise σ of a profile (measured repeatability: 0.03-0.05; σ = 1 is ×2.7 per σ).
MAX_NOISE_SIGMA = 1.0
#: Smallest kernel efficiency of a profile (eta, sparse_eta, act_eta), a share of peak (fitted: 0.01-0.9).
MIN_EFFICIENCY = 1e-6

# --- runs -------------------------------------------------------------------------------
#: Most requests one simulation takes (arrivals are drawn up front: 80 bytes each).
MAX_REQUESTS = 10_000_000
#: Longest simulated horizon, s: the last arrival, or the run's time estimated up front (a day of frames is 86,400 s).
MAX_HORIZON_S = 30 * DAY_S
#: Most events one simulation may do: operator executions (batches × operators) plus the load changes of a
#: Markov background load over the run's horizon (a day of 30 fps frames of the
#: largest shipped graph is 6.4e8; measured about 90,000 per CPU second: ResNet-18, gpu policy, noise on).
MAX_OP_EVENTS = 1_000_000_000
#: Longest predicted time of one operator on either device at the run's batch size, s (VGG16's largest
#: conv at batch 64 on the Orin Nano's CPU is predicted at 3 s).
MAX_OP_SECONDS = 3_600.0

# --- command-line sizes -----------------------------------------------------------------
#: Most elements of an ``extract --input-shape`` example input (256 MiB at float32; 1x3x4096x4096 is 50 M).
MAX_INPUT_ELEMENTS = 1 << 26
#: Most dimensions of an ``extract --input-shape``.
MAX_INPUT_DIMS = 8
#: Largest ``profile --bandwidth-mib`` STREAM array, MiB (STREAM wants 4x the last-level cache: a few MiB).
MAX_BANDWIDTH_MIB = 1024


@dataclass(frozen=True)
class Limit:
    """One row of the limits table: the constant's name, its value, unit, what it bounds and why."""

    name: str
    value: float
    unit: str
    what: str
    why: str

    def shown(self) -> str:
        """The value in the user's units (``32 MiB``, ``30 days``, ``10,000,000``)."""
        v = self.value
        if self.unit == "bytes" and v >= MiB:
            return f"{v / MiB:g} MiB" if v % MiB == 0 else f"{v:g} bytes"
        if self.unit == "s" and v >= DAY_S:
            return f"{v / DAY_S:g} days ({v:,.0f} s)"
        if isinstance(v, int) or float(v).is_integer() and abs(v) < 1e12:
            return f"{int(v):,}" + (f" {self.unit}" if self.unit else "")
        return f"{v:g}" + (f" {self.unit}" if self.unit else "")


#: The table the README shows, in reading order.
LIMITS: tuple[Limit, ...] = (
    Limit("MAX_NESTING_DEPTH", MAX_NESTING_DEPTH, "levels", "nesting of any JSON or TOML input",
          "parsers recurse per level; graph files nest 4 deep"),
    Limit("MAX_GRAPH_FILE_BYTES", MAX_GRAPH_FILE_BYTES, "bytes", "graph JSON file",
          "the largest shipped graph is 91 kB; 20,000 operators take about 7.5 MB"),
    Limit("MAX_PROFILE_FILE_BYTES", MAX_PROFILE_FILE_BYTES, "bytes", "hardware profile or published-sparsity TOML",
          "the shipped profiles are 23-28 kB"),
    Limit("MAX_SCENARIO_FILE_BYTES", MAX_SCENARIO_FILE_BYTES, "bytes", "scenario TOML",
          "the shipped scenarios are under 2 kB"),
    Limit("MAX_TRACE_FILE_BYTES", MAX_TRACE_FILE_BYTES, "bytes", "arrival-trace file",
          "a day of 30 fps frames (2.6 M times) is about 50 MB"),
    Limit("MAX_JSON_FILE_BYTES", MAX_JSON_FILE_BYTES, "bytes", "other JSON inputs (measurement tables)",
          "parsed in memory at about 10x their size"),
    Limit("MAX_OPERATORS", MAX_OPERATORS, "operators", "operators in one graph",
          "80x the largest shipped graph (245)"),
    Limit("MAX_ORACLE_OPS", MAX_ORACLE_OPS, "operators", "operators the oracle (CP-SAT) takes",
          "its model grows about as n²; 2,000 operators spent 25 s before solving"),
    Limit("MAX_OP_FLOPS", MAX_OP_FLOPS, "FLOPs", "macs / flops of one operator per sample",
          "VGG16's largest convolution does 3.7e9"),
    Limit("MAX_OP_BYTES", MAX_OP_BYTES, "bytes", "bytes_in / bytes_out / bytes_w of one operator",
          "more than any Jetson's memory (64 GB)"),
    Limit("MAX_OVERHEAD_S", MAX_OVERHEAD_S, "s", "t_launch, t_dispatch, act_launch, t_sync of a profile",
          "measured per-kernel overheads are about 1e-5 s"),
    Limit("MAX_NOISE_SIGMA", MAX_NOISE_SIGMA, "", "noise_sigma of a profile (log-normal σ)",
          "measured repeatability is 0.03-0.05; larger draws overflow"),
    Limit("MIN_EFFICIENCY", MIN_EFFICIENCY, "of peak", "smallest eta, sparse_eta, act_eta of a profile",
          "fitted efficiencies are 0.01-0.9; near 0 an operator never ends"),
    Limit("MAX_REQUESTS", MAX_REQUESTS, "requests", "requests of one simulation (--requests, --batch, trace)",
          "arrivals are drawn up front"),
    Limit("MAX_HORIZON_S", MAX_HORIZON_S, "s", "simulated time: last arrival, or the run estimated up front",
          "a day of 30 fps frames is 86,400 s; background load ticks every 20 ms"),
    Limit("MAX_OP_EVENTS", MAX_OP_EVENTS, "events", "batches × operators of one simulation, plus a Markov "
          "background load's changes over its horizon",
          "a day of 30 fps frames of the largest shipped graph: 6.4e8, 2 h at ~90,000 per CPU second"),
    Limit("MAX_OP_SECONDS", MAX_OP_SECONDS, "s", "predicted time of one operator on either device",
          "VGG16's largest conv at batch 64 on the Orin Nano CPU is predicted at 3 s"),
    Limit("MAX_INPUT_ELEMENTS", MAX_INPUT_ELEMENTS, "elements", "extract --input-shape (product)",
          "256 MiB at float32; 1x3x4096x4096 is 50 M"),
    Limit("MAX_INPUT_DIMS", MAX_INPUT_DIMS, "dimensions", "extract --input-shape (length)",
          "image and token models take 2-5"),
    Limit("MAX_BANDWIDTH_MIB", MAX_BANDWIDTH_MIB, "MiB", "profile --bandwidth-mib",
          "STREAM wants 4x the last-level cache (a few MiB)"),
    Limit("MAX_REPLAY_TRACE_EVENTS", MAX_REPLAY_TRACE_EVENTS, "events", "replay --trace (requests × operators)",
          "a trace is held in memory until written"),
)


def limit_name(value: float, unit: str = "bytes") -> str:
    """The name of the limit of ``value`` in ``unit`` (for messages), or ``"limit"`` when none has it."""
    return next((lim.name for lim in LIMITS if lim.value == value and lim.unit == unit), "limit")


def limits_markdown() -> str:
    """The README "Limits" table as Markdown rows (header included), generated from :data:`LIMITS`."""
    rows = ["| limit | value | bounds | why |", "|---|---|---|---|"]
    rows += [f"| `{lim.name}` | {lim.shown()} | {lim.what} | {lim.why} |" for lim in LIMITS]
    return "\n".join(rows) + "\n"


# --- the depth scan ---------------------------------------------------------------------
_TOML_SKIP = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*')
_STEP = np.zeros(256, dtype=np.int32)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
_OTHER_BYTES = bytes(c for c in range(256) if c not in b'[]{}"')


def _bracket_depth(text: str, json_strings: bool = False) -> int:
    """Deepest running count of open brackets/braces in ``text``, in a few C-speed passes (32 MB in
    well under a second). With ``json_strings`` the brackets inside JSON strings are skipped
    (escaped backslashes and quotes removed first, then every unescaped quote toggles "inside a
    string"); else strings must be removed already."""
    if json_strings and "\\" in text:
        text = text.replace("\\\\", "").replace('\\"', "")
    kept = text.encode("utf-8", "replace").translate(None, _OTHER_BYTES)  # brackets and quotes only
    data = np.frombuffer(kept, dtype=np.uint8)
    if data.size == 0:
        return 0
    step = _STEP[data]
    if json_strings:
        step[(np.cumsum(data == ord('"'), dtype=np.int32) & 1).astype(bool)] = 0
    return max(0, int(np.cumsum(step).max()))


def _toml_key_depth(text: str) -> int:
    """Deepest dotted key or table header of TOML ``text`` (strings and comments removed):
    ``[a.b.c]`` then ``d.e = 1`` reach depth 5 (tomllib builds one table per part)."""
    header = deepest = 0
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            header = s.strip("[] \t").count(".") + 1
            deepest = max(deepest, header)
        elif "=" in s:
            deepest = max(deepest, header + s.partition("=")[0].count(".") + 1)
    return deepest


def nesting_depth(text: str, syntax: str = "json") -> int:
    """How deeply ``text`` nests (``syntax`` ``json`` or ``toml``), scanned before parsing: brackets and
    braces outside strings (and, in TOML, comments), plus TOML's dotted keys and headers. A lower bound
    of what a parser recurses into for malformed text; exact enough to refuse 100,000 levels in
    milliseconds without refusing any real file."""
    if syntax == "json":
        return _bracket_depth(text, json_strings=True)
    if syntax == "toml":
        bare = _TOML_SKIP.sub("", text)
        return max(_bracket_depth(bare), _toml_key_depth(bare))
    raise ValueError(f"syntax must be 'json' or 'toml', got {syntax!r}")


def check_nesting(text: str, where: str, error: type[Exception], syntax: str = "json",
                  limit: int = MAX_NESTING_DEPTH) -> None:
    """Raise ``error`` naming ``where`` when ``text`` nests deeper than ``limit`` levels."""
    depth = nesting_depth(text, syntax)
    if depth > limit:
        raise error(f"{where}: nested {depth} levels deep (limit {limit}, MAX_NESTING_DEPTH)")
