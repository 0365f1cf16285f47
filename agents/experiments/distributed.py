"""Scale-out on Ray (optional extra ``sparoa-sim[ray]``): evaluation cells as Ray tasks, and
environment workers as Ray actors feeding the SB3 learner.

- :func:`ray_map` runs one Ray task per :class:`~sparoa_sim.agents.experiments.evaluate.Cell` and hands
  each row to the caller's ``on_result`` in the driver as soon as it is back (``ray.wait``), so
  the harness appends it to ``cells.jsonl`` at once and an interrupted sweep resumes. A worker
  process that dies is retried by Ray (``max_retries``); an exception raised by a cell is
  deterministic, is not retried, and is raised here with the cell named.
- :class:`~sparoa_sim.agents.learn.ray_vecenv.RayVecEnv` (its own module, it needs SB3) puts training
  environments in Ray actors.

Ray is imported lazily: without it installed nothing here is touched unless asked for, and
asking raises a :class:`RayUnavailableError` saying how to install it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

from sparoa_sim.errors import SparOAError

__all__ = ["RayUnavailableError", "CellFailedError", "require_ray", "check_reachable", "ensure_ray", "ray_map"]

MAX_RETRIES = 3


class RayUnavailableError(SparOAError, RuntimeError):
    """``--ray`` (or a Ray API) was asked for but Ray is not installed."""


class CellFailedError(SparOAError, RuntimeError):
    """One or more cells of a Ray sweep raised (deterministically) or lost their worker past the retries."""


def require_ray() -> Any:
    """The ``ray`` module, or a clear error saying how to get it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailableError("--ray: Ray is not installed; install the extra with "
                                  "pip install 'sparoa-sim[ray]' (or run without --ray: local processes)") from None
    return ray


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (``ray.init`` would retry for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto", ray://… client addresses: Ray resolves and reports those itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise SparOAError(f"--ray: no Ray head node answers at {address!r} ({exc}); start one with "
                          f"`ray start --head` and pass the address it prints") from None


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Connect to ``address`` (``auto``: the cluster ``ray start`` began on this machine; ``HOST:6379``;
    ``ray://HOST:10001``) or start a new local instance with ``num_cpus`` (default: all cores),
    unless this process is already connected."""
    ray = require_ray()
    if not ray.is_initialized():
        # log_to_driver=False: worker and raylet lines would land on this process's stdout, which
        # `--json` reserves for one JSON object; cell errors still arrive through ray.get, and the
        # workers' logs stay in Ray's session log directory.
        kw: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "configure_logging": False, "log_to_driver": False}
        if address:
            check_reachable(address)
            kw["address"] = address
        else:  # always a fresh instance: never a stale `ray start` cluster or RAY_ADDRESS by surprise
            kw["address"] = "local"
            if num_cpus is not None:
                kw["num_cpus"] = num_cpus
        try:
            ray.init(**kw)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise SparOAError(f"--ray: cannot connect to Ray at {address or 'a new local instance'!r}: {exc}") from None
    return ray


def _describe(cell: Any) -> str:
    return (f"{cell.workload}/{cell.platform}/{cell.mode}/{cell.policy} (seed {cell.seed}, batch {cell.batch}, "
            f"λ {cell.lam})")


def _apply(fn: Callable[[Any], dict[str, Any]], cell: Any) -> dict[str, Any]:
    """The Ray task body: one cell."""
    return fn(cell)


def ray_map(cells: Sequence[Any], on_result: Callable[[dict[str, Any]], None], address: str | None = None,
            num_cpus: int | None = None, *, fn: Callable[[Any], dict[str, Any]]) -> None:
    """Run ``fn`` (e.g. :func:`~sparoa_sim.agents.experiments.evaluate.run_cell`) on every cell as a Ray task and
    call ``on_result(row)`` in this process as each finishes. Cells that raise do not stop the
    others (their rows are still delivered, so a re-run resumes); afterwards a :class:`CellFailedError`
    names every failed cell and the first failure is chained."""
    if not cells:
        return
    ray = ensure_ray(address, num_cpus)
    task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(_apply)
    fn_ref = ray.put(fn)  # any callable (a partial too), shipped once
    pending = {task.remote(fn_ref, c): c for c in cells}
    failures: list[tuple[Any, BaseException]] = []
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cell = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # the cell's own exception
                    failures.append((cell, exc.cause if exc.cause is not None else exc))
                    continue
                except ray.exceptions.RayError as exc:  # worker lost past the retries, object lost, …
                    failures.append((cell, exc))
                    continue
                on_result(row)
    finally:
        for ref in pending:  # interrupted (Ctrl-C, on_result raised): do not leave tasks running
            ray.cancel(ref, force=True)
    if failures:
        lines = "; ".join(f"{_describe(c)}: {type(e).__name__}: {e}".splitlines()[0] for c, e in failures)
        raise CellFailedError(f"evaluate --ray: {len(failures)} of {len(cells)} cells failed — {lines}") \
            from failures[0][1]
