"""Shared fixtures of the command-line tests: one platform profile and the shipped ResNet-18, loaded once."""

from __future__ import annotations

import pytest

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.workloads import load_workload


@pytest.fixture(scope="session")
def platform():
    return load_platform("jetson-agx-orin-64gb")


@pytest.fixture(scope="session")
def resnet18():
    return load_workload("resnet18")
