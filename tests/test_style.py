"""The code base stays ruff clean (lint and format), its packages point one way, and the length
limits hold where they hold today; checked with the rest of the suite."""

from __future__ import annotations

import ast
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff_clean(args):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    proc = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _sources(*places: str) -> list[Path]:
    """The Python files of ``places`` (folders or files, from the repository root)."""
    found = []
    for place in places:
        path = ROOT / place
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) of every import, at any depth (inside functions and ``TYPE_CHECKING``
    too), and of every ``importlib.import_module("...")`` / ``__import__("...")``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = getattr(node.func, "attr", getattr(node.func, "id", None))
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


# -- one direction between the packages -------------------------------------------------------
def test_a3m_never_imports_dashboards():
    """``dashboards`` depends on ``a3m``, never the reverse: a3m reaches the dashboards only
    through the entry points pyproject.toml declares (``a3m.after_study``, ``a3m.commands``)."""
    wrong = [
        f"{_name(path)}:{line} imports {module}"
        for path in _sources("a3m")
        for line, module in _imported(ast.parse(path.read_text(), str(path)))
        if module.split(".")[0] == "dashboards"
    ]
    assert not wrong, "a3m -> dashboards makes a loop between the packages:\n" + "\n".join(wrong)


def _module_of(path: Path) -> str:
    return _name(path).removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _import_graph(*places: str) -> dict[str, set[str]]:
    """module -> the modules of ``places`` it imports (any depth, ``TYPE_CHECKING`` too; a
    ``from pkg import name`` that names a submodule imports that submodule, not ``pkg``)."""
    paths = {_module_of(p): p for p in _sources(*places)}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        submodules = {  # ImportFrom line -> the submodules it names, when it names only those
            node.lineno: {f"{node.module}.{a.name}" for a in node.names}
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
        }
        found: set[str] = set()
        for line, imported in _imported(tree):
            named = submodules.get(line, set())
            found |= named if named and named <= paths.keys() else {imported}
        graph[module] = (found & paths.keys()) - {module}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle():
    """Imports point one way, between the packages and inside each: no module imports, at any
    depth, one that imports it back."""
    circles = _circles(_import_graph("a3m", "dashboards"))
    assert not circles, "import circles (break each: imports point down the layers):\n" + "\n".join(
        " <-> ".join(circle) for circle in circles
    )


def test_the_circle_finder_finds_one():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_an_import_failure_fails_the_run():
    """No test file skips itself when the project's own code does not import: a broken import
    must fail the run, not pass it as skipped."""
    wrong = []
    for path in _sources("tests"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None)):
                continue
            first = node.args[0] if node.args else None
            named = first.value if isinstance(first, ast.Constant) else None
            own = isinstance(named, str) and named.split(".")[0] in ("a3m", "dashboards")
            module_level = any(k.arg == "allow_module_level" for k in node.keywords)
            if (node.func.attr == "importorskip" and own) or module_level:
                wrong.append(f"{_name(path)}:{node.lineno}")
    assert not wrong, "skips a whole file:\n" + "\n".join(wrong)


# -- length limits: no file over 600 lines, no function of the listed places over 60 ---------------
MAX_FILE_LINES = 600

MAX_FUNCTION_LINES = 60
FUNCTION_LIMIT_HOLDS_IN = (
    "a3m/metrics", "a3m/study", "a3m/train.py", "a3m/loaders.py", "a3m/evaluation.py",
    "a3m/checkpoint.py", "dashboards",
)  # fmt: skip


def _file_lengths() -> dict[str, int]:
    places = ("a3m", "dashboards", "studies", "benchmarks")
    return {_name(p): len(p.read_text().splitlines()) for p in _sources(*places)}


def _function_lengths() -> dict[str, int]:
    """``path:Class.function`` -> lines, from the ``def`` to its last line."""
    lengths = {}

    def visit(node: ast.AST, path: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    lengths[f"{path}:{name}"] = child.end_lineno - child.lineno + 1
                visit(child, path, name + ".")
            else:
                visit(child, path, prefix)

    for path in _sources(*FUNCTION_LIMIT_HOLDS_IN):
        visit(ast.parse(path.read_text(), str(path)), _name(path), "")
    return lengths


@pytest.mark.parametrize(
    ("measure", "limit"),
    [(_file_lengths, MAX_FILE_LINES), (_function_lengths, MAX_FUNCTION_LINES)],
    ids=["files", "functions"],
)
def test_length_limits_hold(measure, limit):
    lengths = measure()
    over = sorted(f"{name}: {n} lines" for name, n in lengths.items() if n > limit)
    assert not over, f"over {limit} lines (split it into named steps):\n" + "\n".join(over)
