"""The layer rule of docs/architecture.md ("Layers"), checked on the source without importing it.

Every module under ``botbox_dagster/`` is parsed with :mod:`ast`; every ``import`` and
``from ... import`` counts wherever it stands (module level, inside a function or a class, under
``if TYPE_CHECKING:``), and relative imports are resolved against the importing module.

- ``domain`` imports nothing from ``adapters``, ``services``, ``defs``, ``dashboard``, ``cli``,
  ``chaos``, ``demo`` nor ``settings`` (the environment is read above it and passed in);
- ``adapters`` imports nothing from ``services``, ``defs``, ``dashboard``, ``cli``, ``chaos``,
  ``demo``;
- ``services`` imports nothing from ``defs``, ``dashboard``, ``cli``, ``chaos``, ``demo``;
- the modules of ``domain`` import each other without a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = "botbox_dagster"
PACKAGE_ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# What sits above the services: the Dagster wiring and the entry points.
_FRONT_ENDS = ("defs", "dashboard", "cli", "chaos", "demo")

# Layer (a package prefix) -> the prefixes its modules must never import. ``services`` sits
# between ``defs`` and ``adapters`` (defs -> services -> adapters -> domain), so neither lower
# layer may import it either.
FORBIDDEN: Mapping[str, tuple[str, ...]] = {
    f"{PACKAGE}.domain": tuple(
        f"{PACKAGE}.{name}" for name in ("adapters", "services", *_FRONT_ENDS, "settings")
    ),
    f"{PACKAGE}.adapters": tuple(f"{PACKAGE}.{name}" for name in ("services", *_FRONT_ENDS)),
    f"{PACKAGE}.services": tuple(f"{PACKAGE}.{name}" for name in _FRONT_ENDS),
}

# Violations that exist today and are tolerated until they are removed: (importing module,
# imported module) pairs. A new violation fails the test; an entry that no longer occurs fails
# it too, so this set only shrinks. Empty: no module breaks the layer rule as of this writing.
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()

# Import cycles among the domain modules tolerated today, each as the sorted tuple of the
# modules of one strongly connected component. Empty: the presets <-> strategy_config circle
# was broken (strategy_config holds the raw presets, presets imports it, never the reverse).
KNOWN_DOMAIN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


def module_name(path: Path, root: Path) -> str:
    """``botbox_dagster/domain/fills.py`` -> ``botbox_dagster.domain.fills`` (packages drop
    ``__init__``)."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def discover(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imported_modules(
    source: str, module: str, *, is_package: bool, known: Iterable[str] = ()
) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement anywhere in ``source``.

    ``from a.b import c`` yields ``a.b.c`` when that is a module of ``known`` (a submodule
    import), and ``a.b`` otherwise (a name from ``a.b``). Relative imports are resolved from
    ``module``.
    """
    known = set(known)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in known else target), node.lineno


def _inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _imports_of(modules: Mapping[str, Path]) -> dict[str, list[tuple[str, int]]]:
    return {
        name: list(
            imported_modules(
                path.read_text(encoding="utf-8"),
                name,
                is_package=path.name == "__init__.py",
                known=modules,
            )
        )
        for name, path in modules.items()
    }


def layer_violations(modules: Mapping[str, Path]) -> dict[tuple[str, str], list[int]]:
    """(importer, imported) -> lines, for every import the layer rule forbids."""
    found: dict[tuple[str, str], list[int]] = {}
    for importer, imports in _imports_of(modules).items():
        for layer, banned in FORBIDDEN.items():
            if not _inside(importer, layer):
                continue
            for imported, line in imports:
                if any(_inside(imported, prefix) for prefix in banned):
                    found.setdefault((importer, imported), []).append(line)
    return found


def import_cycles(graph: Mapping[str, set[str]]) -> set[tuple[str, ...]]:
    """The strongly connected components with a cycle (Tarjan), each as a sorted tuple."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: set[tuple[str, ...]] = set()
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.add(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def domain_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Domain module -> the domain modules it imports (at any level). The package itself
    (``botbox_dagster.domain``, its ``__init__``) is a node like any other."""
    domain = f"{PACKAGE}.domain"
    graph: dict[str, set[str]] = {}
    for importer, imports in _imports_of(modules).items():
        if not _inside(importer, domain):
            continue
        graph[importer] = {
            imported
            for imported, _ in imports
            if _inside(imported, domain) and imported in modules and imported != importer
        }
    return graph


def _describe(found: Mapping[tuple[str, str], list[int]], modules: Mapping[str, Path]) -> str:
    return "\n".join(
        f"  {modules[importer].relative_to(PACKAGE_ROOT.parent)}:{','.join(map(str, lines))}: "
        f"{importer} imports {imported}"
        for (importer, imported), lines in sorted(found.items())
    )


# --- the rule, on the real package -------------------------------------------------------------


def test_the_package_is_found() -> None:
    modules = discover()
    assert f"{PACKAGE}.domain.order_states" in modules
    assert f"{PACKAGE}.services.executor" in modules
    assert sum(_inside(m, f"{PACKAGE}.domain") for m in modules) > 10


def test_layers_import_one_way() -> None:
    modules = discover()
    found = layer_violations(modules)
    new = {k: v for k, v in found.items() if k not in KNOWN_EXCEPTIONS}
    assert not new, "imports that break the layer rule (docs/architecture.md, Layers):\n" + (
        _describe(new, modules)
    )
    stale = KNOWN_EXCEPTIONS - set(found)
    assert not stale, f"KNOWN_EXCEPTIONS lists imports that are gone, remove them: {stale}"


def test_domain_modules_import_each_other_without_a_cycle() -> None:
    cycles = import_cycles(domain_graph(discover()))
    new = cycles - KNOWN_DOMAIN_CYCLES
    assert not new, "import cycles among domain modules:\n" + "\n".join(
        "  " + " <-> ".join(c) for c in sorted(new)
    )
    stale = KNOWN_DOMAIN_CYCLES - cycles
    assert not stale, f"KNOWN_DOMAIN_CYCLES lists cycles that are gone, remove them: {stale}"


# --- the checker itself ------------------------------------------------------------------------


def _package(tmp_path: Path, files: Mapping[str, str]) -> dict[str, Path]:
    root = tmp_path / PACKAGE
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            (root / parent / "__init__.py").touch()
        path.write_text(text, encoding="utf-8")
    return discover(root)


@pytest.mark.parametrize(
    "source",
    [
        "import botbox_dagster.adapters.executor\n",
        "from botbox_dagster import settings\n",
        "from botbox_dagster.defs.runs import SINGLETON_TAG\n",
        "def f():\n    from botbox_dagster.cli import main\n    return main\n",
        "class C:\n    def m(self):\n        import botbox_dagster.dashboard.app\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..chaos import world\n",
        "from .. import demo\n",
    ],
)
def test_a_domain_module_importing_outward_is_caught(tmp_path: Path, source: str) -> None:
    modules = _package(
        tmp_path,
        {
            "domain/fills.py": source,
            "adapters/executor.py": "",
            "settings.py": "",
            "defs/runs.py": "",
            "cli.py": "",
            "dashboard/app.py": "",
            "chaos/world.py": "",
            "demo/run.py": "",
        },
    )
    assert [importer for importer, _ in layer_violations(modules)] == [f"{PACKAGE}.domain.fills"]


def test_allowed_imports_pass(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "domain/fills.py": "from botbox_dagster.domain import money\nimport math\n",
            "domain/money.py": "",
            "adapters/executor.py": (
                "from botbox_dagster.domain.fills import x\nfrom botbox_dagster import settings\n"
                "from ..fake_exchange import api\n"
            ),
            "fake_exchange/api.py": "",
            "settings.py": "",
            "defs/jobs.py": "from botbox_dagster.adapters import executor\n",
        },
    )
    assert layer_violations(modules) == {}
    assert import_cycles(domain_graph(modules)) == set()


def test_an_adapter_importing_dagster_wiring_is_caught(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "adapters/ledger/store.py": "def f():\n    from ...defs import resources\n",
            "defs/resources.py": "",
        },
    )
    assert set(layer_violations(modules)) == {
        (f"{PACKAGE}.adapters.ledger.store", f"{PACKAGE}.defs.resources")
    }


@pytest.mark.parametrize(
    ("importer", "source", "imported"),
    [
        ("adapters/executor.py", "from botbox_dagster.services import execution\n", "execution"),
        ("services/execution.py", "def f():\n    from ..defs.execution import jobs\n", "jobs"),
        ("services/execution.py", "import botbox_dagster.dashboard.app\n", "app"),
    ],
)
def test_imports_upward_from_adapters_and_services_are_caught(
    tmp_path: Path, importer: str, source: str, imported: str
) -> None:
    modules = _package(
        tmp_path,
        {
            "adapters/executor.py": "",
            "services/execution.py": "",
            "defs/execution/jobs.py": "",
            "dashboard/app.py": "",
            importer: source,
        },
    )
    [(found_importer, found_imported)] = layer_violations(modules)
    assert found_importer == module_name(tmp_path / PACKAGE / importer, tmp_path / PACKAGE)
    assert found_imported.rpartition(".")[2] == imported


def test_a_function_level_import_cycle_is_caught(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "domain/presets.py": "from botbox_dagster.domain.strategy_config import parse\n",
            "domain/strategy_config.py": (
                "def parse():\n    from botbox_dagster.domain import presets\n"
            ),
            "domain/a.py": "from . import b\n",
            "domain/b.py": "from .c import x\n",
            "domain/c.py": "def g():\n    import botbox_dagster.domain.a\n",
            "domain/d.py": "from botbox_dagster.domain import a\n",
        },
    )
    assert import_cycles(domain_graph(modules)) == {
        (f"{PACKAGE}.domain.presets", f"{PACKAGE}.domain.strategy_config"),
        (f"{PACKAGE}.domain.a", f"{PACKAGE}.domain.b", f"{PACKAGE}.domain.c"),
    }
