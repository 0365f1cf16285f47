"""Gymnasium environments: ``SparOA-v0`` (per-operator placement, :mod:`.scheduling`) and
``SparOAThreshold-v0`` (threshold prediction, :mod:`.threshold`); documented in ``docs/architecture.md`` §5 and the README's Gymnasium section.

Importing this package imports neither torch nor the environments' dependencies beyond what
``sparoa_sim`` needs; ``gym.make`` imports the environment modules on first use.
"""
