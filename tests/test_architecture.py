"""The architecture of docs/architecture.md §1, checked from the code's own imports.

The layer table is read from the document (between the ``layers`` markers), the imports from
every library module's syntax tree (module level, inside functions and under ``TYPE_CHECKING``
alike). A test fails on an import against the layer order, on an import cycle between modules,
on a module importing another module's ``_private`` name, on library code importing a path that
moved (``sparoa_sim.compat.MOVED``), and on a library file over the size limits.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import tomllib
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 700
MAX_SIMULATOR_LINES = 400


@lru_cache(maxsize=None)
def package_dirs() -> dict[str, Path]:
    """Top-level package name -> folder, from pyproject's ``package-dir``."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {name: ROOT / d for name, d in cfg["tool"]["setuptools"]["package-dir"].items()}


@lru_cache(maxsize=None)
def library_modules() -> dict[str, Path]:
    """Every library module's dotted name -> file (packages as their ``__init__``)."""
    dirs = package_dirs()
    mods: dict[str, Path] = {}
    for pkg, folder in dirs.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = list(rel.parts)
            # a folder mapped to another package (sparoa_sim.hwmodels inside sparoa_sim) is that package's
            if pkg == "sparoa_sim" and parts and f"sparoa_sim.{parts[0]}" in dirs:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([pkg, *parts])] = path
    return mods


def is_package(name: str) -> bool:
    return library_modules()[name].name == "__init__.py"


