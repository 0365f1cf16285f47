"""Held out by family (``hwmodels.held_out``): family names, tables less a family, and a fit that
nothing of the held-out family can reach (issue 24)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.calibrate import fit
from sparoa_sim.hwmodels.errors import CalibrationError, SparOAError
from sparoa_sim.hwmodels.held_out import (
    family_of,
    fit_without_families,
    group_by_family,
    host_base,
    same_family,
    table_families,
    without_families,
)
from sparoa_sim.hwmodels.measurements import load_table

TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "host_table.json"


@pytest.mark.parametrize(("name", "family"), [
    ("resnet50", "resnet50"), ("resnet50_pruned50", "resnet50"), ("resnet50_pruned80", "resnet50"),
    ("vit_b_16", "vit_b_16"), ("vit_b_16_pruned80", "vit_b_16"), ("resnet18_pruned50_reduced", "resnet18"),
    ("mobilenetv3_small", "mobilenetv3_small"), ("ssdlite_mobilenetv2", "ssdlite_mobilenetv2"),
    ("synthetic-7", "synthetic-7"), ("squeezenet1_1", "squeezenet1_1"),
])
def test_family_of_strips_the_pruning_and_reduced_suffixes(name: str, family: str) -> None:
    assert family_of(name) == family


@given(st.from_regex(r"[a-z][a-z0-9_]{0,12}[a-z0-9]", fullmatch=True), st.integers(1, 99))
def test_a_pruned_variant_is_in_its_base_family(base: str, pct: int) -> None:
    assert same_family(f"{base}_pruned{pct}", family_of(base))


@pytest.mark.parametrize("bad", ["", "  ", None, 3])
def test_family_of_refuses_a_non_name(bad) -> None:
    with pytest.raises(SparOAError, match="workload"):
        family_of(bad)


def test_group_by_family_keeps_order_and_drops_duplicates() -> None:
    assert group_by_family(["vit_b_16_pruned50", "resnet18", "vit_b_16", "vit_b_16_pruned50"]) == {
        "vit_b_16": ("vit_b_16_pruned50", "vit_b_16"), "resnet18": ("resnet18",)}


@pytest.fixture(scope="module")
def table():
    return load_table(TABLE)


def test_without_families_drops_rows_and_figures_and_keeps_the_sweeps(table) -> None:
    assert table_families([table]) == {"resnet18", "mobilenetv3_small"}
    (kept,) = without_families([table], ["resnet18"])
    assert {r.workload for r in kept.rows} == {"mobilenetv3_small"}
    assert [e.workload for e in kept.end_to_end] == ["mobilenetv3_small"]
    assert kept.bandwidth == table.bandwidth and kept.sparse_sweep == table.sparse_sweep
    assert len(kept.rows) == sum(r.workload == "mobilenetv3_small" for r in table.rows)
    assert without_families([table], ["vgg16"])[0] is table  # nothing of it: the same table
    (bare,) = without_families([table], ["resnet18", "mobilenetv3_small"])  # its STREAM figure keeps it
    assert not bare.rows and not bare.end_to_end and bare.bandwidth is not None
    no_sweeps = dataclasses.replace(table, bandwidth=None, sparse_sweep=(), act_sweep=())
    assert without_families([no_sweeps], ["resnet18", "mobilenetv3_small"]) == []


def test_a_table_left_without_rows_hands_its_sweeps_to_another(table) -> None:
    """One table per workload (as the benchmark writes them): holding out the one that carries the
    STREAM figure and the sweep keeps both, on the table that is left."""
    first = dataclasses.replace(table, rows=tuple(r for r in table.rows if r.workload == "resnet18"),
                                end_to_end=tuple(e for e in table.end_to_end if e.workload == "resnet18"))
    second = dataclasses.replace(table, rows=tuple(r for r in table.rows if r.workload != "resnet18"),
                                 end_to_end=tuple(e for e in table.end_to_end if e.workload != "resnet18"),
                                 bandwidth=None, sparse_sweep=(), act_sweep=())
    (kept,) = without_families([first, second], ["resnet18"])
    assert kept.rows == second.rows and kept.bandwidth == table.bandwidth
    assert kept.sparse_sweep == table.sparse_sweep and kept.act_sweep == table.act_sweep
    res = fit_without_families(load_platform("jetson-orin-nano-8gb"), [first, second], ["resnet18"], residual=False)
    assert res.report["n"] == len(second.rows) and "sparse" in res.report


def test_the_held_out_fit_cannot_see_the_held_out_family(table) -> None:
    """Doubling every time of the held-out family changes nothing; doubling the other's does."""
    base = load_platform("jetson-orin-nano-8gb")
    fitted = fit_without_families(base, [table], ["resnet18"], residual=False)
    assert fitted.report["n"] == sum(r.workload == "mobilenetv3_small" for r in table.rows)
    assert fitted.platform == fit(base, without_families([table], ["resnet18"]), residual=False).platform

    def slower(family: str):
        rows = tuple(dataclasses.replace(r, time_s=2 * r.time_s, time_s_a=2 * r.time_s_a, time_s_b=2 * r.time_s_b)
                     if family_of(r.workload) == family else r for r in table.rows)
        return dataclasses.replace(table, rows=rows)

    same = fit_without_families(base, [slower("resnet18")], ["resnet18"], residual=False)
    assert same.platform.cpu.latency == fitted.platform.cpu.latency
    moved = fit_without_families(base, [slower("mobilenetv3_small")], ["resnet18"], residual=False)
    assert moved.platform.cpu.latency != fitted.platform.cpu.latency


def test_the_base_is_built_from_the_remaining_tables_only(table) -> None:
    seen = []

    def make_base(ts):
        seen.append(table_families(ts))
        return host_base(ts, load_platform("jetson-orin-nano-8gb"))

    fit_without_families(make_base, [table], ["mobilenetv3_small"], residual=False)
    assert seen == [{"resnet18"}]


def test_nothing_left_to_fit_is_refused(table) -> None:
    with pytest.raises(CalibrationError, match="no operator rows left once mobilenetv3_small, resnet18"):
        fit_without_families(load_platform("jetson-orin-nano-8gb"), [table], ["resnet18", "mobilenetv3_small"])
    with pytest.raises(CalibrationError, match="no STREAM bandwidth"):
        host_base([dataclasses.replace(table, bandwidth=None)], load_platform("jetson-orin-nano-8gb"))
