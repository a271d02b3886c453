"""The layer rule of docs/ARCHITECTURE.md, checked on the source: packages import downward only, no module
imports itself back through a circle, and nothing below the entry points touches argparse.

Every import counts, also the ones inside functions (a lazy import is still a dependency).
"""
from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "livehdr")

# Top first. A module may import from its own layer or any layer below it, never from one above.
LAYERS = [
    ("entry points", ["livehdr.cli", "livehdr.__main__", "livehdr.argtypes", "livehdr.bench", "livehdr.contact_sheet",
                      "livehdr.fit_highlight",
                      "livehdr.evaluate",
                      "livehdr.train.__main__"]),
    ("batch", ["livehdr.batch"]),
    ("training", ["livehdr.train"]),
    ("window", ["livehdr.window"]),
    ("pipeline", ["livehdr.pipeline"]),
    ("io and operators", ["livehdr.io", "livehdr.operators"]),
    ("engine", ["livehdr.engine"]),
    ("models", ["livehdr.models"]),
    ("scenes and metrics", ["livehdr.scenes", "livehdr.metrics"]),
    ("color", ["livehdr.color"]),
    ("base", ["livehdr.base", "livehdr"]),
]
ENTRY_POINTS = set(LAYERS[0][1])


def module_name(path: str) -> str:
    rel = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
    return rel[: -len(".__init__")] if rel.endswith(".__init__") else rel


def layer_of(module: str) -> int:
    """Index into LAYERS of the longest matching prefix (so livehdr.train.__main__ beats livehdr.train)."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/ARCHITECTURE.md")
    return best


def sources() -> dict[str, str]:
    found = {}
    for folder, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".py"):
                found[module_name(os.path.join(folder, n))] = os.path.join(folder, n)
    return found


def imports_of(path: str, module: str, known: set[str]) -> set[str]:
    """livehdr modules imported anywhere in the file (``from livehdr.x import y`` counts y when it is a module)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("livehdr"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if not base.startswith("livehdr"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    out.discard(module)
    return {m for m in out if m in known}


def argparse_users(path: str) -> bool:
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "argparse":
            return True
    return False


@pytest.fixture(scope="module")
def graph():
    files = sources()
    known = set(files)
    return files, {m: imports_of(p, m, known) for m, p in files.items()}


def test_every_module_has_a_layer(graph):
    files, _ = graph
    for m in files:
        layer_of(m)


def test_imports_only_go_down(graph):
    _, edges = graph
    upward = []
    for m, targets in edges.items():
        for t in targets:
            if t == "livehdr":
                continue
            # A package's __init__ may re-export its own modules; everything else obeys the layers.
            if layer_of(t) < layer_of(m):
                upward.append(f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_import_circles(graph):
    _, edges = graph
    # Tarjan's strongly connected components: any component of two or more modules is a circle.
    index, low, stack, on_stack, circles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_only_entry_points_touch_argparse(graph):
    files, _ = graph
    offenders = sorted(m for m, p in files.items() if m not in ENTRY_POINTS and argparse_users(p))
    assert not offenders, f"argparse below the entry points: {offenders}"


def test_the_checker_catches_an_upward_import_and_a_circle(tmp_path):
    """The rule itself: a fake colour module importing the pipeline is upward, and two modules importing
    each other form a circle."""
    known = {"livehdr.color.fake", "livehdr.pipeline.convert", "livehdr.io.a", "livehdr.io.b"}
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from livehdr.pipeline import convert\n")
    assert imports_of(str(fake), "livehdr.color.fake", known) == {"livehdr.pipeline.convert"}
    assert layer_of("livehdr.pipeline.convert") < layer_of("livehdr.color.fake")
    a = tmp_path / "a.py"
    a.write_text("from livehdr.io import b\n")
    assert imports_of(str(a), "livehdr.io.a", known) == {"livehdr.io.b"}


def package_of(module: str) -> str:
    """livehdr.window.renderer -> livehdr.window; a top-level module (livehdr.cli) is its own package."""
    parts = module.split(".")
    return ".".join(parts[:2])


def private_imports(path: str, module: str, known: set[str]) -> list[str]:
    """Private names (``_x``, not dunders) this file takes from another package's modules: imported by name
    (``from livehdr.color.glsl import _float``) or read as an attribute of an imported module (``c._K``)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    own = package_of(module)
    private = lambda name: name.startswith("_") and not name.startswith("__")  # noqa: E731
    aliases: dict[str, str] = {}  # local name -> livehdr module it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("livehdr") and a.asname:
                    aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("livehdr") and not node.level:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                if sub in known:
                    aliases[a.asname or a.name] = sub
                elif private(a.name) and package_of(node.module) != own:
                    found.append(f"{module} imports {node.module}.{a.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and private(node.attr) and package_of(aliases[node.value.id]) != own):
            found.append(f"{module} reads {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_private_names_across_packages(graph):
    files, _ = graph
    known = set(files)
    offenders = sorted({f for m, p in files.items() for f in private_imports(p, m, known)})
    assert not offenders, "private names used from another package (give them public names):\n" + "\n".join(
        offenders)


def test_the_checker_catches_a_private_import_and_a_private_attribute(tmp_path):
    known = {"livehdr.window.fake", "livehdr.color.glsl", "livehdr.operators.classical", "livehdr.window.app"}
    fake = tmp_path / "fake.py"
    fake.write_text("from livehdr.color.glsl import _float, glsl_defines\nfrom livehdr.operators import classical "
                    "as c\nfrom livehdr.window import app\nK = c._K1\nL = app._own_package_is_fine\n"
                    "M = c.__name__\n")
    assert private_imports(str(fake), "livehdr.window.fake", known) == [
        "livehdr.window.fake imports livehdr.color.glsl._float",
        "livehdr.window.fake reads livehdr.operators.classical._K1"]
