"""The files a report writes beside its page, and whose they are.

Each section's table becomes ``<key>.csv`` (:func:`write_csvs`), its floats rounded
(:func:`a3m.csvfile.write_csv`: no ``4.999999999999999``). ``leaderboard.csv`` is the study's:
the study writes it once with everything, its configurations' verdicts included, and the report
adds files beside it, never rewriting it with less (:func:`leaderboard_kept`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from a3m.csvfile import write_csv
from dashboards.conclusions import Section

LEADERBOARD_NAME = "leaderboard.csv"


def write_csvs(sections: Sequence[Section], out: Path, messages: list[str]) -> list[Path]:
    """Each section's table as ``<key>.csv`` beside the report, floats rounded
    (:func:`a3m.csvfile.write_csv`); the leaderboard's as ``leaderboard.csv`` unless
    :func:`leaderboard_kept` keeps the one there (why, appended to ``messages``). Returns the
    CSVs the report links, written or kept."""
    paths = []
    for s in sections:
        if s.data is None:
            continue
        path = out / (LEADERBOARD_NAME if s.key == "leaderboard" else f"{s.key}.csv")
        kept = leaderboard_kept(path, s.data) if s.key == "leaderboard" else None
        if kept is None:
            write_csv(s.data, path)
        elif kept:
            messages.append(kept)
        paths.append(path)
    return paths


def leaderboard_kept(path: Path, board: pd.DataFrame) -> str | None:
    """Whether the ``leaderboard.csv`` at ``path`` stays as it is: None to write the report's
    ``board`` (there is none, or the one there has no column the board lacks: an earlier
    report's), else why it stays ("" when it holds the same runs and columns: nothing to say).

    The study writes leaderboard.csv with its configurations' verdicts and the report only adds
    files beside it: it never rewrites one with columns the report's board lacks, and says so
    when that one lists other runs than the report."""
    if not path.is_file():
        return None
    try:
        there = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError):  # unreadable (pandas' ParserError is a ValueError): replaced
        return None
    lacking = [c for c in there.columns if c not in board.columns]
    same_runs = _run_ids(there) == _run_ids(board)
    if not lacking:
        return "" if same_runs and set(board.columns) == set(there.columns) else None
    text = f"{path.name} kept as it was written (it has columns this report lacks: "
    text += ", ".join(lacking[:6]) + (", ..." if len(lacking) > 6 else "") + ")"
    if not same_runs:
        text += "; it lists other runs than this report: `a3m leaderboard` writes it anew"
    return text + "."


def _run_ids(board: pd.DataFrame) -> set[str]:
    """The run ids a leaderboard lists (its ``run_ids`` column, ``;``-joined per row)."""
    ids = board["run_ids"].astype(str) if "run_ids" in board else []
    return {run for joined in ids for run in joined.split(";") if run}
