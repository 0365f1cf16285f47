"""The engine is core layer: importing it pulls in neither torch nor SB3 nor upper layers (gymnasium's
registry is imported by ``sparoa_sim/__init__`` to register the env ids, DESIGN §1)."""

from __future__ import annotations

import subprocess
import sys


def test_engine_imports_no_upper_layer():
    code = (
        "import sys\n"
        "import sparoa_sim.engine, sparoa_sim.policies, sparoa_sim.trace, sparoa_sim.cli\n"
        "bad = [m for m in ('torch', 'stable_baselines3', 'sparoa_sim.envs', 'sparoa_sim.agents',"
        " 'sparoa_sim.real') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
