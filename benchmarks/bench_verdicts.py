"""The verdicts' error rates, by simulation: what a user can trust a printed verdict for.

Prints, in one run (figures in docs/statistics.md):

1. **Coverage** of the sign-flip interval (:func:`a3m.stats.sign_flip_interval`) at nominal
   95%, by pair count and distribution of the differences (normal, heavy-tailed t with 3 df,
   skewed gamma and exponential). Every interval the platform prints is this one at a level of
   at most 0.05 (Holm and the sequential design only lower the level, widening it), so this is
   the floor of their coverage. An interval covers the true mean exactly when the test of
   ``d - mean`` keeps it, which is how it is counted here.
2. **Family-wise false positives of ``--seeds auto``** with 1, 5 and 9 comparisons against one
   shared reference (so the comparisons are correlated, as in a study), no true difference:
   the share of studies that end with any "better" or "worse", for the group-sequential design
   (:mod:`a3m.sequential`), for the Bonferroni split it replaced, and for naive looks at 0.05.
3. **Power and mean seeds used** at true effects of 0.5, 1 and 1.5 SD of the differences, for
   the design against a fixed design with the same maximum seeds (12).
4. **The failure case** of issue 22: a candidate no better than the reference that fails on the
   seeds where it would have lost: how often it is called "better" on its finished pairs (the
   rule before) and with failures counted (:func:`a3m.study.compare.compare`).

Run: ``python benchmarks/bench_verdicts.py`` (about 10 minutes on 2 cores);
``--smoke-test`` runs each part at a tiny size. Nothing here asserts: it prints.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
from benchlib import machine_line

from a3m import sequential, stats
from a3m.study.compare import compare

ALPHA = 0.05
MAX_SEEDS = 12


def draw(kind: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Differences with mean 0 and SD 1 of a given shape of distribution."""
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "t3":
        return rng.standard_t(3, shape) / math.sqrt(3.0)
    if kind == "gamma4":  # skewness 1
        return (rng.gamma(4.0, 1.0, shape) - 4.0) / 2.0
    if kind == "exponential":  # skewness 2
        return rng.exponential(1.0, shape) - 1.0
    raise ValueError(kind)


