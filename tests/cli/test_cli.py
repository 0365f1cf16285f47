"""The ``sparoa`` command line: JSON output, plots, exit status 2 with one line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sparoa_sim.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_workloads_list_json(capsys):
    code, out, _ = run(capsys, "workloads", "list", "--json")
    assert code == 0
    doc = json.loads(out)
    rows = {r["name"]: r for r in doc["workloads"]}
    assert "mobilenetv3_small" in rows
    for r in rows.values():
        assert {"ops", "macs", "flops", "params"} <= set(r)
        assert r["flops"] >= 2 * r["macs"] > 0


def test_workloads_list_table(capsys):
    code, out, _ = run(capsys, "workloads", "list")
    assert code == 0 and "resnet50_pruned80" in out


def test_workloads_show_table_json_and_plot(capsys, tmp_path):
    png = tmp_path / "q.png"
    code, out, _ = run(capsys, "workloads", "show", "resnet18", "--plot", str(png), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["name"] == "resnet18" and doc["ops"] == len(doc["ops_detail"]) and doc["plot"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run(capsys, "workloads", "show", "resnet18")
    assert code == 0 and "sparsity source" in out and "layer1_0_conv1" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["workloads", "show", "resnet19"], "unknown workload 'resnet19'"),
        (["workloads", "show", "missing.json"], "no such graph file"),
        (["workloads", "frob"], "invalid choice"),
        (["extract", "nosuchmodule_abc:f", "--input-shape", "1,3", "-o", "x.json"], "cannot import module"),
        (["extract", "m:f", "--input-shape", "1,x", "-o", "x.json"], "--input-shape"),
        ([], "required"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and needle in err and err.startswith("sparoa")


def test_bad_graph_file_through_the_console_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 7, "name": "x", "ops": []}')
    proc = subprocess.run([sys.executable, "-m", "sparoa_sim.cli", "workloads", "show", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and "schema_version" in proc.stderr and "7" in proc.stderr


def test_extract_command_writes_a_graph(capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    (tmp_path / "tinymodels.py").write_text(
        "import torch.nn as nn\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n"
    )
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "extract", "tinymodels:build", "--input-shape", "1,3,8,8", "-o", "g.json", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ops"] == 2 and doc["macs"] == 4 * 3 * 9 * 36
    code, out, _ = run(capsys, "workloads", "show", "g.json", "--json")
    assert code == 0 and json.loads(out)["name"] == "build"


def test_platforms_list_and_show(capsys):
    code, out, _ = run(capsys, "platforms", "list", "--json")
    assert code == 0
    names = {r["name"] for r in json.loads(out)["platforms"]}
    assert {"jetson-agx-orin-64gb", "jetson-orin-nano-8gb"} <= names
    code, out, _ = run(capsys, "platforms", "show", "jetson-agx-orin-64gb", "--json")
    doc = json.loads(out)
    maxn = next(r for r in doc["mode_summary"] if r["mode"] == "MAXN")
    assert maxn["gpu_fp32_flops"] == pytest.approx(2048 * 2 * 1.3e9)
    assert maxn["cpu_fp32_flops"] == pytest.approx(12 * 16 * 2.2016e9)  # nvpmodel: CPU max 2201.6 MHz
    code, out, _ = run(capsys, "platforms", "show", "jetson-orin-nano-8gb")
    assert code == 0 and "7W" in out and "figures by origin" in out
    code, _, err = run(capsys, "platforms", "show", "jetson-tx1")
    assert code == 2 and "unknown platform 'jetson-tx1'" in err


def test_profile_command_writes_a_loadable_table(capsys, tmp_path):
    pytest.importorskip("torch")
    from sparoa_sim.hwmodels.measurements import load_table

    out_path = tmp_path / "t.json"
    code, out, _ = run(capsys, "profile", "--workload", "mobilenetv3_small", "--reduced", "--reps", "3",
                       "--no-sparse", "--time-budget", "2", "-o", str(out_path), "--json")
    assert code == 0
    doc = json.loads(out)
    table = load_table(out_path)
    assert doc["rows"] == len(table.rows) > 0 and table.device == "cpu"
    assert doc["end_to_end"][0]["time_s"] > 0
    # the table calibrates a profile that loads back, with the fit keys of docs/architecture.md §9
    from sparoa_sim.hwmodels import load_platform

    toml = tmp_path / "host.toml"
    code, out, _ = run(capsys, "calibrate", str(out_path), "--base", "jetson-orin-nano-8gb", "--name", "host",
                       "-o", str(toml), "--json")
    assert code == 0
    fitted = json.loads(out)
    assert {"within_10pct", "within_20pct", "median_error", "mape"} <= set(fitted["train"])
    assert fitted["held_out"] is None  # one workload: nothing to hold out
    assert fitted["time_weight"] == 0.25 and fitted["sparse"] is None  # --no-sparse: no sweep to fit
    host = load_platform(toml)
    assert host.name == "host" and host.origin("cpu.latency.t_launch").origin == "fitted"
    code, _, err = run(capsys, "calibrate", str(tmp_path / "absent.json"), "--base", "jetson-orin-nano-8gb",
                       "-o", str(tmp_path / "x.toml"))
    assert code == 2 and "absent.json" in err and not (tmp_path / "x.toml").exists()
    code, _, err = run(capsys, "calibrate", str(out_path), "--base", "jetson-orin-nano-8gb", "--time-weight", "5",
                       "-o", str(tmp_path / "y.toml"))
    assert code == 2 and "time_weight must lie in [0, 2]" in err and not (tmp_path / "y.toml").exists()


def test_output_paths_ranges_and_shapes_exit_2_with_one_line(capsys, tmp_path, monkeypatch):
    """An output path that is a folder or sits under a file, an unknown image type, an out-of-range
    seed or count, a model that rejects the input shape: one line, exit 2 (tracebacks before)."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "tinymodels.py").write_text(
        "import torch.nn as nn\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())\n")
    monkeypatch.chdir(tmp_path)
    cases = [
        (["oracle", "--workload", "mobilenetv3_small", "--platform", "jetson-orin-nano-8gb", "--time-limit", "2",
          "-o", str(tmp_path)], f"Is a directory: {tmp_path}"),
        (["simulate", "--workload", "resnet18", "--platform", "jetson-orin-nano-8gb", "--gantt",
          str(tmp_path / "afile" / "g.png")], "afile"),
        (["workloads", "show", "resnet18", "--plot", "q.txt"], "cannot write an image of type '.txt'"),
        (["oracle", "--workload", "resnet18", "--platform", "jetson-orin-nano-8gb", "--seed", "2147483648"],
         "--seed must be an integer in [0, 2147483647]"),
        (["train", "predictor", "--seed", "-1", "-o", "p"], "--seed must be an integer"),
        (["extract", "tinymodels:build", "--input-shape", "2,8,3", "-o", "g.json"], "fails on an input of shape"),
    ]
    for argv, needle in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        lines = [line for line in err.splitlines() if line.startswith("sparoa")]
        assert needle in err and len(lines) == 1 and "Traceback" not in err, (argv, err)
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind


