"""What the report's runs trained on (:mod:`a3m.data.kind`), and what follows from it.

Each run's kind is its tag ``a3m.data.kind``, or for a run logged before the tag what its other
records say (:func:`a3m.data.kind.kind_of_run`). A dataset whose runs are of several kinds is
reported as the least comparable of them (:data:`a3m.data.kind.PRECEDENCE`), and says so.

The report names each dataset and its kind in its first lines (:meth:`DataSummary.lines`); the
paper's numbers, the differences from them and the paper's claims appear only where every
dataset's kind is comparable with the paper (:attr:`DataSummary.paper`), and otherwise one
sentence says why not (:meth:`DataSummary.why_no_paper`). A dry run says so in the page's title
and header, and before every section's caption and figure's title (:func:`mark_dry_run`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from a3m.data.kind import (
    KIND_TAG,
    PRECEDENCE,
    DataKind,
    dataset_title,
    describe_data,
    kind_of_run,
)

KIND_COLUMN = f"tags.{KIND_TAG}"
FINGERPRINT_COLUMN = "tags.a3m.dataset_fingerprint"
DRY_RUN_MARK = "DRY RUN (made-up numbers)"


def run_kinds(runs: pd.DataFrame) -> pd.Series:
    """Each run's :class:`~a3m.data.kind.DataKind`, by row."""

    def column(name: str) -> pd.Series:
        return runs[name] if name in runs else pd.Series(None, index=runs.index, dtype=object)

    records = zip(column(KIND_COLUMN), column(FINGERPRINT_COLUMN), column("params.synthetic"),
                  strict=True)  # fmt: skip
    return pd.Series([kind_of_run(*r) for r in records], index=runs.index, dtype=object)


@dataclass(frozen=True)
class DataSummary:
    """What the runs trained on.

    Attributes:
        kinds: dataset -> its kind (the least comparable of its runs').
        mixed: dataset -> runs per kind, for a dataset whose runs are of several kinds.
    """

    kinds: dict[str, DataKind] = field(default_factory=dict)
    mixed: dict[str, dict[DataKind, int]] = field(default_factory=dict)

    @property
    def dry_run(self) -> bool:
        """Whether any run is a dry run's (made-up numbers)."""
        return DataKind.DRY_RUN in self.kinds.values()

    @property
    def paper(self) -> bool:
        """Whether the paper's numbers and claims are about this data: every dataset's kind is
        the paper's release (or real data of unrecorded kind, as reports took it before)."""
        return bool(self.kinds) and all(k.compares_with_paper for k in self.kinds.values())

    def lines(self) -> list[str]:
        """``"Data: CUB-200-2011 (cub): your own data."``, one per dataset, with the runs per
        kind where they are mixed."""
        out = []
        for name, kind in self.kinds.items():
            line = f"Data: {describe_data(name, kind)}"
            if name in self.mixed:
                counts = ", ".join(f"{n} {k.label}" for k, n in self.mixed[name].items())
                line += f" (runs of several kinds: {counts}; reported as the least comparable)"
            out.append(line + ".")
        return out or ["Data: none recorded (no run names its dataset)."]

    def _first(self, kinds: Iterable[DataKind]) -> tuple[str, DataKind] | None:
        wanted = set(kinds)
        for kind in PRECEDENCE:
            for name, k in self.kinds.items():
                if k is kind and k in wanted:
                    return name, k
        return None

    def why_no_paper(self) -> str:
        """One sentence: why the paper's numbers, differences and claims are not shown ("" when
        they are)."""
        found = self._first(k for k in DataKind if not k.compares_with_paper)
        if found is None:
            return ""
        name, kind = found
        what = dataset_title(name)
        why = {
            DataKind.DRY_RUN: "these runs are a dry run whose metrics are made up",
            DataKind.SYNTHETIC: f"these runs trained on a synthetic copy of {what}",
            DataKind.OWN: f"these runs trained on your own data, not the public release of "
            f"{what} (its counts of images, classes or identities differ, or it is a dataset "
            "of your own)",
        }[kind]
        return (
            f"The paper's numbers, the differences from them and the paper's claims are not "
            f"shown: they are about its public release, and {why}."
        )

    def banner(self) -> str:
        """The message under the report's title: a dry run, a synthetic copy, your own data,
        or runs that do not record their data's kind ("" for the paper's release)."""
        if self.dry_run:
            return (
                f"{DRY_RUN_MARK}: every metric in this report is made up (a3m.study.dry_run); "
                "no model was trained. It checks the plumbing; nothing here is a result."
            )
        if DataKind.SYNTHETIC in self.kinds.values():
            return (
                "These runs trained on a synthetic dataset with a small budget: they check the "
                "pipeline, not the paper's numbers. " + self.why_no_paper()
            )
        if not self.paper:
            return self.why_no_paper()
        if DataKind.UNRECORDED in self.kinds.values():
            return (
                "These runs do not record what their data is (they were logged before the tag "
                f"{KIND_TAG}): they are compared with the paper as if their data were its "
                "public release. Check the copy with `a3m data check`."
            )
        return ""


def data_summary(runs: pd.DataFrame) -> DataSummary:
    """The kind of each dataset of ``runs`` (:class:`DataSummary`)."""
    if runs.empty or "params.dataset" not in runs:
        return DataSummary()
    frame = pd.DataFrame({"dataset": runs["params.dataset"].to_numpy(),
                          "kind": run_kinds(runs).to_numpy()})  # fmt: skip
    out, mixed = {}, {}
    for name, part in frame.groupby("dataset", sort=False):
        present = {DataKind(k): int(n) for k, n in part["kind"].value_counts().items()}
        out[str(name)] = next(k for k in PRECEDENCE if k in present)
        if len(present) > 1:
            mixed[str(name)] = present
    return DataSummary(out, mixed)


def compares_with_paper(runs: pd.DataFrame) -> bool:
    """Whether the paper's numbers and claims apply to these runs (:attr:`DataSummary.paper`)."""
    return data_summary(runs).paper


def dry_run_title(title: str) -> str:
    """``"DRY RUN (made-up numbers): <title>"`` (once)."""
    return title if title.startswith(DRY_RUN_MARK) else f"{DRY_RUN_MARK}: {title}"


def mark_dry_run(sections: Iterable) -> None:
    """Put :data:`DRY_RUN_MARK` before every section's caption and figure's title (in place)."""
    for section in sections:
        section.caption = dry_run_title(section.caption or "every number below is made up")
        if section.figure is not None:
            title = section.figure.layout.title.text or ""
            section.figure.update_layout(title_text=dry_run_title(title))
