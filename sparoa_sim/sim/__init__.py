"""The discrete-event engine: a SimPy simulation of hybrid CPU-GPU inference (docs/architecture.md §4).

The engine is built from components that own their state and share one per-run
:class:`~sparoa_sim.sim.state.RunState`; :class:`~sparoa_sim.sim.simulator.Simulator` is a thin
façade that builds them, resets them and exposes the run. Entities and what drives them:

- **request source** and **batcher** (SimPy processes, ``sim.stream``): closed loop, Poisson or a
  trace of arrival times (``sim.arrivals``); the batcher groups waiting requests into batches
  (jobs), each one pass of the graph at batch size ``len(batch)``;
- **dispatcher** (``sim.dispatcher``): releases an operator of a job once every producer is
  *issued* — finished, or, for a producer placed wholly on the GPU, launched (CUDA stream
  semantics: kernels queue on the GPU ahead of their inputs) — asks the placement policy for its
  GPU share and queues it;
- **host dispatch thread** (``sim.host``): a serial resource; issuing an operator to device ``d``
  costs ``t_dispatch[d] · dispatch_factor(kind) · max(1, kernels)`` seconds of host time (on the shipped profiles only GPU launches cost
  any). While it launches it occupies one of the CPU's cores: a running CPU operator is re-timed
  at load share ``1/cores`` (``dispatch_interference``);
- **one in-order executor per device** (``sim.executors``): the head of the queue starts once it
  is launched and its inputs are on the device; the CPU and the GPU run concurrently. A GPU
  operator whose producers are GPU operators launched earlier need not wait for them explicitly
  — the stream is in order;
- **transfers** on cross-device edges (``sim.transfers``): ``transfer_time`` of the producer's
  output at the batch size, started as soon as both the output exists and a consumer on the
  other device needs it; an output copied once stays resident and serves every consumer on that
  device. The request's input starts on the CPU and its outputs must end there (``host_io``);
- **DRAM contention** and **background load** (``sim.rates``): while both devices run, their
  bandwidth demands share ``concurrent_bw``; memory time scales by the shared factor.
  Markov-modulated background shares of each device (``sim.hwstate``) are SimPy processes.

Rates change when contention starts or ends, background load moves or the dispatch thread starts
or stops: only then is the running operator of the affected device re-timed (remaining fraction
at the new rate; the superseded end event is recognised as stale and ignored), so an operator
alone on an idle machine takes exactly its predicted time. Executors, the host thread and
transfers are state machines driven by bound-method callbacks on SimPy events
(``entities.Timer``), not one generator per operator: a generator cannot withdraw a timeout it
has yielded, and one event per operator (two for a GPU operator: launch and kernel) keeps the
engine within a few bare SimPy events per simulated operator. Components call each other through
references fixed at construction (``component.method(...)``, as cheap as a call on ``self``) and
copy the shared lists they use at reset, so the split adds no allocation per event.

Decisions come from ``policy.decide(view)`` (``sim.policies``, ``sim.view``) or, with the
``external`` policy, from outside: :meth:`Simulator.start` runs until the first decision is
needed and :meth:`Simulator.submit` applies one action and runs to the next. Both go through the
same dispatcher, and the dispatcher is always the last thing an event handler does, so the same
decisions give the same run either way. The reference setting, split operators, metrics and
randomness: see ``sim.simulator``, ``sim.transfers``, ``sim.metrics`` and ``sim.randomness``.

Nothing is imported here (the sub-modules import each other; import what you need from them).
"""
