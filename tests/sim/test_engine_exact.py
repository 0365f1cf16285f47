"""Exact cases: single requests in the reference setting against the model's own predictions."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from engine_helpers import chain, check_trace, fork, memory_bound_pair, single

from sparoa_sim.sim.arrivals import Batching, ClosedLoop
from sparoa_sim.sim.simulator import Simulator
from sparoa_sim.hwmodels import predict, transfer_time
from sparoa_sim.sim.hwstate import BackgroundLoad, load_path
from sparoa_sim.sim.policies import StaticSchedule
from sparoa_sim.sim.predtables import duration_at
from sparoa_sim.sim.config import SimConfig

REF = SimConfig(reference=True)


def test_cpu_only_latency_is_the_sum_of_predicted_cpu_times(resnet50, platform):
    sim = Simulator(resnet50, platform, "cpu", config=REF)
    res = sim.run()
    pred = predict(platform, resnet50.hw_ops)
    expected = float(np.sum(pred.latency[:, 0]))  # t_launch is inside each operator's latency, once
    assert res.latency_mean_s == pytest.approx(expected, rel=1e-12)
    assert res.cpu_busy_s == pytest.approx(expected, rel=1e-12)
    assert res.gpu_busy_s == 0.0 and res.transfers == 0 and res.host_busy_s == 0.0
    assert res.n_requests == 1 and res.makespan_s == res.latency_mean_s
    check_trace(resnet50, sim.trace(), 1)


def _gpu_only_expected(graph, platform, order):
    """Host launches back to back in ``order``, ``t_dispatch · factor(kind) · max(1, kernels)`` each; the GPU runs
    each kernel after its launch, the previous kernel and (for the first) the input copy; the
    output is copied back at the end."""
    pred = predict(platform, graph.hw_ops)
    td = [float(pred.t_dispatch[1]) * platform.gpu.latency.dispatch_factor_of(op.kind) * max(1, op.kernels)
          for op in graph.ops]
    x_in = float(transfer_time(platform, max(graph.ops[i].bytes_in for i in range(len(graph)) if not graph.ops[i].deps)))
    gpu_free = 0.0
    end = {}
    launch_end = 0.0
    for i in order:
        launch_end += td[i]
        ready = x_in if not graph.ops[i].deps else max(end[p] for p in graph.ops[i].deps)
        start = max(gpu_free, launch_end, ready)
        end[i] = gpu_free = start + float(pred.latency[i, 1])
    sinks = [i for i in range(len(graph)) if not graph.arrays.consumers_of(i).size]
    return max(end[i] + float(transfer_time(platform, graph.ops[i].bytes_out)) for i in sinks), sum(td)


def test_gpu_only_latency_follows_host_dispatch_and_stream_order_on_a_chain(platform):
    g = chain(6)
    res = Simulator(g, platform, "gpu", config=REF).run()
    expected, host = _gpu_only_expected(g, platform, range(6))
    assert res.latency_mean_s == pytest.approx(expected, rel=1e-12)
    assert res.host_busy_s == pytest.approx(host, rel=1e-12)
    assert res.transfers == 2  # the input in, the output back


def test_gpu_only_latency_on_resnet50(resnet50, platform):
    sim = Simulator(resnet50, platform, "gpu", config=REF)
    res = sim.run()
    launches = [s.op for s in sim.trace().slices() if s.kind == "launch"]
    assert sorted(launches) == list(range(len(resnet50)))
    pos = {op: k for k, op in enumerate(launches)}
    assert all(pos[p] < pos[i] for i, op in enumerate(resnet50.ops) for p in op.deps)  # a topological order
    expected, host = _gpu_only_expected(resnet50, platform, launches)
    assert res.latency_mean_s == pytest.approx(expected, rel=1e-12)
    assert res.gpu_busy_s == pytest.approx(float(predict(platform, resnet50.hw_ops).latency[:, 1].sum()), rel=1e-12)
    assert res.host_busy_s == pytest.approx(host, rel=1e-12)
    # launches run ahead of the kernels: the host finishes before the GPU
    assert host < res.latency_mean_s


def _only_op_duration(sim):
    ops = sim.trace().ops()
    assert len(ops) == 1
    return ops[0].end - ops[0].start


def test_alone_operator_takes_exactly_its_time_while_load_changes_elsewhere(platform):
    g = single()
    pred = float(predict(platform, g.hw_ops).latency[0, 0])
    # GPU load jumps between 0 and 0.5 every ~µs while the CPU operator runs alone, and reverts.
    bg = BackgroundLoad(levels=(0.0, 0.5), mean_hold_s=pred / 50, initial=0, devices=("gpu",))
    cfg = SimConfig(noise=False, background=bg, contention=True, dispatch_interference=True)
    sim = Simulator(g, platform, "cpu", config=cfg)
    sim.run()
    assert len(sim.load_history()) > 10
    assert _only_op_duration(sim) == pred  # exactly


def test_retiming_integrates_the_work_over_a_moving_load(platform):
    """A CPU operator under a CPU load path ends when its work, integrated at each segment's rate, is done."""
    g = single(flops=5e9)
    pred = predict(platform, g.hw_ops)
    tl, tc, tm = float(pred.t_launch[0]), float(pred.t_compute[0, 0]), float(pred.t_memory[0, 0])
    sharp = float(pred.sharpness[0])
    bg = BackgroundLoad(levels=(0.0, 0.3, 0.6), mean_hold_s=float(pred.latency[0, 0]) / 8, devices=("cpu",))
    seed = 11
    sim = Simulator(g, platform, "cpu", config=SimConfig(noise=False, background=bg, contention=False), seed=seed)
    sim.run()
    got = _only_op_duration(sim)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[0])
    t, work, expected = 0.0, 1.0, None
    for hold, level in load_path(bg, rng):
        dur = duration_at(tl, tc, tm, sharp, level, 1.0)
        if work * dur <= hold:
            expected = t + work * dur
            break
        work -= hold / dur
        t += hold
    assert got == pytest.approx(expected, rel=1e-9)
    assert got > float(pred.latency[0, 0]) or all(lv == 0.0 for _, _, lv in sim.load_history())