@lru_cache(maxsize=None)
def layer_table() -> list[tuple[int, str, bool]]:
    """(layer, prefix, exact) rows of docs/architecture.md §1."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- layers:begin -->\s*```\n(.*?)```\s*<!-- layers:end -->", text, re.S)
    assert m, "docs/architecture.md has no layer table between <!-- layers:begin/end --> markers"
    rows = []
    for line in m.group(1).splitlines():
        if not line.strip():
            continue
        num, *names = line.split()
        for name in names:
            rows.append((int(num), name.lstrip("="), name.startswith("=")))
    return rows


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for layer, prefix, exact in layer_table():
        if module == prefix or (not exact and module.startswith(prefix + ".")):
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), layer)
    return None if best is None else best[1]


def _resolve_relative(module: str, level: int, target: str | None) -> str:
    base = module.split(".") if is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([target] if target else []))


@lru_cache(maxsize=None)
def imports_of(module: str) -> tuple[tuple[str, tuple[str, ...], int], ...]:
    """(imported module, names taken from it, line) for every import statement in ``module``."""
    tree = ast.parse(library_modules()[module].read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name, (), node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            src = _resolve_relative(module, node.level, node.module) if node.level else (node.module or "")
            out.append((src, tuple(a.name for a in node.names), node.lineno))
    return tuple(out)


def edges_of(module: str) -> set[tuple[str, int]]:
    """Library modules ``module`` imports (a ``from pkg import sub`` counts as importing ``pkg.sub``)."""
    mods = library_modules()
    out = set()
    for src, names, line in imports_of(module):
        if not src.startswith("sparoa_sim"):
            continue
        subs = [f"{src}.{n}" for n in names if f"{src}.{n}" in mods]
        if subs:
            out.update((s, line) for s in subs)
        if len(subs) < len(names) or not names:
            out.add((src, line))
    return out


def test_the_layer_table_covers_every_library_module():
    missing = [m for m in library_modules() if layer_of(m) is None]
    assert not missing, f"modules in no layer of docs/architecture.md §1: {missing}"


def test_no_import_against_the_layer_order():
    bad = []
    for mod in library_modules():
        mine = layer_of(mod)
        for dst, line in edges_of(mod):
            theirs = layer_of(dst)
            if theirs is not None and mine is not None and theirs > mine:
                bad.append(f"{mod}:{line} (layer {mine}) imports {dst} (layer {theirs})")
    assert not bad, "imports against docs/architecture.md §1:\n" + "\n".join(sorted(bad))


def test_no_import_cycle_between_modules():
    mods = library_modules()
    graph = {m: sorted({d for d, _ in edges_of(m) if d in mods and d != m}) for m in mods}
    # a package's __init__ re-exporting its own sub-modules is not a cycle of design
    for m in graph:
        graph[m] = [d for d in graph[m] if not (is_package(m) and d.startswith(m + "."))]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan, iterative enough for a few hundred modules
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for v in graph:
        if v not in index:
            strong(v)
    assert not cycles, f"import cycles between modules: {cycles}"


def test_no_module_imports_another_modules_private_name():
    mods = library_modules()
    bad = []
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name -> library module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                src = _resolve_relative(mod, node.level, node.module) if node.level else (node.module or "")
                if not src.startswith("sparoa_sim") or src == mod:
                    continue
                for a in node.names:
                    if f"{src}.{a.name}" in mods:
                        aliases[a.asname or a.name] = f"{src}.{a.name}"
                    elif a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{mod}:{node.lineno} imports {src}.{a.name}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("sparoa_sim") and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__") and aliases[node.value.id] != mod):
                bad.append(f"{mod}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "cross-module private names (make the helper public):\n" + "\n".join(sorted(set(bad)))


def test_library_code_imports_the_new_paths():
    from sparoa_sim.compat import MOVED

    bad = []
    for mod in library_modules():
        if mod == "sparoa_sim.compat":
            continue
        for src, names, line in imports_of(mod):
            for full in [src, *(f"{src}.{n}" for n in names)]:
                if full in MOVED:
                    bad.append(f"{mod}:{line} imports {full} (now {MOVED[full]})")
    assert not bad, "\n".join(bad)


def test_every_old_path_still_imports_as_its_new_module():
    from sparoa_sim.compat import MOVED

    mods = library_modules()
    for old, new in MOVED.items():
        assert old not in mods, f"{old} still has a file: move it or drop it from MOVED"
        assert new in mods, f"MOVED names {new}, which does not exist"
    # in a fresh process, so that the alias finder (not a cached module) answers each old path
    code = (
        "import importlib, sparoa_sim\n"
        "from sparoa_sim.compat import MOVED\n"
        "for old, new in MOVED.items():\n"
        "    a = importlib.import_module(old); b = importlib.import_module(new)\n"
        "    assert a is b, (old, new)\n"
        "    assert b.__spec__.name == new, (new, b.__spec__.name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_from_import_of_an_old_module_path_works():
    mod = importlib.import_module("sparoa_sim.engine")
    from sparoa_sim import engine  # noqa: F401  (the parent package's attribute, via the finder)

    assert engine is mod and hasattr(mod, "Simulator")


def test_no_library_file_over_the_size_limit():
    long = {m: n for m, p in library_modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES}
    assert not long, f"library files over {MAX_FILE_LINES} lines: {long}"


def test_the_simulator_facade_stays_thin():
    from sparoa_sim.sim import simulator

    tree = ast.parse(Path(simulator.__file__).read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Simulator")
    span = cls.end_lineno - cls.lineno + 1
    assert span <= MAX_SIMULATOR_LINES, f"Simulator is {span} lines (at most {MAX_SIMULATOR_LINES})"


def test_no_dangling_design_references():
    """Comments cite docs/architecture.md sections that exist, never the out-of-tree DESIGN."""
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", doc, re.M))
    bad = []
    files = list(library_modules().values()) + list((ROOT / "benchmarks").glob("*.py")) + list((ROOT / "tests").rglob("*.py"))
    for path in files:
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"\bDESIGN\b", text):
            bad.append(f"{path.relative_to(ROOT)}: cites DESIGN")
        for m in re.finditer(r"architecture\.md §(\d+(?:\.\d+)?)", text):
            if m.group(1) not in sections:
                bad.append(f"{path.relative_to(ROOT)}: cites architecture.md §{m.group(1)}, which does not exist")
    for path in library_modules().values():
        for m in re.finditer(r"``([\w.-]+/[\w/.-]+\.md)``", path.read_text(encoding="utf-8")):
            if not (ROOT / m.group(1)).exists():
                bad.append(f"{path.relative_to(ROOT)}: points to {m.group(1)}, which does not exist")
    assert not bad, "\n".join(sorted(set(bad)))


@pytest.mark.parametrize("light", ["sparoa_sim", "sparoa_sim.hwmodels", "sparoa_sim.sim", "sparoa_sim.envs",
                                   "sparoa_sim.sim.simulator", "sparoa_sim.cli"])
def test_light_imports_pull_in_no_heavy_layer(light):
    code = (
        "import sys\n"
        f"import {light}\n"
        "heavy = ('torch', 'stable_baselines3', 'ortools', 'sparoa_sim.agents', 'sparoa_sim.real')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""
