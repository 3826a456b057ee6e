"""The import rules that keep the house in order: the emulator stands alone, the AWS
rules are neutral ground, and the experiments reach the emulator only over the wire
protocol (and ``gtbench.local``, which drives it from outside)."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
VERSION = "gtbench.__version__"  # the package root holds only its version


def imports_of(source: str, package: str) -> set[str]:
    """The gtbench names ``source`` (a module of ``package``) imports, at any depth:
    ``from a import b`` counts as ``a.b``, relative imports are resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[:len(parts) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("gtbench.")}


@lru_cache(maxsize=1)
def modules() -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for path in sorted((SRC / "gtbench").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        out[name] = frozenset(imports_of(path.read_text(), package))
    return out


def _within(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_emulator_imports_only_itself_and_the_aws_rules() -> None:
    offenders = {name: sorted(m for m in imported if m != VERSION
                              and not _within(m, "gtbench.emulator", "gtbench.awsrules"))
                 for name, imported in modules().items() if _within(name, "gtbench.emulator")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_aws_rules_import_neither_side() -> None:
    assert modules()["gtbench.awsrules"] == frozenset()


@pytest.mark.parametrize("name", sorted(
    n for n in modules() if not _within(n, "gtbench.emulator", "gtbench.cli")))
def test_the_client_reaches_the_emulator_only_over_the_wire(name: str) -> None:
    """Experiments, analysis, reports and ``gtbench.local`` never import the emulator:
    they talk to it as to AWS (only the CLI's ``gtbench local serve`` hosts it)."""
    assert not [m for m in modules()[name] if _within(m, "gtbench.emulator")]


def test_the_testing_package_imports_only_itself() -> None:
    """An application's test suite loads gtbench.testing, not the CLI or the experiments."""
    offenders = {name: sorted(m for m in imported if not _within(m, "gtbench.testing"))
                 for name, imported in modules().items() if _within(name, "gtbench.testing")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_probe_handler_stands_alone() -> None:
    """It is deployed as one file: nothing of gtbench, nothing beyond the runtime's."""
    path = SRC / "gtbench" / "probes" / "handler.py"
    assert imports_of(path.read_text(), "gtbench.probes") == set()
    assert _third_party_imports(path) <= {"__future__", "os", "socket", "struct", "threading",
                                          "time", "collections", "typing", "boto3",
                                          "botocore"}  # botocore comes with the runtime's boto3


def test_the_pytest_plugin_loads_nothing_heavy() -> None:
    """pytest loads the plugin in every run wherever gtbench is installed."""
    import subprocess
    import sys

    heavy = ("boto3", "moto", "click", "rich", "gtbench.emulator")
    done = subprocess.run([sys.executable, "-c", "import sys, gtbench.testing.plugin; print("
                           f"[m for m in {heavy!r} if m in sys.modules])"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_walker_sees_imports_in_functions_and_relative_ones() -> None:
    source = "def f():\n    from gtbench.experiments.race import x\nfrom .. import regions\n"
    assert imports_of(source, "gtbench.emulator") == {"gtbench.experiments.race.x",
                                                      "gtbench.regions"}


def _third_party_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_moto_is_reached_only_through_the_store() -> None:
    """A moto upgrade touches one file: ``emulator/store.py``."""
    users = sorted(str(p.relative_to(SRC)) for p in (SRC / "gtbench").rglob("*.py")
                   if "moto" in _third_party_imports(p))
    assert users == ["gtbench/emulator/store.py"]


def test_every_command_speaks_through_the_invocations_one_terminal() -> None:
    """Terminals are made in one place (``cli/app.py``), so the demo and the commands it
    runs share one: a command that builds its own would print around the demo's."""
    makers = sorted(str(p.relative_to(SRC)) for p in (SRC / "gtbench").rglob("*.py")
                    if any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                           and node.func.id == "Terminal"
                           for node in ast.walk(ast.parse(p.read_text()))))
    assert makers == ["gtbench/cli/app.py"]


# botocore is not among them: gtbench.awsrules, which the checkers share for names such
# as EVENTUAL, reads its region list (lazily) from botocore's endpoint data.
HEAVY = ("boto3", "rich", "click", "moto", "matplotlib")


def _third_party(name: str) -> set[str]:
    """The top-level packages outside gtbench that module ``name`` imports, anywhere."""
    path = SRC / Path(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found - {"gtbench"}


def test_the_checkers_are_pure() -> None:
    """analysis/ (verdicts and summaries) and the pure checkers judge a history alone:
    neither they nor anything they import, at any depth, loads boto3, rich, click or
    moto, so a stored run can be judged anywhere and they are tested on hand-made
    histories."""
    roots = [n for n in modules() if _within(n, "gtbench.analysis") or n == "gtbench.history"]
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in modules():
            continue
        seen.add(name)
        todo += [m if m in modules() else m.rsplit(".", 1)[0] for m in modules()[name]]
    loaded = {name: sorted(_third_party(name) & set(HEAVY)) for name in seen}
    assert {k: v for k, v in loaded.items() if v} == {}


def _module_of(name: str) -> str | None:
    """The module an imported name lives in (``gtbench.emulator.app.EmulatorApp`` is
    ``gtbench.emulator.app``)."""
    while name not in modules():
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph``: its strongly connected parts of two or more
    modules (Tarjan's algorithm, iterative: the graph has a hundred nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    part.append(member)
                    if member == node:
                        break
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def test_the_circle_finder_finds_a_circle_and_only_one() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]


def test_no_modules_import_each_other_in_a_circle() -> None:
    """Imports under TYPE_CHECKING count too: a handler that names the app as a type
    still depends on it. The emulator's handlers receive its backend, which calls none
    of them back (was: app, control, strong, partiql and agreement in one circle)."""
    graph = {name: {m for i in imported if (m := _module_of(i)) and m != name}
             for name, imported in modules().items()}
    assert circles(graph) == []


def test_the_top_level_holds_only_the_shared_ground() -> None:
    """A module at the top of the package is one every layer may need; the rest live in
    their layer's package (experiments/, tables/, analysis/, report/, cli/, ...), so a
    newcomer finds an experiment's parts where docs/ARCHITECTURE.md says they are."""
    top = {p.stem for p in (SRC / "gtbench").glob("*.py")}
    assert top == {"__init__", "__main__", "awserrors", "awsrules", "document", "errors",
                   "history", "outcomes", "regions", "registry", "signals", "terminal"}