def test_contention_slows_memory_bound_operators_on_both_devices(platform):
    g = memory_bound_pair()
    sched = StaticSchedule([0, 0, 1, 0])  # m1 on the CPU, m2 on the GPU, at the same time
    pred = predict(platform, g.hw_ops)

    def durations(cfg):
        sim = Simulator(g, platform, sched, config=cfg)
        sim.run()
        return {s.op: s.end - s.start for s in sim.trace().ops()}

    ref = durations(REF)
    assert ref[1] == pytest.approx(float(pred.latency[1, 0]), rel=1e-12)
    assert ref[2] == pytest.approx(float(pred.latency[2, 1]), rel=1e-12)
    hot = durations(SimConfig(noise=False, background=None, contention=True, dispatch_interference=False))
    assert hot[1] > ref[1] * 1.01 and hot[2] > ref[2] * 1.01


def test_dispatch_thread_slows_a_concurrent_cpu_operator(platform):
    """While kernels are launched, the host thread takes one core from a running CPU operator."""
    g = fork()  # src -> cpu_op, src -> g1 -> ... -> g5, join
    sched = StaticSchedule([0, 0, 1, 1, 1, 1, 1, 0])
    base = SimConfig(noise=False, background=None, contention=False)

    def cpu_dur(cfg):
        sim = Simulator(g, platform, sched, config=cfg)
        sim.run()
        return next(s for s in sim.trace().ops("cpu") if s.op == 1)

    a = cpu_dur(base.replace(dispatch_interference=False))
    b = cpu_dur(base.replace(dispatch_interference=True))
    pred = float(predict(platform, g.hw_ops).latency[1, 0])
    assert a.end - a.start == pytest.approx(pred, rel=1e-12)
    assert b.end - b.start > pred  # the launches of g1..g5 overlap it
    assert cpu_dur(REF).end - cpu_dur(REF).start == pytest.approx(pred, rel=1e-12)


def test_split_runs_both_parts_at_once_plus_a_merge_copy(platform):
    g = single(flops=4e9)
    g = g.with_ops([dataclasses.replace(g.ops[0], split_axis="channel")])
    sim = Simulator(g, platform, StaticSchedule([0.5]), config=REF)
    res = sim.run()
    tr = sim.trace()
    parts = tr.ops()
    assert sorted(s.track for s in parts) == ["CPU", "GPU"]
    merges = [s for s in tr.slices() if s.kind == "merge"]
    assert len(merges) == 1 and merges[0].dst == "gpu"  # a tie goes to the GPU
    cpu_part = next(s for s in parts if s.track == "CPU")
    assert merges[0].start == pytest.approx(cpu_part.end)
    t = sim.tables(1)
    cpu, gpu = t.split(0, 0.5)
    assert cpu_part.end - cpu_part.start == pytest.approx(cpu.lat, rel=1e-12)
    whole_cpu = float(predict(platform, g.hw_ops).latency[0, 0])
    assert cpu.lat < whole_cpu  # half the work
    assert res.split_ops == 1 and res.transfers >= 2


def test_batch_size_applies_to_predictions_and_copies(platform):
    g = chain(3)
    sim = Simulator(g, platform, "gpu", arrivals=ClosedLoop(4), batching=Batching.fixed(4), config=REF)
    res = sim.run()
    assert res.n_batches == 1 and res.mean_batch == 4
    pred4 = predict(platform, g.hw_ops, batch=4)
    assert res.gpu_busy_s == pytest.approx(float(pred4.latency[:, 1].sum()), rel=1e-12)
    assert all(x == res.latencies_s[0] for x in res.latencies_s)
    assert res.throughput_rps == pytest.approx(4 / res.makespan_s)
    assert math.isclose(res.energy_per_inference_j * 4, res.energy_j)
