"""Old import paths of modules that moved into concept-named sub-packages, kept working.

``MOVED`` maps each old dotted module path to the module that now holds its public names
(docs/architecture.md §1). :func:`install` appends a finder to ``sys.meta_path`` that answers
an old path with the new module itself — the same object, so ``isinstance`` checks, pickles
and monkeypatches made through either path agree. It is consulted last, only for names no
file answers. Library code imports the new paths; a test checks it, and that every old path
still imports. The README's changelog lists the table.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

__all__ = ["MOVED", "install"]

#: old module path -> new module path (docs/architecture.md §1; README "Changelog").
MOVED: dict[str, str] = {
    # the IR
    "sparoa_sim.graph": "sparoa_sim.ir.graph",
    "sparoa_sim.synthetic": "sparoa_sim.ir.synthetic",
    # the engine and what it runs on
    "sparoa_sim.engine": "sparoa_sim.sim.simulator",
    "sparoa_sim.entities": "sparoa_sim.sim.entities",
    "sparoa_sim.hwstate": "sparoa_sim.sim.hwstate",
    "sparoa_sim.predtables": "sparoa_sim.sim.predtables",
    "sparoa_sim.simconfig": "sparoa_sim.sim.config",
    "sparoa_sim.results": "sparoa_sim.sim.results",
    "sparoa_sim.trace": "sparoa_sim.sim.trace",
    "sparoa_sim.arrivals": "sparoa_sim.sim.arrivals",
    "sparoa_sim.view": "sparoa_sim.sim.view",
    "sparoa_sim.policies": "sparoa_sim.sim.policies",
    "sparoa_sim.thresholds": "sparoa_sim.sim.thresholds",
    "sparoa_sim.singledevice": "sparoa_sim.sim.singledevice",
    # the command line
    "sparoa_sim.cliargs": "sparoa_sim.cli.args",
    "sparoa_sim.agents.cli_simulate": "sparoa_sim.cli.simulate",
    "sparoa_sim.agents.cli_oracle": "sparoa_sim.cli.oracle",
    "sparoa_sim.agents.cli_evaluate": "sparoa_sim.cli.evaluate",
    "sparoa_sim.agents.cli_train": "sparoa_sim.cli.train",
    "sparoa_sim.real.cli_replay": "sparoa_sim.cli.replay",
    "sparoa_sim.real.cli_validate": "sparoa_sim.cli.validate",
    "sparoa_sim.real.demo": "sparoa_sim.cli.demo",
    # agents
    "sparoa_sim.agents.baselines": "sparoa_sim.agents.heuristics.baselines",
    "sparoa_sim.agents.refsched": "sparoa_sim.agents.exact.refsched",
    "sparoa_sim.agents.chain_dp": "sparoa_sim.agents.exact.chain_dp",
    "sparoa_sim.agents.oracle": "sparoa_sim.agents.exact.oracle",
    "sparoa_sim.agents.scheduler": "sparoa_sim.agents.learn.scheduler",
    "sparoa_sim.agents.predictor": "sparoa_sim.agents.learn.predictor",
    "sparoa_sim.agents.threshold_data": "sparoa_sim.agents.learn.threshold_data",
    "sparoa_sim.agents.ray_vecenv": "sparoa_sim.agents.learn.ray_vecenv",
    "sparoa_sim.agents.artifacts": "sparoa_sim.agents.learn.artifacts",
    "sparoa_sim.agents.evaluate": "sparoa_sim.agents.experiments.evaluate",
    "sparoa_sim.agents.distributed": "sparoa_sim.agents.experiments.distributed",
    "sparoa_sim.agents.batchsize": "sparoa_sim.agents.experiments.batchsize",
    # the PyTorch side
    "sparoa_sim.real.zoo": "sparoa_sim.real.models.zoo",
    "sparoa_sim.real.extract": "sparoa_sim.real.models.extract",
    "sparoa_sim.real.flops": "sparoa_sim.real.models.flops",
    "sparoa_sim.real.regenerate": "sparoa_sim.real.models.regenerate",
    "sparoa_sim.real.profiler": "sparoa_sim.real.measure.profiler",
    "sparoa_sim.real.meters": "sparoa_sim.real.measure.meters",
    "sparoa_sim.real.allocator": "sparoa_sim.real.measure.allocator",
    "sparoa_sim.real.host_calibration": "sparoa_sim.real.measure.host_calibration",
    "sparoa_sim.real.sparse_kernels": "sparoa_sim.real.kernels.sparse",
    "sparoa_sim.real.executor": "sparoa_sim.real.run.executor",
    "sparoa_sim.real.replay": "sparoa_sim.real.run.replay",
    "sparoa_sim.real.validate": "sparoa_sim.real.run.validate",
    "sparoa_sim.real.policy_placer": "sparoa_sim.real.run.policy_placer",
}


class _Alias(importlib.abc.Loader):
    """Loads an old path as the new module object (its own ``__spec__`` kept)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # importlib sets __spec__ to the alias's; the module keeps describing where it lives.
        if self._spec is not None:
            module.__spec__ = self._spec


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Answers the old paths in :data:`MOVED`; consulted after every real finder."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Append the finder to ``sys.meta_path`` once (idempotent)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
