"""benchmarks/apply_published_fit.py: the shipped Jetson profiles are exactly what the committed fit writes, a
conv size term goes in and out with its source, and a bad fit file changes nothing."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from bench_scripts import benchmark_script

from sparoa_sim.hwmodels import load_platform
from sparoa_sim.hwmodels.profile_io import _shipped_dir

ROOT = Path(__file__).resolve().parents[2]
FIT = ROOT / "benchmarks" / "results" / "fit_published_overheads.json"


@pytest.fixture(scope="module")
def apply():
    with benchmark_script("apply_published_fit", "apply_published_fit_bench") as mod:
        yield mod


@pytest.fixture()
def profiles(tmp_path: Path) -> Path:
    out = tmp_path / "profiles"
    out.mkdir()
    for p in Path(_shipped_dir()).glob("jetson-*.toml"):
        shutil.copy(p, out / p.name)
    return out


def _texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("jetson-*.toml"))}


def test_the_committed_fit_writes_the_shipped_profiles_byte_for_byte(apply, profiles: Path) -> None:
    before = _texts(profiles)
    assert len(before) == 5
    assert apply.main([str(FIT), "--profiles", str(profiles)]) == 0
    assert _texts(profiles) == before


def test_a_conv_size_fit_goes_in_with_its_source_and_out_again(apply, profiles: Path, tmp_path: Path) -> None:
    before = _texts(profiles)
    fit = json.loads(FIT.read_text(encoding="utf-8"))
    gemm = copy.deepcopy(fit)
    gemm["conv_size"].update(how="gemm", beta=-0.184)
    gemm["kinds"][0]["eta"] = 0.0673  # conv
    path = tmp_path / "gemm.json"
    path.write_text(json.dumps(gemm), encoding="utf-8")
    assert apply.main([str(path), "--profiles", str(profiles)]) == 0
    agx = load_platform(profiles / "jetson-agx-orin-64gb.toml")
    assert agx.gpu.latency.conv_size_beta == -0.184 and agx.gpu.latency.eta_of("conv") == 0.0673
    tag = agx.origin("gpu.latency.conv_size_beta")
    assert tag.origin == "derived" and "GEMM sweep" in tag.note and "not fitted to any model" in tag.note
    assert "--conv-size gemm (train" in agx.origin("gpu.latency.eta.conv").note
    assert agx.cpu.latency == load_platform("jetson-agx-orin-64gb").cpu.latency  # the CPU is not touched
    off = copy.deepcopy(fit)
    off["conv_size"].update(how="off", beta=0.0)
    path.write_text(json.dumps(off), encoding="utf-8")
    assert apply.main([str(path), "--profiles", str(profiles)]) == 0  # a fit without the term takes it out
    assert all("conv_size_beta" not in t for t in _texts(profiles).values())
    assert apply.main([str(FIT), "--profiles", str(profiles)]) == 0  # and the committed fit puts back what ships
    assert _texts(profiles) == before


@pytest.mark.parametrize("content", ["{not json", '{"lanes": 1.0}', '{"lanes": 1.0, "kinds": [{"kind": "conv"}]}'])
def test_a_bad_fit_file_is_refused_in_one_line_and_changes_nothing(apply, profiles: Path, tmp_path: Path,
                                                                  capsys, content: str) -> None:
    before = _texts(profiles)
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert apply.main([str(path), "--profiles", str(profiles)]) == 2
    err = capsys.readouterr().err.strip()
    assert "bad.json" in err and "\n" not in err
    assert _texts(profiles) == before
