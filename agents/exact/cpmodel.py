"""The oracle's CP-SAT model of one reference-setting problem (docs/architecture.md §6), in integer ticks.

The timing rules of :mod:`sparoa_sim.sim.reference` are added as constraints ``lhs >= term``, each
under the literals of its placement case (see :mod:`sparoa_sim.agents.exact.oracle`); the makespan's
domain starts at a proven lower bound when the caller has one (the spine's optimum of a totally
ordered graph, :mod:`sparoa_sim.agents.exact.spine`). Redundant linear cuts (durations linear in
the placement, copy costs on cross-device edges, critical-path heads and tails, work per device and
per segment between cut operators) and ``linearization_level=2`` were measured in issue 21 and left
out: on ResNet-50 and SqueezeNet at GPU load 0.5 (Orin Nano) they turned 3-6 s proofs into 4 % gaps
after 20 s, and moved GoogLeNet's bound by 1 %. The model's LP relaxation is empty (CP-SAT's log:
0 rows): its bound comes from propagation and search, which is why a separately proven bound (the
spine's, or the chain relaxation's of :mod:`sparoa_sim.agents.exact.relax`) as the makespan's floor
and the full-problem worker matter. Session 9 measured (2 workers, 30 s, one run each on a shared
host): ``objective_lb_search`` and ``probing`` beat ``default_lp`` on the bound (SqueezeNet AGX:
5.3 % / proven / 9.9 % gap in 15 s; ResNet-50 AGX load 0.8: 5.1 % / 7.3 % / 7.4 %);
``lb_tree_search``, ``max_lp``, ``pseudo_costs``, ``core``, ``no_lp``, ``quick_restart`` did not
(8-10 %). A bound from per-segment optima between cut operators, issue to issue, was tried and
dropped: weaker than the solver's on GoogLeNet (9.58 vs 9.92 ms; its 21-operator blocks are not
proven in 5 s each).
"""

from __future__ import annotations

from collections.abc import Callable

from sparoa_sim.sim import reference as rules
from sparoa_sim.sim.reference import RefTimes

from sparoa_sim.agents.exact.refsched import RefProblem, incomparable_pairs

__all__ = ["OracleModel"]


