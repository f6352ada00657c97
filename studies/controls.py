"""Controls that prove the statistics: an A/A pair and a positive control, with paired seeds.

- A/A: the paper's A3M under a second label (``label=aa``): the same computation, so its
  verdict against A3M must be "inconclusive", or "equivalent" when the study is run with a
  ``--min-effect`` (never "better", "worse" or "inconclusive (failures)").
- Positive control: A3M trained with its category labels shuffled across images
  (``label_noise=1.0``, the random-labels check): broken on purpose, so it must come out
  "worse" than A3M, whatever the budget.

Both are compared with A3M seed by seed (Holm over the two comparisons; 8 seeds, because a
sign-flip test needs 7 to reach p < 0.05 after Holm's doubling). Exits 4 when a control fails.

    python studies/controls.py --synthetic
"""

from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="controls",
    description=__doc__.splitlines()[0],
    base={"dataset": "cub", "variant": "a3m", "backbone": "resnet50", "pretrained": True},
    points=[{}, {"label": "aa"}, {"label_noise": 1.0}],
    reference={"label": "", "label_noise": 0.0},
    seeds=8,
)
EXPECTED = {"aa": ("inconclusive", "equivalent"), "label_noise": ("worse",)}
"""The verdicts each control may come out with (a3m.stats.VERDICTS)."""


def check(comparisons) -> dict[str, str]:
    """Each control's verdict, by name."""
    found = {}
    for _, row in comparisons.iterrows():
        name = "aa" if str(row.get("label")) == "aa" else "label_noise"
        found[name] = row["verdict"]
    return found


def failures(verdicts: dict[str, str]) -> dict[str, str]:
    """The controls whose verdict is not one :data:`EXPECTED` allows (a missing one too)."""
    return {k: verdicts.get(k, "missing") for k, ok in EXPECTED.items()
            if verdicts.get(k) not in ok}  # fmt: skip


if __name__ == "__main__":
    import pandas as pd

    result = main(SPEC)
    verdicts = check(pd.read_csv(result.leaderboard_csv.with_name("comparisons.csv")))
    for name, want in EXPECTED.items():
        print(f"control {name}: {verdicts.get(name, 'missing')} (expected {' or '.join(want)})")
    if failures(verdicts):
        raise SystemExit(4)
