"""The package layout: capabilities in subpackages, imports running one way, no cycles.

Layers, bottom up: `errors` and `nn` (the numpy recurrence); the infrastructure (`training`) and the audio
front-end (`audio`); the capabilities (`keywords`, `music`, `scratch`, `spotting`, which builds on
`keywords`, and `streams`, the test streams that measure and train spotting, which builds on both);
the interfaces (`cli`, `ui`).
A package may import only from the packages listed for it below. Every
import counts, the lazy ones inside functions too.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "audio_rnn"

ALLOWED = {
    "errors": set(),
    "nn": set(),
    "training": {"errors"},
    "audio": {"errors", "training"},
    "keywords": {"errors", "training", "audio", "nn"},
    "music": {"errors", "training", "audio", "nn"},
    "scratch": {"errors", "training", "nn"},
    "spotting": {"errors", "training", "audio", "keywords", "nn"},
    "streams": {"errors", "training", "audio", "keywords", "spotting"},
    "ui": {"errors", "training", "audio", "keywords", "music", "scratch", "spotting", "streams", "nn", "__init__"},
    "cli": {"errors", "__init__"},
    "__main__": {"cli"},
    "__init__": set(),
}
CAPABILITIES = ("keywords", "music", "scratch", "spotting", "streams")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str:
    """The module an imported name lives in: `audio_rnn.training.checkpoint.save` -> `audio_rnn.training.checkpoint`."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports(module: str, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {_resolve(a.name) for a in node.names if a.name.startswith("audio_rnn")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audio_rnn") and not node.level:
            for a in node.names:
                found.add(_resolve(f"{node.module}.{a.name}"))
    found.discard("")
    found.discard(module)
    return found


def group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_docstring():
    for name, path in MODULES.items():
        if path.name == "__init__.py":
            assert ast.get_docstring(ast.parse(path.read_text())), f"{name} has no docstring"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module):
    g = group(module)
    assert g in ALLOWED, f"{module}: unknown package {g!r}; add it to the layers in this test"
    for dep in sorted(imports(module)):
        d = group(dep)
        assert d == g or d in ALLOWED[g], f"{module} imports {dep}: {g} may not depend on {d}"


def test_no_import_cycles():
    """Between modules, counting the imports inside functions too (a lazy import still ties two modules)."""
    graph = {m: imports(m) for m in MODULES}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in graph.get(m, ()):
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(d):] + [d]) if d in path else d)
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])


def test_package_graph_is_acyclic():
    """Also with the lazy imports: between packages the dependencies form a DAG."""
    edges = {(group(m), group(d)) for m in MODULES for d in imports(m) if group(m) != group(d)}
    for a, b in edges:
        assert (b, a) not in edges, f"{a} and {b} import each other"


def test_commands_live_in_the_capabilities():
    from audio_rnn.cli import COMMANDS

    for name, (module, _) in COMMANDS.items():
        assert module in MODULES, f"{name}: {module} does not exist"
        assert group(module) in CAPABILITIES + ("audio",), f"{name} is implemented outside a capability: {module}"
        tree = ast.parse(MODULES[module].read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        stem = name.replace("-", "_")
        assert {"configure_" + stem, "run_" + stem} <= defined, f"{module} lacks configure_/run_{stem}"


def test_no_flat_leftovers():
    """The top level holds only the CLI, the errors and the packages."""
    flat = {p.name for p in PKG.glob("*.py")}
    assert flat == {"__init__.py", "__main__.py", "cli.py", "errors.py"}, flat


def test_subpackages_import():
    for name in ("audio", "keywords", "spotting", "music", "scratch", "training"):
        importlib.import_module(f"audio_rnn.{name}")


def test_app_pages_name_modules_that_exist():
    """The app imports some capabilities by name (`models.module("music.generate")`) and shows
    "unavailable" when that fails: a stale name would hide a page silently."""
    import re

    for path in sorted((PKG / "ui").glob("*.py")):
        for name in re.findall(r"""module\(["']([\w.]+)["']\)""", path.read_text()):
            assert f"audio_rnn.{name}" in MODULES, f"{path.name}: module({name!r}) does not exist"


def test_no_private_names_cross_modules():
    """A name with a leading underscore stays in its module: nothing imports one from another module."""
    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audio_rnn"):
                found += [f"{module}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found


def test_shipped_configs_hold_no_machine_paths():
    """A shipped config names its data and outputs relative to the project (`runs/`, `../shared/...`), not
    the folders of the machine it was trained on."""
    import re

    for cfg in sorted((PKG / "pretrained").glob("*/config.json")):
        hits = re.findall(r"(?<![.\w])/(?:work|home|root|tmp|mnt|Users)/[^\s\"']*", cfg.read_text())
        assert not hits, f"{cfg.parent.name}: {hits[:3]}"


def test_no_function_is_over_60_lines():
    """Every function fits on one screen (60 lines, its docstring included)."""
    import ast

    long = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(PKG)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long
