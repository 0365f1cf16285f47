"""``validate --weights --inputs``: the model runs with the user's trained weights on their inputs, one input
per timed run in turn, and the twin reads the graph with the sparsity measured on them (issue 19)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.real.models import zoo
from sparoa_sim.real.models.user_inputs import sha256_file
from sparoa_sim.real.run import validate as vmod
from sparoa_sim.real.run.validate import ValidationError, validate

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "host.toml"
PLATFORM = load_platform(FIXTURE if FIXTURE.is_file() else "jetson-orin-nano-8gb")
W = "mobilenetv3_small"
N_INPUTS = 3


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    """Weights other than validate's own seed-0 ones (seed 7, reduced model) and three inputs."""
    d = tmp_path_factory.mktemp("user")
    torch.save(zoo.build(W, seed=7, reduced=True).state_dict(), d / "w.pt")
    shape = tuple(zoo.example_input(W, batch=1, reduced=True).shape[1:])
    np.save(d / "x.npy", np.random.default_rng(1).standard_normal((N_INPUTS, *shape)).astype(np.float32))
    return d / "w.pt", d / "x.npy"


def test_the_twin_reads_the_sparsity_measured_with_the_users_weights(user_files, monkeypatch):
    weights, inputs = user_files
    seen: list[torch.Tensor] = []
    models: list[torch.nn.Module] = []
    real = vmod._measure

    def spy(ex, model, xs, *a, **k):
        seen.extend(xs)
        models.append(model)
        return real(ex, model, xs, *a, **k)

    monkeypatch.setattr(vmod, "_measure", spy)
    reads: list[str] = []  # each user file is read once, for the twin's graph and the executor alike
    for name in ("load_state_dict", "load_inputs"):
        monkeypatch.setattr(vmod, name, lambda *a, _f=getattr(vmod, name), _n=name, **k: reads.append(_n) or _f(*a, **k))
    rep = validate(W, PLATFORM, policies=("cpu",), reps=2, warmup=1, reduced=True, weights=weights, inputs=inputs)
    assert rep.meta["inputs"]["samples"] == N_INPUTS and rep.meta["sparsity_source"].startswith("measured")
    assert sorted(reads) == ["load_inputs", "load_state_dict"]
    op_rows = {r.op: r for r in rep.ops}
    assert op_rows, "the CPU placement was measured per operator"
    # the executor ran the user's inputs, one per run, not validate's own example input
    pool = torch.from_numpy(np.load(inputs))
    assert len(seen) == N_INPUTS and all(torch.equal(s, pool[i:i + 1]) for i, s in enumerate(seen))
    # with the user's (seed-7) weights, not validate's seed-0 ones
    trained = torch.load(weights, weights_only=True)
    assert all(torch.equal(v, trained[k]) for k, v in models[0].state_dict().items())
    assert not all(torch.equal(v, trained[k]) for k, v in zoo.build(W, seed=0, reduced=True).state_dict().items())
    # and the twin predicted the graph measured with these very files (named by their sha256), not the shipped one
    source = rep.meta["sparsity_source"]
    assert sha256_file(weights)[:12] in source and sha256_file(inputs)[:12] in source


def test_inputs_cycle_one_per_timed_run():
    calls: list[int] = []

    class Ex:
        def run(self, x, placement=None):
            calls.append(int(x.item()))
            return type("R", (), {"wall_s": 0.0, "ops": ()})()

    xs = [torch.tensor([float(i)]) for i in range(3)]
    cand = type("C", (), {"name": "cpu", "schedule": None})()
    vmod._measure(Ex(), lambda x: x, xs, [cand], reps=4, warmup=1, progress=None, settle_s=0.0)
    timed = calls[-4:]
    assert timed == [0, 1, 2, 0]


def test_weights_without_inputs_is_refused(user_files):
    with pytest.raises(ValidationError, match="weights and inputs"):
        validate(W, PLATFORM, policies=("cpu",), reps=2, reduced=True, weights=user_files[0])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sparoa_sim.cli", "validate", *args], capture_output=True,
                          text=True, timeout=180)


def test_cli_refuses_a_lone_flag_and_inputs_of_the_wrong_shape(user_files, tmp_path):
    weights, _ = user_files
    plat = str(FIXTURE) if FIXTURE.is_file() else "jetson-orin-nano-8gb"
    base = ("--workload", W, "--reduced", "--platform", plat, "--policies", "cpu", "--reps", "2")
    r = _cli(*base, "--weights", str(weights), "-o", str(tmp_path / "a"))
    assert r.returncode == 2 and "--weights: measured sparsity needs --inputs too" in r.stderr
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 3, 5, 5), dtype=np.float32))
    r = _cli(*base, "--weights", str(weights), "--inputs", str(bad), "-o", str(tmp_path / "b"))
    assert r.returncode == 2 and "bad.npy" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
