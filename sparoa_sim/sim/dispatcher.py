"""The dispatcher: released operators, placement decisions, the static order (docs/architecture.md §4.1-4.2).

An operator of a job is *released* once every producer is issued — finished, or, for a producer
placed wholly on the GPU, launched (CUDA stream semantics: kernels queue on the GPU ahead of
their inputs). The dispatcher asks the placement policy for each released operator's GPU share
(``policy.decide(view)``), or, with the ``external`` policy, parks the first one until
:meth:`Simulator.submit` brings its action. It validates the action, counts the inputs the
operator waits for on its device (starting the copies it needs), and hands it to the host
dispatch thread (or, where issuing costs no host time, straight to the device). A share strictly
inside (0, 1) splits the operator into two parts, one per device (``PredTables.split``).

With co-running streams (``sim.streams``) each stream has its own dispatcher (its graph, policy
and static order); a router in front of them takes the shared ready queue and hands each
operator to its job's dispatcher.

Under a policy with a static order (``policy.order``: operator indices per device), each device
takes its operators in that order, batch after batch: a placed operator is staged until every
operator before it on that device has been released to it.

:meth:`Dispatcher.dispatch_ready` is only ever the last step of an event handler (never called
from inside placement), so it is not re-entered, and external and internal decisions produce
the same sequence of scheduled events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sparoa_sim.errors import SimulationError
from sparoa_sim.sim.entities import CPU, GPU, Job, PartTask, Split, Task, new_instance
from sparoa_sim.sim.predtables import GraphTables
from sparoa_sim.sim.state import RunState
from sparoa_sim.sim.view import OpView

__all__ = ["Dispatcher"]


class Dispatcher:
    """Places released operators (asking the policy) and releases them to the host or a device."""

    def __init__(self, view: OpView, external: bool) -> None:
        self._view = view
        self._external = external
        #: The operator parked for an external decision, as (job, op), or None.
        self.pending: tuple[Job, int] | None = None
        self.decisions = 0
        self.n_splits = 0

    def connect(self, host: Any, executors: Any, transfers: Any) -> None:
        """The host dispatch thread, the device executors and the transfers it hands work to."""
        self._host = host
        self._executors = executors
        self._transfers = transfers

    def reset(self, state: RunState, decide: Callable[[OpView], Any],
              order: Mapping[str, Sequence[int]] | None, gt: GraphTables | None = None) -> None:
        """Empty the dispatcher for a new run; ``decide``: the policy's, ``order``: its static order,
        ``gt``: the graph of the stream it serves (default: the run's primary graph)."""
        if gt is None:
            gt = state.gt
        self._ready = state.ready
        self._names = gt.names
        self._splittable = gt.splittable
        self._deps = gt.deps
        self._cons = gt.cons
        self._input_dep = (gt.n,)
        self._host_io = state.host_io
        # per kernel: an operator's host time t_dispatch[d] · max(1, kernels) is > 0 iff this is
        self._td = state.t_dispatch
        self._backlog = state.backlog
        self._decide = decide
        self.pending = None
        #: Placement decisions taken; split operators placed.
        self.decisions = 0
        self.n_splits = 0
        self._setup_order(order, gt.n)

    def _setup_order(self, order: Mapping[str, Sequence[int]] | None, n: int) -> None:
        """Per-device position of each operator in a static order (or no static order)."""
        if order is None:
            self._order_pos = None
            return
        pos = ([-1] * n, [-1] * n)
        for d, dev in enumerate(("cpu", "gpu")):
            for k, i in enumerate(order.get(dev, ())):
                pos[d][int(i)] = k
        self._order_pos = pos
        self._order_len = (len(order.get("cpu", ())), len(order.get("gpu", ())))
        self._staged: tuple[dict[int, Task], dict[int, Task]] = ({}, {})
        self._next_pos = [0, 0]

    # ------------------------------------------------------------------------------------
    # decisions

    def dispatch_ready(self) -> None:
        """Place every released operator (asking the policy), or park the first one for submit().

        Called only as the last step of an event handler (never from inside placement), so it
        is not re-entered, and external and internal decisions produce the same sequence of
        scheduled events.
        """
        if self.pending is not None:
            return
        ready = self._ready
        if self._external:
            if ready:
                item = ready.popleft()
                self.pending = item
                self._view.job_state, self._view.op = item
                return
        else:
            view = self._view
            decide = self._decide
            place = self.place
            while ready:
                job, op = ready.popleft()
                view.job_state = job
                view.op = op
                place(job, op, decide(view))
        host = self._host
        if host.unsettled:
            host.settle()

    def _coerce(self, action: Any, job: Job, op: int) -> float:
        a = action
        if isinstance(a, np.ndarray):
            if a.size != 1:
                raise SimulationError(f"action: expected one GPU share for operator {op} "
                                      f"({self._names[op]!r}), got an array of shape {a.shape}")
            a = a.reshape(-1)[0]
        if isinstance(a, (bool, np.bool_)):
            return 1.0 if a else 0.0
        if not isinstance(a, (int, float, np.integer, np.floating)):
            raise SimulationError(f"action: {action!r} for operator {op} ({self._names[op]!r}) is not a GPU share "
                                  "(0 = CPU, 1 = GPU, or a share in between)")
        return float(a)

    def place(self, job: Job, op: int, action: Any) -> None:
        """Validate the action, record it and queue the operator (or its two parts).

        A bad action raises :class:`SimulationError` before anything changes."""
        t = type(action)
        share = float(action) if (t is int or t is float) else self._coerce(action, job, op)
        if share == 1.0 or share == 0.0:
            d = 1 if share == 1.0 else 0
            pos = self._order_pos
            if pos is not None and pos[d][op] < 0:
                self._order_mismatch(op, d, share)
            if pos is not None and pos[1 - d][op] >= 0:  # the other queue would wait for it forever
                raise SimulationError(f"action: GPU share {share} runs operator {op} ({self._names[op]!r}) whole on "
                                      f"the {('cpu', 'gpu')[d]}, but the policy's static order also lists it on the "
                                      f"{('cpu', 'gpu')[1 - d]} (a split)")
            job.share[op] = share
            job.placed += 1
            self.decisions += 1
            base = job.tables.lat[d][op]
            task = new_instance(Task)  # Task(job, op, d, base), without the call's frame
            task.job = job
            task.op = op
            task.dev = d
            task.base = base
            task.waits = 0
            self._backlog[d] += base
            deps = self._deps[op]
            if d and deps:  # on the GPU, an input from an operator placed wholly on the GPU is never waited for
                shares = job.share
                for p in deps:
                    if shares[p] != 1.0:
                        self._wire(task)
                        break
            elif deps or (d and self._host_io):
                self._wire(task)
            if pos is not None:
                self._enqueue(task)
            elif self._td[d] > 0.0:
                self._host.submit(task)
            else:
                self._executors.launched(task)
            return
        if not 0.0 < share < 1.0:
            raise SimulationError(f"action: GPU share {action!r} for operator {op} ({self._names[op]!r}) "
                                  "is not in [0, 1]")
        if not self._splittable[op]:
            raise SimulationError(f"action: GPU share {share} would split operator {op} ({self._names[op]!r}), "
                                  "which has no split axis (only 0 or 1 allowed)")
        pos = self._order_pos
        if pos is not None and (pos[0][op] < 0 or pos[1][op] < 0):
            self._order_mismatch(op, 0 if pos[0][op] < 0 else 1, share)
        job.share[op] = share
        job.placed += 1
        self.decisions += 1
        self.n_splits += 1
        cpu_part, gpu_part = job.tables.split(op, share)
        sp = Split(job, op, share)
        for d, part in ((CPU, cpu_part), (GPU, gpu_part)):
            task = PartTask(job, op, d, part, sp)
            self._backlog[d] += part.lat
            self._wire(task)
            self._enqueue(task)

    def _order_mismatch(self, op: int, d: int, share: float) -> None:
        raise SimulationError(f"action: GPU share {share} puts operator {op} ({self._names[op]!r}) on the "
                              f"{('cpu', 'gpu')[d]}, but the policy's static order has no place for it there")

    # ------------------------------------------------------------------------------------
    # inputs, the static order, issue

    def _wire(self, task: Task) -> None:
        """Count the inputs ``task`` waits for; start the copies it needs."""
        d = task.dev
        deps = self._deps[task.op]
        if not deps:
            if d == GPU and self._host_io:
                deps = self._input_dep
            else:
                return
        job = task.job
        res = job.res
        share = job.share
        bit = 1 << d
        n_wait = 0
        for p in deps:
            r = res[p]
            if r & bit:
                continue
            if d == GPU and share[p] == 1.0:
                continue  # launched earlier on the same in-order stream
            n_wait += 1
            key = 2 * p + d
            lst = job.waiters.get(key)
            if lst is None:
                job.waiters[key] = [task]
            else:
                lst.append(task)
            if r & 3 and not r & (4 << d):
                self._transfers.start(job, p, d)
        task.waits = n_wait

    def _enqueue(self, task: Task) -> None:
        pos = self._order_pos
        if pos is None:
            self._release(task)
            return
        d = task.dev
        staged = self._staged[d]
        staged[task.job.nth * self._order_len[d] + pos[d][task.op]] = task
        nxt = self._next_pos[d]
        while nxt in staged:
            self._release(staged.pop(nxt))
            nxt += 1
        self._next_pos[d] = nxt

    def _release(self, task: Task) -> None:
        if self._td[task.dev] > 0.0:
            self._host.submit(task)
        else:
            self._executors.launched(task)

    def issue(self, job: Job, op: int) -> None:
        """``op`` is issued: consumers whose producers are all issued become ready."""
        un = job.unissued
        ready = self._ready
        for c in self._cons[op]:
            k = un[c] - 1
            un[c] = k
            if k == 0:
                ready.append((job, c))
