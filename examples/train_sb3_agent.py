"""Train your own agent on SparOA-v0 with stable-baselines3 (MaskablePPO, γ = 1).

    python examples/train_sb3_agent.py [--quick] [--timesteps N]

The env is a plain Gymnasium env: any SB3 / CleanRL / RLlib agent plugs in. The return is
−(mean latency / T_ref) with T_ref the GPU-only latency of the same episode, so a return above
−1 means faster than GPU-only.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
from sb3_contrib import MaskablePPO

import sparoa_sim  # noqa: F401  (registers SparOA-v0)


def episode(env: gym.Env, model=None) -> dict:
    """One deterministic episode: the agent's placements (or GPU-only without a model)."""
    obs, _ = env.reset(seed=0)
    done, info = False, {}
    while not done:
        if model is None:
            action = 1
        else:
            action, _ = model.predict(obs, deterministic=True, action_masks=env.unwrapped.action_masks())
        obs, _, term, trunc, info = env.step(action)
        done = term or trunc
    return info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timesteps", type=int, default=20_000)
    args = ap.parse_args()
    kwargs = dict(workloads="resnet18", platform="jetson-orin-nano-8gb", mode="15W", reference=True)
    env = gym.make("SparOA-v0", **kwargs)
    model = MaskablePPO("MlpPolicy", env, gamma=1.0, n_steps=256 if args.quick else 1024, batch_size=64, seed=0,
                        verbose=0, device="cpu")
    model.learn(total_timesteps=512 if args.quick else args.timesteps, progress_bar=not args.quick)
    gpu, agent = episode(gym.make("SparOA-v0", **kwargs)), episode(gym.make("SparOA-v0", **kwargs), model)
    print(f"GPU-only: {1e3 * gpu['latency_mean_s']:.3f} ms; agent: {1e3 * agent['latency_mean_s']:.3f} ms "
          f"({agent['speedup_vs_gpu']:.3f}× GPU-only, {agent['speedup_vs_cpu']:.2f}× CPU-only), "
          f"{sum(1 for s in agent['placement'] if s < 0.5)} of {len(agent['placement'])} operators on the CPU")


if __name__ == "__main__":
    main()
