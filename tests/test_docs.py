"""Citations of the repository's docs point at sections that exist.

Code comments and docstrings cite ``docs/<name>.md, "<section title>"``; a renamed or removed
section would leave them pointing nowhere, so every cited title must be a heading of its doc.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The title may start on the next line of a wrapped docstring or comment.
CITATION = re.compile(r'docs/(?P<doc>[\w-]+\.md)`{0,2},\s+(?:#\s*)?"(?P<title>[^"\n]+)"')
SCANNED = ("a3m", "benchmarks", "cluster", "dashboards", "docs", "studies", "tests")
SUFFIXES = {".py", ".md", ".csv", ".sh", ".yaml", ".yml"}


def _citations() -> list[tuple[str, str, str]]:
    """(citing file, cited doc, cited title) for every citation in the repository's sources."""
    files = [ROOT / "README.md"]
    for top in SCANNED:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    found = []
    for path in files:
        for m in CITATION.finditer(path.read_text(errors="replace")):
            found.append((str(path.relative_to(ROOT)), m["doc"], m["title"]))
    return found


def _headings(doc: Path) -> set[str]:
    """The titles of a Markdown file's headings."""
    return {
        line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#")
    }


def test_every_cited_section_exists():
    citations = _citations()
    assert citations, "no citation found: has the citation format changed?"
    missing = []
    for source, doc, title in citations:
        path = ROOT / "docs" / doc
        if not path.is_file() or title not in _headings(path):
            missing.append(f"{source}: docs/{doc}, {title!r}")
    assert not missing, "citations of missing doc sections:\n" + "\n".join(missing)


# -- the code the docs cite exists ------------------------------------------------------------
DOCS = ("README.md", "docs", "cluster/README.md", "benchmarks/RESULTS.md")
CODE_SPAN = re.compile(r"^```.*?^```|`+[^`\n]+?`+", re.S | re.M)  # fenced blocks, inline spans
# a dotted name of the packages, not a path (a3m/cli.py) nor part of one
DOTTED = re.compile(r"(?<![\w./-])(?:a3m|dashboards)(?:\.\w+)+")


def _docs() -> list[Path]:
    found = []
    for place in DOCS:
        path = ROOT / place
        found += sorted(path.glob("*.md")) if path.is_dir() else [path]
    return found


def _cited_names() -> list[tuple[str, str]]:
    """(doc, dotted name) for each ``a3m.x.y`` / ``dashboards.x.y`` in the docs' code."""
    cited = []
    for doc in _docs():
        for span in CODE_SPAN.finditer(doc.read_text()):
            for name in DOTTED.findall(span[0]):
                cited.append((str(doc.relative_to(ROOT)), name))
    return cited


def _string_constants() -> set[str]:
    """Every string literal in the packages' sources: the names of MLflow tags (``a3m.code``,
    ``a3m.env.gpu``) and of entry-point groups (``a3m.commands``), which the docs cite too."""
    found = set()
    for top in ("a3m", "dashboards"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


def _resolve(name: str) -> object:
    """The object ``a3m.x.y`` names: the longest importable module, then attributes; raises
    ImportError or AttributeError when there is none."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(name)


def _is_module(name: str) -> bool:
    """Whether ``a3m.x...`` starts with a module of the package (``a3m.data``), so that it
    names code; ``a3m.error`` or ``a3m.env.*`` name tags."""
    root, _, rest = name.partition(".")
    return importlib.util.find_spec(f"{root}.{rest.split('.')[0]}") is not None


def _missing(cited: list[tuple[str, str]], strings: set[str]) -> list[str]:
    """``doc: name`` for each cited name that is neither code that imports nor a tag's or an
    entry-point group's name the code uses."""
    missing = []
    for doc, name in cited:
        if _is_module(name):
            try:
                _resolve(name)
                continue
            except (ImportError, AttributeError) as err:
                missing.append(f"{doc}: `{name}` ({type(err).__name__}: {err})")
        elif not any(s == name or s.startswith(name + ".") for s in strings):
            missing.append(f"{doc}: `{name}` (no module, nor a tag name the code uses)")
    return missing


def test_every_cited_symbol_exists():
    cited = _cited_names()
    assert ("docs/reproduction.md", "a3m.data.registry.DATASETS") in cited, (
        "the scan finds no known citation: has the docs' format changed?"
    )
    missing = _missing(cited, _string_constants())
    assert not missing, "the docs cite code that does not exist:\n" + "\n".join(missing)


def test_the_symbol_check_names_what_is_missing():
    cited = [("docs/x.md", "a3m.data.check.EXPECTED"), ("docs/x.md", "a3m.no_such_tag"),
             ("docs/x.md", "a3m.config.RunConfig"), ("docs/x.md", "a3m.env")]  # fmt: skip
    missing = _missing(cited, {"a3m.env.gpu"})
    assert [line.split(" (")[0] for line in missing] == [
        "docs/x.md: `a3m.data.check.EXPECTED`",
        "docs/x.md: `a3m.no_such_tag`",
    ]


# -- the README's quick start is what CI runs -------------------------------------------------
def _quick_start_commands() -> list[str]:
    """The commands of the README's quick start: its first bash block, comments left out."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    return [line.strip() for line in block.splitlines() if line.strip() and line[0] != "#"]


def test_ci_runs_the_readme_test_command_word_for_word():
    """Two commands: install + the headline study, install + the tests; .ci/run installs torch,
    then runs the second as its own line."""
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    assert commands[0].startswith("pip install -e . && python studies/")
    assert commands[1] == 'pip install -e ".[dev]" && python -m pytest -q'
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands[1] in ci, ".ci/run does not run the README's test command"