class OracleModel:
    """The CP-SAT model of one problem (the rules); variables kept by name.
    ``lower_bound``: a proven bound on the makespan in ticks (e.g. the spine's optimum); ``check``:
    called every few operators while building (the oracle's budget: it raises to stop)."""

    def __init__(self, p: RefProblem, durations: tuple[list[int], list[int], list[int], list[int]], horizon: int,
                 *, lower_bound: int = 0, check: Callable[[], None] | None = None) -> None:
        from ortools.sat.python import cp_model

        self._check = check or (lambda: None)
        self.cp_model = cp_model
        m = cp_model.CpModel()
        self.m = m
        lc, lg, x, td = durations
        n, H = p.n, horizon
        self.H = H
        self.g = [m.new_bool_var(f"g{i}") for i in range(n)]
        self.st = [m.new_int_var(0, H, f"st{i}") for i in range(n)]
        self.en = [m.new_int_var(0, H, f"en{i}") for i in range(n)]
        self.launch = [m.new_int_var(0, H, f"L{i}") for i in range(n)]
        self.iss = [m.new_int_var(0, H, f"iss{i}") for i in range(n)]
        self.ready = [m.new_int_var(0, H, f"ready{i}") for i in range(n)]
        g, st, en, L, iss, ready = self.g, self.st, self.en, self.launch, self.iss, self.ready
        cpu_iv, gpu_iv, host_iv = [], [], []
        for i in range(n):
            if i % 64 == 0:
                self._check()
            gi, ci = g[i], ~g[i]
            cpu_iv.append(m.new_optional_fixed_size_interval_var(st[i], lc[i], ci, f"cpu{i}"))
            gpu_iv.append(m.new_optional_fixed_size_interval_var(st[i], lg[i], gi, f"gpu{i}"))
            host_iv.append(m.new_optional_fixed_size_interval_var(L[i], td[i], gi, f"host{i}"))
            m.add(en[i] == rules.end_time(st[i], lc[i])).only_enforce_if(ci)
            m.add(en[i] == rules.end_time(st[i], lg[i])).only_enforce_if(gi)
            m.add(iss[i] >= rules.issue_time(False, launch=L[i], td=td[i], end=en[i])).only_enforce_if(ci)
            m.add(iss[i] >= rules.issue_time(True, launch=L[i], td=td[i], end=en[i])).only_enforce_if(gi)
            m.add(L[i] == 0).only_enforce_if(ci)  # unused on the CPU: pinned
            for term in rules.launch_terms(ready=ready[i]):
                m.add(L[i] >= term).only_enforce_if(gi)
            for term in rules.gpu_start_terms(launch=L[i], td=td[i]):
                m.add(st[i] >= term).only_enforce_if(gi)
            for q in p.deps[i]:
                for term in rules.release_terms([iss[q]]):
                    m.add(ready[i] >= term)
                m.add(st[i] >= en[q])  # implied by the rules (copies follow ends; stream order): tightens
            arrival = rules.input_copy(p.host_io, not p.deps[i], x[n])
            for term in rules.gpu_start_terms(input_arrival=arrival):
                m.add(st[i] >= term).only_enforce_if(gi)
        m.add_no_overlap(cpu_iv)
        m.add_no_overlap(gpu_iv)
        if any(v > 0 for v in td):
            m.add_no_overlap(host_iv)
        self._copies(p, x)
        self._stream_order(p, td)
        self.makespan = m.new_int_var(min(lower_bound, H), H, "makespan")
        for i in range(n):
            for term in rules.completion_terms(en[i]):  # either device
                m.add(self.makespan >= term)
            out = rules.output_copy(p.host_io, True, not p.cons[i], x[i])
            if out is not None:  # the copy home, if it is on the GPU
                m.add(self.makespan >= rules.completion_terms(en[i], out)[-1]).only_enforce_if(g[i])
        m.minimize(self.makespan)

    def _copies(self, p: RefProblem, x: list[int]) -> None:
        """Release times seen by each device and the copy starts (first_need as a min equality)."""
        m, H, g, n = self.m, self.H, self.g, p.n
        self.r_gpu: list = [None] * n
        self.r_cpu: list = [None] * n
        for c in range(n):
            if not p.deps[c]:
                continue
            rg = m.new_int_var(0, H, f"rg{c}")
            rc = m.new_int_var(0, H, f"rc{c}")
            m.add(rg >= self.ready[c]).only_enforce_if(g[c])
            m.add(rg == H).only_enforce_if(~g[c])
            m.add(rc >= self.ready[c]).only_enforce_if(~g[c])
            m.add(rc == H).only_enforce_if(g[c])
            self.r_gpu[c], self.r_cpu[c] = rg, rc
        self.xs_gpu: list = [None] * n
        self.xs_cpu: list = [None] * n
        self.min_gpu: list = [None] * n
        self.min_cpu: list = [None] * n
        for q in range(n):
            if q % 64 == 0:
                self._check()
            cons = p.cons[q]
            if not cons:
                continue
            for dev, rs, mins, xss in (("g", self.r_gpu, self.min_gpu, self.xs_gpu),
                                       ("c", self.r_cpu, self.min_cpu, self.xs_cpu)):
                mn = m.new_int_var(0, H, f"min{dev}{q}")
                m.add_min_equality(mn, [rs[c] for c in cons])
                xs = m.new_int_var(0, H, f"xs{dev}{q}")
                for term in rules.copy_start_terms(self.en[q], mn):
                    m.add(xs >= term)
                mins[q], xss[q] = mn, xs
            for c in cons:
                for term in rules.gpu_start_terms(copies_in=[rules.copy_arrival(self.xs_gpu[q], x[q])]):
                    m.add(self.st[c] >= term).only_enforce_if([g[c], ~g[q]])
                for term in rules.cpu_start_terms(inputs=[rules.copy_arrival(self.xs_cpu[q], x[q])]):
                    m.add(self.st[c] >= term).only_enforce_if([~g[c], g[q]])

    def _stream_order(self, p: RefProblem, td: list[int]) -> None:
        """Launch order = kernel order, for GPU pairs whose order the graph leaves free."""
        m, g, L = self.m, self.g, self.launch
        self.pairs = incomparable_pairs(p)
        self.before = []
        for k, (i, j) in enumerate(self.pairs):
            if k % 256 == 0:
                self._check()
            b = m.new_bool_var(f"b{i}_{j}")
            self.before.append(b)
            for first, then, lits in ((i, j, [g[i], g[j], b]), (j, i, [g[i], g[j], ~b])):
                for term in rules.launch_terms(prev_launch=L[first], td=td[first]):
                    m.add(L[then] >= term).only_enforce_if(lits)
                for term in rules.gpu_start_terms(prev_end=self.en[first]):
                    m.add(self.st[then] >= term).only_enforce_if(lits)

    def hint(self, p: RefProblem, times: RefTimes) -> None:
        """Hint every variable with the exact (tick) timing of a schedule."""
        m, H = self.m, self.H
        n = p.n
        for i in range(n):
            gi = times.gpu[i]
            m.add_hint(self.g[i], gi)
            m.add_hint(self.st[i], times.start[i])
            m.add_hint(self.en[i], times.end[i])
            m.add_hint(self.launch[i], times.launch[i] if gi else 0)
            m.add_hint(self.iss[i], times.issue[i])
            m.add_hint(self.ready[i], times.ready[i])
            if self.r_gpu[i] is not None:
                m.add_hint(self.r_gpu[i], times.ready[i] if gi else H)
                m.add_hint(self.r_cpu[i], H if gi else times.ready[i])
        for q in range(n):
            if self.xs_gpu[q] is None:
                continue
            for d, mins, xss in ((True, self.min_gpu, self.xs_gpu), (False, self.min_cpu, self.xs_cpu)):
                mn = min((times.ready[c] if times.gpu[c] == d else H for c in p.cons[q]), default=H)
                m.add_hint(mins[q], mn)
                m.add_hint(xss[q], max(times.end[q], mn))
        for (i, j), b in zip(self.pairs, self.before):
            if times.gpu[i] and times.gpu[j]:
                m.add_hint(b, times.launch[i] < times.launch[j])
            else:
                m.add_hint(b, i < j)
        m.add_hint(self.makespan, times.makespan)
