"""The one import namespace (docs/architecture.md §1): folders map under ``sparoa_sim`` from an editable
install, from a built wheel and from pytest at the repository root; light imports stay light."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"sparoa_sim.hwmodels": "hwmodels", "sparoa_sim.envs": "envs", "sparoa_sim.agents": "agents",
           "sparoa_sim.real": "real"}


def run_py(code: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def locate(names) -> str:
    return "import importlib.util as u\n" + "".join(
        f"print({n!r}, u.find_spec({n!r}).origin)\n" for n in names
    )


def test_mapping_from_pytest_at_repository_root():
    import sparoa_sim.agents
    import sparoa_sim.envs
    import sparoa_sim.hwmodels
    import sparoa_sim.real

    for mod, folder in MAPPING.items():
        assert Path(sys.modules[mod].__file__).parent == ROOT / folder


def test_mapping_from_editable_install_in_a_folder_with_shadowing_names(tmp_path):
    """A user's own envs/ and agents/ folders beside their script do not shadow ours."""
    for name in ("envs", "agents", "hwmodels"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('user folder imported')\n")
    out = run_py(locate(MAPPING), cwd=tmp_path)
    for line in out.splitlines():
        mod, origin = line.split(" ", 1)
        assert Path(origin).parent == ROOT / MAPPING[mod], line


def test_mapping_from_a_built_wheel(tmp_path):
    wheel_dir = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = wheel_dir.glob("sparoa_sim-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "sparoa_sim/hwmodels/kinds.py" in names
    for pkg in listed_packages():  # every sub-package ships (a missing one imports only in editable installs)
        assert f"{pkg.replace('.', '/')}/__init__.py" in names, pkg
    assert any(n.startswith("sparoa_sim/workloads/") and n.endswith(".json") for n in names)
    assert not any(n.startswith(("hwmodels/", "envs/", "agents/", "real/", "tests/")) for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site))
    out = run_py(locate(["sparoa_sim", *MAPPING]), cwd=tmp_path, env=env)
    for line in out.splitlines():
        assert line.split(" ", 1)[1].startswith(str(site)), line
    out = run_py("import sparoa_sim; print(len(sparoa_sim.list_workloads()))", cwd=tmp_path, env=env)
    assert int(out) >= 1


def test_import_sparoa_sim_does_not_import_torch():
    code = (
        "import sys, sparoa_sim, sparoa_sim.hwmodels, sparoa_sim.envs, sparoa_sim.ir.graph, sparoa_sim.workloads\n"
        "sparoa_sim.load_workload(sparoa_sim.list_workloads()[0])\n"
        "print(sorted(m for m in ('torch', 'stable_baselines3', 'hypothesis') if m in sys.modules))"
    )
    assert run_py(code, cwd=ROOT).strip() == "[]"


@pytest.mark.parametrize("argv", [["--version"], ["workloads", "list", "--json"]])
def test_console_script_is_installed(argv):
    exe = Path(sys.executable).with_name("sparoa")
    if not exe.exists():
        pytest.skip("console script not installed beside this interpreter")
    out = subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def listed_packages() -> list[str]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def test_every_sub_package_is_listed_in_pyproject():
    """pyproject lists packages by hand (package-dir mapping): a new sub-package must be added there."""
    found = set()
    for pkg, folder in {"sparoa_sim": "sparoa_sim", **MAPPING}.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            if pkg == "sparoa_sim" and rel and f"sparoa_sim.{rel[0]}" in MAPPING:
                continue
            found.add(".".join([pkg, *rel]))
    assert found == set(listed_packages()), (found ^ set(listed_packages()))
