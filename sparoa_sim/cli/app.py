"""The ``sparoa`` command line: a thin application layer over the Python API (docs/architecture.md §9).

:func:`build_parser` gathers one sub-command per module of :mod:`sparoa_sim.cli`; :func:`main`
runs the chosen one. Every reporting command takes ``--json`` and then prints exactly one JSON
object on stdout; without it, a rich table (:mod:`sparoa_sim.cli.output`). Bad input exits 2 with
one line on stderr and no traceback. Upper layers (torch, gymnasium, agents) are imported inside
the command functions only, so ``import sparoa_sim.cli`` stays light.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sparoa_sim.cli.args import Parser
from sparoa_sim.cli.calibrate import add_calibrate_parser
from sparoa_sim.cli.demo import add_demo_parser
from sparoa_sim.cli.doctor import add_doctor_parser
from sparoa_sim.cli.evaluate import add_evaluate_parser
from sparoa_sim.cli.extract import add_extract_parser
from sparoa_sim.cli.oracle import add_oracle_parser
from sparoa_sim.cli.output import error_line
from sparoa_sim.cli.platforms import add_platforms_parser
from sparoa_sim.cli.profile import add_profile_parser
from sparoa_sim.cli.replay import add_replay_parser
from sparoa_sim.cli.scenarios import add_scenarios_parser
from sparoa_sim.cli.simulate import add_simulate_parser
from sparoa_sim.cli.train import add_train_parser
from sparoa_sim.cli.validate import add_validate_parser
from sparoa_sim.cli.workloads import add_workloads_parser
from sparoa_sim.errors import SparOAError

__all__ = ["build_parser", "main"]

#: The sub-commands in the order ``sparoa --help`` lists them.
COMMANDS = (add_workloads_parser, add_platforms_parser, add_scenarios_parser, add_extract_parser, add_simulate_parser, add_train_parser,
            add_evaluate_parser, add_demo_parser, add_oracle_parser, add_replay_parser, add_validate_parser,
            add_profile_parser, add_calibrate_parser, add_doctor_parser)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (sub-commands attach their handler as ``func``)."""
    from sparoa_sim import __version__

    parser = Parser(prog="sparoa", description="SparOA-sim: digital twin for CPU-GPU hybrid DNN inference")
    parser.add_argument("--version", action="version", version=f"sparoa-sim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparoa`` console script; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except SparOAError as exc:
        error_line(f"sparoa: error: {exc}")
        return 2
    except KeyboardInterrupt:
        error_line("sparoa: interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except RecursionError:  # a safety net: every reader bounds nesting first (sparoa_sim.limits)
        error_line("sparoa: error: an input is nested too deeply to read (see the README's Limits)")
        return 2
    except MemoryError:
        error_line("sparoa: error: out of memory: an input or option asks for more than this machine has "
                   "(see the README's Limits)")
        return 2
    except OSError as exc:  # an output path that is a folder, under a file, not writable; an unreadable input
        where = exc.filename2 or exc.filename  # a rename onto a folder names the target second
        error_line(f"sparoa: error: {exc.strerror or exc}" + (f": {where}" if where else ""))
        return 2
