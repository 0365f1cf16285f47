"""Gymnasium environments: ``SparOA-v0`` (per-operator placement, :mod:`.scheduling`) and
``SparOAThreshold-v0`` (threshold prediction, :mod:`.threshold`); see ``envs/README.md``.

Importing this package imports neither torch nor the environments' dependencies beyond what
``sparoa_sim`` needs; ``gym.make`` imports the environment modules on first use.
"""