def test_file_token_keeps_outputs_in_their_folder():
    from sparoa_sim.hwmodels.fileio import file_token

    assert file_token("resnet18") == "resnet18" and file_token("15W") == "15W"
    assert file_token("/data/my nets/tiny net.json") == "tiny-net"
    assert file_token("../../etc") == "etc" and file_token("x@y:z") == "x-y-z" and file_token("///") == "x"


def test_more_bad_numbers_exit_2_and_figures_are_readable(capsys, tmp_path):
    import os
    import stat

    sim = ["simulate", "--workload", "mobilenetv3_small", "--platform", "jetson-orin-nano-8gb"]
    cases = [
        (["profile", "--workload", "mobilenetv3_small", "--time-budget", "nan", "-o", "p.json"],
         "--time-budget must be positive"),
        (["profile", "--workload", "mobilenetv3_small", "--bandwidth-mib", "0", "-o", "p.json"],
         "--bandwidth-mib must be >= 1"),
        ([*sim, "--requests", "2147483647", "--arrival", "poisson:10"], "--requests must be at most"),
        ([*sim, "--policy", "tensorrt", "--tau-s", "0.3"], "not 'tensorrt'"),
    ]
    for argv, needle in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2 and needle in err and err.count("\n") == 1, (argv, err)
    png = tmp_path / "g.png"
    code, _, _ = run(capsys, *sim, "--gantt", str(png), "--json")
    assert code == 0 and stat.S_IMODE(os.stat(png).st_mode) == 0o666 & ~_umask()  # not mkstemp's 0600
    prof = (Path(__file__).resolve().parents[1] / "fixtures" / "host.toml").read_text()
    huge = tmp_path / "huge.toml"
    huge.write_text(prof.replace("max_clock_hz = { value = 3540843214.7562585", "max_clock_hz = { value = 1e308", 1))
    code, out, err = run(capsys, "platforms", "show", str(huge), "--json")
    assert code == 2 and out == "" and "overflows" in err and "Traceback" not in err


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
