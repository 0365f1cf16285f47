"""The quick host calibration with the end-to-end anchor (its default) and without (``anchor=False``):
the fixture's two eager passes, in sample, before and after, from one calibration each."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparoa_sim.hwmodels.measurements import load_table
from sparoa_sim.hwmodels.profile_io import DATA_ENV_VAR
from sparoa_sim.real.measure import host_calibration as hc
from sparoa_sim.real.measure.quiet import CpuCounters, LoadMonitor

TABLE = load_table(Path(__file__).resolve().parents[2] / "fixtures" / "host_table.json")
NAMES = ("resnet18", "mobilenetv3_small")


def _calibrate(anchor: bool) -> hc.QuickCalibration:
    readings = iter([CpuCounters(float(i), 1.0 * i, 1.0 * i, 2) for i in range(4)])  # nobody else busy
    return hc.calibrate_host(progress=False, store=False, names=NAMES, profile=lambda name, **kw: TABLE,
                             monitor=LoadMonitor(lambda: next(readings)), anchor=anchor)


@pytest.mark.slow
def test_the_anchor_brings_the_passes_to_the_eager_times(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "data"))
    plain, anchored = _calibrate(False), _calibrate(True)
    assert plain.anchor is None and anchored.anchor is not None
    assert anchored.anchor["fitted"] == ["scale", "t_launch"] and set(anchored.anchor["passes"]) == set(NAMES)
    for w in NAMES:
        m, _, e_plain = plain.in_sample[w]
        m2, twin, e = anchored.in_sample[w]
        assert m == m2
        # the anchor's "before" is the plain calibration's twin; its "after" is the engine's latency
        assert anchored.anchor["passes"][w]["error_before"] == pytest.approx(e_plain, rel=1e-9)
        assert anchored.anchor["passes"][w]["after_s"] == pytest.approx(twin, rel=1e-9)
    # two eager passes, two global parameters: both met (a fitted machine, not per-workload factors)
    assert max(abs(e) for _, _, e in anchored.in_sample.values()) < 1e-3
    assert max(abs(e) for _, _, e in plain.in_sample.values()) > 0.05  # the rows' fit alone missed
