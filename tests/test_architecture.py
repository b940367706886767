"""The import rule (ARCHITECTURE.md), kept true.

* No import cycle between modules of ``gateway_kit`` (imports inside functions count; those
  under ``if TYPE_CHECKING:`` do not; the root package, which every module implies, is no node).
* The core (modules outside feature packages) imports no feature; a feature imports another
  feature only if its declaration ``requires`` it, so the features form no cycle either.
* Removing a feature package that no other feature requires leaves an app that migrates its
  database (without that feature's revisions), starts and serves its pages (a copy of the
  package without it, in a fresh interpreter).
* ``gateway-kit --version`` and ``--help`` import no heavy library (the CLI's start-up stays cheap;
  ``bench/cli_startup.py`` prints its CPU time).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gateway_kit
from gateway_kit.features import Feature, installed

PACKAGE = Path(gateway_kit.__file__).parent
ROOT = "gateway_kit"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {
    _module_name(p): p
    for p in PACKAGE.rglob("*.py")
    if "scaffold/template" not in p.as_posix() and "__pycache__" not in p.parts
}


def _imported(path: Path) -> set[str]:
    """The gateway_kit modules ``path`` imports (anywhere but under ``if TYPE_CHECKING:``)."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if (
                isinstance(child, ast.If)
                and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"
            ):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in MODULES else target)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in MODULES and m not in (mod, ROOT)}


GRAPH = {mod: _imported(path) for mod, path in MODULES.items() if mod != ROOT}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
                out.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            strong(v)
    return out


def _feature_of(module: str, features: list[Feature]) -> Feature | None:
    return next((f for f in features if module == f.package or module.startswith(f.package + ".")), None)


def test_the_graph_sees_imports() -> None:
    # The parser finds top-level, relative and function-level imports (else the rules below
    # would pass vacuously).
    assert "gateway_kit.jobs.models" in GRAPH["gateway_kit.jobs.queue"]
    assert "gateway_kit.jobs.destinations" in GRAPH["gateway_kit.data.jobinputs"]  # inside a function
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_standard_feature_names_the_usual_modules_and_each_resolves() -> None:
    declared = Feature.standard("jobs", "gateway_kit.jobs", models="other.models", order=5)
    assert (declared.init_app, declared.settings, declared.models, declared.order) == (
        ".feature:init_app",
        ".settings",
        "other.models",
        5,
    )
    for feature in installed():  # every declared path imports (a typo would break start-up)
        for path in (feature.settings, feature.models):
            if path:
                assert feature.module(path)
        if feature.init_app:
            assert callable(feature.attribute(feature.init_app))


def test_no_import_cycle_between_modules() -> None:
    assert _cycles(GRAPH) == []


def test_features_import_only_what_they_require() -> None:
    features = installed()
    wrong = []
    for module, imports in GRAPH.items():
        owner = _feature_of(module, features)
        for target in imports:
            other = _feature_of(target, features)
            if other is None or other is owner:
                continue
            if owner is None:
                wrong.append(f"core module {module} imports feature {other.name} ({target})")
            elif other.name not in owner.requires:
                wrong.append(
                    f"{module} imports {target}, but feature {owner.name} does not require {other.name}"
                )
    assert wrong == []
    requires = {f.name: set(f.requires) for f in features}
    assert _cycles(requires) == []


def _removable() -> list[str]:
    features = installed()
    required = {r for f in features for r in f.requires}
    return sorted(f.name for f in features if f.name not in required)


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("builds")


@pytest.mark.parametrize("feature", _removable())
def test_removing_a_feature_nobody_requires_leaves_a_working_app(feature: str, copies: Path) -> None:
    build = copies / f"without-{feature}"
    shutil.copytree(
        PACKAGE,
        build / ROOT,
        ignore=lambda folder, names: (
            [n for n in names if n == "__pycache__"] + ([feature] if Path(folder) == PACKAGE else [])
        ),
    )
    script = f"""
import sys
# An editable install's finder would supply the removed package from the checkout.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in str(getattr(f, "__module__", f)).lower()]
import gateway_kit
from gateway_kit import create_app
from gateway_kit.features import installed
assert gateway_kit.__file__.startswith({str(build)!r}), gateway_kit.__file__
names = [f.name for f in installed()]
assert {feature!r} not in names and names, names
from gateway_kit.db import current_heads, upgrade
app = create_app({{"ENV": "testing"}}, instance_path={str(build / "instance")!r})
upgrade(app)
# Its migrations went with it (revision ids name their feature).
heads = current_heads(app)
assert heads and not any({feature!r} in h for h in heads), heads
client = app.test_client()
assert client.get("/").status_code == 200
assert client.get("/healthz").status_code in (200, 503)
assert not any(m.startswith("gateway_kit.{feature}") for m in sys.modules)
print("ok", names)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_KIT_")}
    # cwd first on sys.path: the copy, not the installed package, is imported.
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=build, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok")


HEAVY = ("flask", "sqlalchemy", "openstack", "keystoneauth1", "authlib", "acme", "cryptography", "alembic")


@pytest.mark.parametrize(("argv", "budget"), [(["--version"], 60), (["--help"], 150)])
def test_cli_version_and_help_import_no_heavy_library(argv: list[str], budget: int) -> None:
    """No heavy library, and a budget of modules imported beyond the interpreter's own (a count,
    steadier than seconds: 41 for --version, click being 36 of them, and 111 for --help when the
    budget was set)."""
    script = (
        "import sys\n"
        "before = len(sys.modules)\n"
        "from gateway_kit.cli import main\n"
        "try:\n"
        f"    main({argv!r}, prog_name='gateway-kit')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print(len(sys.modules) - before)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "gateway-kit" in done.stdout  # the command really ran
    *_, imported, heavy = done.stdout.strip().splitlines()
    assert heavy == "[]"
    assert int(imported) <= budget, f"{argv}: {imported} modules imported (budget {budget})"


def test_the_core_folder_holds_only_core_revisions() -> None:
    """A feature's revisions live in its package (``gateway_kit/<feature>/migrations``), so that
    removing the feature removes them; a revision in the core's folder builds on core ones only."""
    folder = PACKAGE / "migrations" / "versions"
    parents: dict[str, list[str]] = {}
    for path in folder.glob("[0-9]*.py"):
        values = {
            node.targets[0].id: ast.literal_eval(node.value)
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        }
        refs = [values.get("down_revision"), values.get("depends_on")]
        flat = [r for ref in refs for r in ([ref] if isinstance(ref, str) else ref or ())]
        parents[str(values["revision"])] = [str(r) for r in flat]
    assert "0001_core" in parents
    strays = {rev: [p for p in ps if p not in parents] for rev, ps in parents.items()}
    assert {rev: ps for rev, ps in strays.items() if ps} == {}, (
        "these revisions build on a feature's: move them to that feature's migrations folder"
    )
