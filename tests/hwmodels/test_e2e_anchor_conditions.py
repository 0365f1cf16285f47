"""The disturbed verdict against the quiet-host evidence it was derived from (``hwmodels.host``)."""

from __future__ import annotations

import pytest

from sparoa_sim.hwmodels.host import (
    E2E_SPREAD_LIMIT,
    NOISY_E2E_SPREAD,
    ROW_SPREAD_LIMIT,
    CalibrationConditions,
    assess_conditions,
)

#: The lead's three quick calibrations on a quiet host (load 0.5, others' CPU share 0.1-0.5 %),
#: benchmarks/results/host_quick_calibration.json at 2026-12-07 11:50 UTC: (others' share, eager
#: halves' gap per workload, in-graph rows' median gap). Each was called disturbed before.
QUIET_RUNS = (
    (0.0048, {"resnet18": 0.0076, "mobilenetv2": 0.0180, "mobilenetv3_small": 0.0158}, 0.1354),
    (0.0011, {"resnet18": 0.0555, "mobilenetv2": 0.0196, "mobilenetv3_small": 0.0275}, 0.0792),
    (0.0015, {"resnet18": 0.0142, "mobilenetv2": 0.0720, "mobilenetv3_small": 0.0143}, 0.0389),
)


@pytest.mark.parametrize("share, e2e, rows", QUIET_RUNS)
def test_the_measured_quiet_runs_are_not_disturbed(share: float, e2e: dict[str, float], rows: float) -> None:
    c = assess_conditions(share, share, "/proc/stat", e2e, rows, "r")
    assert not c.disturbed and c.reason.startswith("quiet")
    assert c.noisy == (max(e2e.values()) > NOISY_E2E_SPREAD or rows > 0.10)  # said, as a note
    if c.noisy:
        assert c.note.startswith("noisy measurement, not a busy machine")


def test_limits_sit_above_every_quiet_figure() -> None:
    assert E2E_SPREAD_LIMIT > max(max(e.values()) for _, e, _ in QUIET_RUNS)
    assert ROW_SPREAD_LIMIT > max(r for _, _, r in QUIET_RUNS)


def test_a_busy_quiet_looking_run_is_still_disturbed() -> None:
    """The same spreads with other processes taking a third of the CPU: disturbed, the share named."""
    share, e2e, rows = QUIET_RUNS[2]
    c = assess_conditions(0.33, 0.5, "/proc/stat", e2e, rows, "r")
    assert c.disturbed and c.reason.startswith("other processes used 33% of the CPU")


def test_noisy_note_round_trips_and_old_records_load() -> None:
    c = assess_conditions(0.0, 0.0, "/proc/stat", {"a": 0.08}, 0.05, "r")
    assert CalibrationConditions.from_dict(c.to_dict()) == c and c.noisy
    old = {k: v for k, v in c.to_dict().items() if k not in ("noisy", "note")}  # a record stored before the note
    loaded = CalibrationConditions.from_dict(old)
    assert not loaded.noisy and loaded.note == "" and loaded.reason == c.reason


def test_disturbed_and_noisy_note_does_not_call_the_machine_quiet() -> None:
    c = assess_conditions(0.40, 0.5, "/proc/stat", {"a": 0.08}, 0.05, "r")
    assert c.disturbed and c.noisy and c.note.startswith("noisy measurement as well: the two halves of a's")
    assert "not a busy machine" not in c.note
