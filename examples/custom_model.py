"""Add your own model and schedule it: extract its operator graph, compare baselines and the oracle.

    python examples/custom_model.py [--quick] [-o my_model.json]

One call turns a torch module and an example input into the graph the twin simulates (FLOPs,
bytes, measured activation sparsity, optional pruning); the graph JSON then works everywhere a
workload name does (`sparoa simulate --workload my_model.json …`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from sparoa_sim import save_graph
from sparoa_sim.agents.exact.oracle import solve_oracle
from sparoa_sim.sim.simulator import simulate
from sparoa_sim.hwmodels import load_platform
from sparoa_sim.real.models.extract import extract


class TinyNet(nn.Module):
    """A small CNN with a residual block: stand-in for your own model."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.BatchNorm2d(width), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU(),
                                   nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        return self.head(torch.relu(y + self.block(y)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-o", "--output", default=None, help="where to write the graph JSON (default ./tinynet.json)")
    args = ap.parse_args()
    size = 64 if args.quick else 224
    graph = extract(TinyNet(), torch.randn(1, 3, size, size), name="tinynet", prune=0.5)
    out = Path(args.output or "tinynet.json")
    save_graph(graph, out)
    print(f"extracted {len(graph)} operators, {graph.total_macs / 1e6:.1f} M MACs → {out}")
    plat = load_platform("jetson-orin-nano-8gb")
    for policy in ("cpu", "gpu", "threshold", "heft"):
        r = simulate(out, plat, policy, reference=True)
        print(f"  {policy:10s} {1e3 * r.latency_mean_s:8.3f} ms  {1e3 * r.energy_per_inference_j:7.2f} mJ")
    o = solve_oracle(graph, plat, time_limit_s=5.0)
    print(f"  {'oracle':10s} {1e3 * o.latency_s:8.3f} ms  (optimal: {o.optimal}, bound {1e3 * o.bound_s:.3f} ms)")


if __name__ == "__main__":
    main()
