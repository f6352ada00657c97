"""Citations of the repository's docs point at sections that exist.

Code comments and docstrings cite ``docs/<name>.md, "<section title>"``; a renamed or removed
section would leave them pointing nowhere, so every cited title must be a heading of its doc.
"""

from __future__ import annotations

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