def coverage(reps: int, pairs: list[int], kinds: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for kind in kinds:
        for n in pairs:
            d = draw(kind, rng, (reps, n))  # true mean 0: covered when the test keeps 0
            p = stats.sign_flip_p_many(d, rng, max(pairs), sequential.SAMPLED_FLIPS)  # as printed
            rows.append({"differences": kind, "pairs": n, "coverage": float(np.mean(p >= ALPHA))})
    table = pd.DataFrame(rows).pivot(index="differences", columns="pairs", values="coverage")
    return table.loc[kinds]


def _holm_decisions(p: np.ndarray, level_of, alpha: float) -> np.ndarray:
    """Rejections of a family (Holm at each comparison's own look level), as in compare()."""
    levels = stats.holm_levels(p, alpha, level_of)
    return p < levels.level


def run_study(d: np.ndarray, rule: str, schedule: list[int]) -> tuple[np.ndarray, int]:
    """One auto study of m comparisons (rows of ``d``: candidate - shared reference, one column
    per seed): the final rejections and the seeds used, under a stopping ``rule``."""
    m = len(d)
    design = sequential.SequentialDesign(tuple(schedule), ALPHA)
    seeds = np.full(m, schedule[0])
    open_ = np.ones(m, dtype=bool)
    p_cache: dict[tuple[int, int], float] = {}

    def p_of(i: int) -> float:
        key = (i, int(seeds[i]))
        if key not in p_cache:
            p_cache[key] = stats.sign_flip_p(d[i, : seeds[i]])
        return p_cache[key]

    def level_of(i: int, family_alpha: float) -> float:
        if rule == "design":
            return design.level(int(seeds[i]), family_alpha)
        if rule == "bonferroni":  # alpha over the looks that can decide, as before
            return family_alpha / looks
        return family_alpha

    looks = _bonferroni_looks(schedule, m) if rule == "bonferroni" else 1
    for nxt in [*schedule[1:], None]:
        p = np.array([p_of(i) for i in range(m)])
        rejected = _holm_decisions(p, level_of, ALPHA)
        open_ &= ~rejected
        if nxt is None or not open_.any():
            break
        seeds[open_] = nxt
    p = np.array([p_of(i) for i in range(m)])
    return _holm_decisions(p, level_of, ALPHA), int(seeds.sum())


def _bonferroni_looks(schedule: list[int], m: int) -> int:
    for looks in range(1, len(schedule) + 1):
        floor = stats.min_pairs_to_decide(m, ALPHA / looks)
        if sum(n >= floor for n in schedule) <= looks:
            return looks
    return len(schedule)


def shared_reference(rng: np.random.Generator, m: int, effect: float) -> np.ndarray:
    """m candidates against one reference, seed by seed: differences with SD 1 that share the
    reference's seed luck (correlation 0.5 between comparisons)."""
    reference = rng.standard_normal(MAX_SEEDS) / math.sqrt(2)
    candidates = rng.standard_normal((m, MAX_SEEDS)) / math.sqrt(2)
    return candidates - reference + effect


def family_wise(reps: int, ms: list[int]) -> pd.DataFrame:
    schedule = [3, 5, 8, MAX_SEEDS]
    rows = []
    for m in ms:
        rng = np.random.default_rng(m)
        studies = [shared_reference(rng, m, 0.0) for _ in range(reps)]
        row = {"comparisons": m}
        for rule in ("design", "bonferroni", "naive"):
            any_false = [run_study(d, rule, schedule)[0].any() for d in studies]
            row[rule] = float(np.mean(any_false))
        fixed = [_holm_decisions(np.array([stats.sign_flip_p(r) for r in d]),
                                 lambda i, a: a, ALPHA).any() for d in studies]  # fmt: skip
        row["fixed 12"] = float(np.mean(fixed))
        rows.append(row)
    return pd.DataFrame(rows).set_index("comparisons")


def power(reps: int, effects: list[float], m: int) -> pd.DataFrame:
    schedule = [3, 5, 8, MAX_SEEDS]
    rows = []
    for effect in effects:
        rng = np.random.default_rng(int(effect * 100) + m)
        studies = [shared_reference(rng, m, effect) for _ in range(reps)]
        design = [run_study(d, "design", schedule) for d in studies]
        bonferroni = [run_study(d, "bonferroni", schedule) for d in studies]
        fixed = [_holm_decisions(np.array([stats.sign_flip_p(r) for r in d]),
                                 lambda i, a: a, ALPHA) for d in studies]  # fmt: skip
        rows.append({
            "effect (SD)": effect,
            "power design": np.mean([r[0].mean() for r in design]),
            "mean seeds design": np.mean([s / m for _, s in design]),
            "power bonferroni": np.mean([r[0].mean() for r in bonferroni]),
            "mean seeds bonferroni": np.mean([s / m for _, s in bonferroni]),
            "power fixed 12": np.mean([r.mean() for r in fixed]),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("effect (SD)")


def failure_case(reps: int, n: int = MAX_SEEDS, fail_below: float = -0.3) -> pd.DataFrame:
    """No true difference; the candidate fails on every seed where its difference would have
    been below ``fail_below`` SD (the seeds it would have lost clearly)."""
    rng = np.random.default_rng(4)
    before = after = 0
    for rep in range(reps):
        ref = 0.60 + 0.02 * rng.standard_normal(n)
        diff = 0.01 * rng.standard_normal(n)
        rows = []
        for s in range(n):
            rows.append({"params.variant": "baseline1", "params.seed": str(s),
                         "metrics.score": ref[s], "status": "FINISHED", "run_id": f"r{rep}-{s}",
                         "start_time": 0})  # fmt: skip
            failed = diff[s] < 0.01 * fail_below
            rows.append({"params.variant": "a3m", "params.seed": str(s),
                         "metrics.score": math.nan if failed else ref[s] + diff[s],
                         "status": "FAILED" if failed else "FINISHED",
                         "run_id": f"c{rep}-{s}", "start_time": 0})  # fmt: skip
        row = compare(pd.DataFrame(rows), {"variant": "baseline1"}).iloc[0]
        after += row["verdict"] == "better"
        before += row["ci_low"] > 0  # the finished pairs alone: the rule before
    return pd.DataFrame(
        {
            "rule": ["finished pairs only (before)", "failures counted (now)"],
            "false 'better'": [before / reps, after / reps],
        }
    ).set_index("rule")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke-test", action="store_true", help="tiny sizes, seconds")
    parser.add_argument("--parts", default="1234", help="which parts to run, e.g. 24")
    args = parser.parse_args()
    small = args.smoke_test
    print(machine_line())
    pd.set_option("display.width", 120, "display.precision", 3)
    start = time.perf_counter()
    if "1" in args.parts:
        print("\n1. coverage of the 95% sign-flip interval (nominal 0.95; target >= 0.94)")
        print(coverage(200 if small else 20_000, [3, 6, 16] if small else
                       [3, 4, 5, 6, 7, 8, 10, 12, 14, 16],
                       ["normal", "t3", "gamma4", "exponential"]).to_string())  # fmt: skip
    if "2" in args.parts:
        print("\n2. family-wise false positives of --seeds auto, no true difference "
              "(looks 3, 5, 8, 12; target <= 0.05)")  # fmt: skip
        print(family_wise(20 if small else 1000, [1, 5, 9]).to_string())
    for m in () if "3" not in args.parts else (1,) if small else (1, 5):
        print(f"\n3. power and mean seeds per configuration, {m} comparison(s), "
              "looks 3, 5, 8, 12 against a fixed 12 seeds")  # fmt: skip
        print(power(20 if small else 1000, [0.5, 1.0, 1.5], m).to_string())
    if "4" in args.parts:
        print("\n4. a candidate no better that fails on the seeds it would have lost "
              f"({MAX_SEEDS} seeds): share of studies calling it better")  # fmt: skip
        print(failure_case(10 if small else 1000).to_string())
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
