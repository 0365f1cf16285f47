"""Replay measures the rate it served beside the rate the stream offered, warns when overloaded,
falls back to the CPU with one notice line, and bounds ``--requests`` (issues 20 and 24)."""

from __future__ import annotations

import pytest
import torch

from sparoa_sim.cli.app import main
from sparoa_sim.cli.replay import MAX_REPLAY_REQUESTS, MAX_TRACE_EVENTS, overload_notice
from sparoa_sim.real.models import zoo
from sparoa_sim.real.run.executor import HybridExecutor
from sparoa_sim.real.run.replay import ReplayReport, offered_rate, replay
from sparoa_sim.sim.arrivals import Batching, ClosedLoop, Periodic, Poisson, TraceArrivals


@pytest.fixture(scope="module")
def ex():
    m = zoo.build("squeezenet1_1", reduced=True)
    with HybridExecutor(m, zoo.example_input("squeezenet1_1", reduced=True), gpu_device=None,
                        name="squeezenet1_1") as e:
        yield e


def _inputs(r: int) -> torch.Tensor:
    return zoo.example_input("squeezenet1_1", reduced=True, seed=r)


def test_offered_rate_of_each_arrival_process():
    assert offered_rate(Poisson(50.0, 10)) == 50.0
    assert offered_rate(Periodic(30.0, 5)) == 30.0
    assert offered_rate(TraceArrivals((0.0, 0.5, 1.0, 2.0))) == pytest.approx(1.5)
    assert offered_rate(TraceArrivals((1.0, 1.0))) is None  # no span: no rate
    assert offered_rate(ClosedLoop(10)) is None  # clients wait for the server: never overloaded


def _report(**kw) -> ReplayReport:
    base = dict(workload="w", arrival="poisson:50", max_batch=2, n_requests=3, completed=3, failed=(),
                latencies_s=(0.1, 0.2, 0.3), makespan_s=1.0, cpu_busy_s=0.1, gpu_busy_s=0.0, batches=(2, 1),
                energy_j=None)
    return ReplayReport(**{**base, **kw})


def test_service_rate_counts_requests_per_second_of_service():
    rep = _report(service_s=(0.02, 0.01), offered_rate_rps=50.0)
    assert rep.service_rate_rps == pytest.approx(3 / 0.03)
    assert rep.overloaded is False
    d = rep.to_dict()
    assert (d["offered_rate_rps"], d["overloaded"]) == (50.0, False)
    assert d["service_rate_rps"] == pytest.approx(100.0)
    assert _report(service_s=(0.05, 0.05), offered_rate_rps=50.0).overloaded is True  # served 30/s
    assert _report(service_s=(0.03, 0.03), offered_rate_rps=50.0).overloaded is False  # served exactly 50/s
    assert _report(service_s=(0.02, 0.01), offered_rate_rps=None).overloaded is None
    assert _report(service_s=(), batches=(), offered_rate_rps=50.0).service_rate_rps is None


def test_an_open_stream_faster_than_the_host_is_flagged(ex):
    pl = [0.0] * len(ex.graph)
    rep, _ = replay(ex, pl, _inputs, Poisson(1e6, 6), Batching(max_batch=1), warmup=1)
    assert rep.completed == 6 and len(rep.service_s) == 6
    assert all(s > 0 for s in rep.service_s)
    assert rep.overloaded is True and rep.service_rate_rps < 1e6
    slow, _ = replay(ex, pl, _inputs, TraceArrivals((0.0, 0.25, 0.5)), Batching(max_batch=1), warmup=1)
    assert slow.offered_rate_rps == pytest.approx(4.0)
    assert slow.overloaded is False  # a reduced SqueezeNet pass takes milliseconds, not 250


def test_periodic_arrivals_are_served(ex):
    rep, _ = replay(ex, [0.0] * len(ex.graph), _inputs, Periodic(400.0, 4), Batching(max_batch=2), warmup=0)
    assert rep.completed == 4 and sum(rep.batches) == 4
    assert rep.offered_rate_rps == 400.0


def test_overload_notice_is_one_line_naming_both_rates():
    assert overload_notice(None, 10.0) is None and overload_notice(5.0, None) is None
    assert overload_notice(10.0, 10.0) is None
    line = overload_notice(50.0, 31.0)
    assert line is not None and "\n" not in line
    assert "50/s" in line and "31/s" in line and "--arrival closed" in line


def test_cli_refuses_too_many_requests_in_one_line(capsys):
    rc = main(["replay", "--workload", "resnet18", "--requests", str(MAX_REPLAY_REQUESTS + 1)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "--requests" in err and f"{MAX_REPLAY_REQUESTS:,}" in err and f"{MAX_REPLAY_REQUESTS + 1:,}" in err


def test_cli_refuses_a_trace_too_large_to_hold(capsys, tmp_path):
    n = MAX_TRACE_EVENTS // 60  # reduced squeezenet has more than 60 operators
    rc = main(["replay", "--workload", "squeezenet1_1", "--reduced", "--requests", str(n), "--trace",
               str(tmp_path / "t.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "--trace" in err and f"{MAX_TRACE_EVENTS:,}" in err
    assert not (tmp_path / "t.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="the fallback is for hosts without CUDA")
def test_cli_gpu_placement_falls_back_with_one_notice_and_warns_of_overload(capsys):
    rc = main(["replay", "--workload", "squeezenet1_1", "--reduced", "--policy", "gpu", "--fallback", "cpu",
               "--requests", "4", "--arrival", "poisson:1000000", "--warmup", "1", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = err.splitlines()
    notices = [ln for ln in lines if "falling back to the CPU" in ln]
    assert len(notices) == 1 and notices[0].startswith("sparoa replay: notice:")
    assert sum("warning: requests arrived at 1e+06/s" in ln for ln in lines) == 1
    import json

    doc = json.loads(out)
    assert doc["overloaded"] is True and doc["completed"] == 4 and doc["gpu_busy_s"] == 0.0
