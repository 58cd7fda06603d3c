"""The package's layering: data flows one way, and no module imports from a layer above its own, nor takes part
in an import circle. Read from the source with `ast`, so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vaelab

SRC = Path(vaelab.__file__).resolve().parent

# Lowest first; a module may import from its own layer and the ones before it.
LAYERS = [
    {"errors", "rng", "progress"},
    {"io"},
    {"latent"},
    {"data", "models"},
    {"viz"},
    {"training"},
    {"metrics"},
    {"tasks"},
    {"cli", "studio", "__main__"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def vaelab_imports(path: Path) -> set[str]:
    """Every vaelab module that ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "vaelab"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "vaelab":  # from vaelab import io → vaelab.io (a name of vaelab/__init__ stays vaelab)
                found |= {
                    f"vaelab.{a.name}" if (SRC / a.name).exists() or (SRC / f"{a.name}.py").exists() else "vaelab"
                    for a in node.names
                }
            elif node.module.startswith("vaelab."):
                folder = SRC.joinpath(*node.module.split(".")[1:])
                subs = {f"{node.module}.{a.name}" for a in node.names if (folder / f"{a.name}.py").exists()}
                found |= subs or {node.module}  # from vaelab.viz import grids → vaelab.viz.grids
    return found


def layer(module: str) -> int | None:
    """The layer of a module: that of its first part below vaelab; None for vaelab itself (the lazy facade)."""
    parts = module.split(".")
    return LAYER_OF[parts[1]] if len(parts) > 1 else None


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_top_level_package_and_module_has_a_layer():
    tops = {p.relative_to(SRC).parts[0].removesuffix(".py") for p in SOURCES} - {"__init__"}
    assert tops <= set(LAYER_OF), f"put {sorted(tops - set(LAYER_OF))} in a layer"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_from_a_layer_above_its_own(path):
    me = module_name(path)
    mine = layer(me)
    if mine is None:
        return
    upward = sorted(m for m in vaelab_imports(path) if layer(m) is not None and layer(m) > mine)
    assert not upward, f"{me} (layer {mine}) imports from a layer above it: {upward}"


def test_no_module_of_a_layer_imports_the_lazy_facade():
    """`vaelab.load` and friends are for users; inside the package an import names the module it needs."""
    offenders = sorted(module_name(p) for p in SOURCES if "vaelab" in vaelab_imports(p))
    assert not offenders, offenders


def test_there_is_no_import_circle():
    graph = {module_name(p): vaelab_imports(p) for p in SOURCES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (circle := visit(nxt, path + [node])):
                return circle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (circle := visit(start, [])):
            pytest.fail("import circle: " + " → ".join(circle[circle.index(circle[-1]) :]))


def test_the_layer_test_catches_an_upward_import(tmp_path):
    """The checks above read the source as written: an import of a task from a model is an upward one."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from vaelab.tasks.morph import morph\n")
    assert layer(next(iter(vaelab_imports(bad)))) > LAYER_OF["models"]


def test_the_package_has_at_most_five_loose_modules():
    loose = sorted(p.name for p in SRC.glob("*.py"))
    assert len(loose) <= 5, loose


def test_every_folder_of_modules_is_a_package():
    """A folder of modules without __init__.py is a namespace package, which setuptools' find_packages leaves out of
    a wheel: only an editable install would find it."""
    folders = {p.parent for p in SOURCES}
    assert not sorted(str(f.relative_to(SRC)) for f in folders if not (f / "__init__.py").is_file())
