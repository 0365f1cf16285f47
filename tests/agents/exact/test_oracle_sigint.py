"""After the oracle has run (subsolver names checked on a trivial CP-SAT model included), Ctrl-C is still
Python's KeyboardInterrupt: CP-SAT's own SIGINT handler must never be left behind (it killed the test run)."""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import os, signal, time
from sparoa_sim.agents.exact.oracle import solve_oracle
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.ir.synthetic import generate
solve_oracle(generate(3, target_ops=12), load_platform("jetson-orin-nano-8gb"), time_limit_s=5, num_workers=2,
             subsolvers=("probing",), chain_bound=True, search_evals=50)
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
    print("no interrupt")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""


def test_ctrl_c_after_an_oracle_solve_is_a_keyboard_interrupt():
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr[-500:])
    assert r.stdout.strip().endswith("KeyboardInterrupt")
