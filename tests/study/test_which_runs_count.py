"""Which runs count (issues 24 and 25): one run per trial identity in the leaderboard, `a3m
compare` and the report, whatever the store holds (two drivers of one study, a failed attempt
run again); old failures set aside only when asked (--exclude-failed-before), and every
set-aside said; no NaN printed where a statistic cannot be computed, words instead. Stores are
built with MlflowClient (no training): times in ms, as MLflow keeps them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from a3m.cli import main
from a3m.study.runs import FailedBefore, one_run_per_trial, runs_frame, set_aside_failed_before
from a3m.study.tracking import trial_identity

REFERENCE = {"variant": "baseline1"}
SCORES = {"baseline1": [0.50, 0.52, 0.54], "a3m": [0.60, 0.63, 0.66]}


class Study:
    """An experiment with a parent run that declares the reference, and its trials."""

    def __init__(self, uri: str, name: str, start: int = 1_000_000) -> None:
        self.client = MlflowClient(uri)
        self.exp = self.client.create_experiment(name)
        self.parent = self.parent_run(start)

    def parent_run(self, start: int) -> str:
        tags = {"a3m.reference": json.dumps(REFERENCE)}
        return self.client.create_run(self.exp, start_time=start, tags=tags).info.run_id

    def trial(self, variant, seed, score=None, status="FINISHED", *, start, end=None,
              error=None, code="c0de", identity=True) -> str:  # fmt: skip
        tags = {"mlflow.parentRunId": self.parent, "a3m.run_kind": "trial",
                "a3m.trial_id": f"{variant}_{seed}", "a3m.code": code}  # fmt: skip
        if identity:
            tags["a3m.identity"] = trial_identity({"variant": variant, "seed": seed}, "data")
        if error:
            tags["a3m.error"] = error
        run = self.client.create_run(self.exp, start_time=start, tags=tags).info.run_id
        self.client.log_param(run, "variant", variant)
        self.client.log_param(run, "seed", seed)
        if score is not None:
            self.client.log_metric(run, "score", score, step=1)
        self.client.set_terminated(run, status, end_time=end or start + 100)
        return run

    def grid(self, start: int, variants=("baseline1", "a3m"), seeds=(0, 1, 2), shift=0.0):
        """Every variant on every seed, FINISHED; run ids by (variant, seed)."""
        return {(v, s): self.trial(v, s, SCORES[v][s] + shift, start=start + 10 * s)
                for v in variants for s in seeds}  # fmt: skip


def fresh(mlflow_template, folder: Path) -> str:
    """A store of its own (a copy of the migrated template)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mlflow_template, folder / "mlflow.db")
    return f"sqlite:///{folder}/mlflow.db"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    said = capsys.readouterr()
    return code, said.out, said.err


def read(uri, experiment, tmp_path, capsys, *flags):
    """`a3m leaderboard` (its table by variant) and `a3m compare` (its table by variant)."""
    lb = tmp_path / experiment / "lb.csv"
    code, out, err = run_cli(capsys, "leaderboard", "--experiment", experiment,
                             "--tracking-uri", uri, "-o", str(lb), *flags)  # fmt: skip
    assert code == 0, err
    board = pd.read_csv(lb, dtype={"seeds": str}).set_index("variant")
    cmp_csv = tmp_path / experiment / "cmp.csv"
    code, c_out, c_err = run_cli(capsys, "compare", "--experiment", experiment,
                                 "--tracking-uri", uri, "-o", str(cmp_csv), *flags)  # fmt: skip
    assert code == 0, c_err
    comparisons = pd.read_csv(cmp_csv).set_index("variant")
    return board, comparisons, out + c_out, err + c_err


# -- one run per trial ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_drivers(mlflow_template, tmp_path_factory):
    """The same 3-seed study run by two drivers at once: every trial twice, FINISHED, the
    second driver's runs finishing first on seed 1 only, with other (made-up) scores, so which
    run counts shows in the means."""
    uri = fresh(mlflow_template, tmp_path_factory.mktemp("two_drivers"))
    study = Study(uri, "study")
    first = study.grid(start=2_000_000)
    second = {}
    for variant, seed in first:
        start = 2_000_000 + 10 * seed + (-50 if seed == 1 else 5)
        second[variant, seed] = study.trial(variant, seed, SCORES[variant][seed] + 0.1,
                                            start=start)  # fmt: skip
    return uri, first, second


def test_two_drivers_of_one_study_give_one_run_per_seed_and_say_so(two_drivers, tmp_path, capsys):
    uri, first, second = two_drivers
    board, comparisons, out, err = read(uri, "study", tmp_path, capsys)

    for variant in SCORES:
        row = board.loc[variant]
        assert (row["n_runs"], row["seeds"], row["status"]) == (3, "0,1,2", "FINISHED:3")
        # the earliest to finish of each trial: the first driver's but on seed 1
        counted = [SCORES[variant][s] + (0.1 if s == 1 else 0.0) for s in range(3)]
        assert row["score_mean"] == pytest.approx(np.mean(counted))
        assert row["score_ci95"] > 0  # three seeds that differ, not one seed counted twice
        kept = {first[variant, 0], second[variant, 1], first[variant, 2]}
        assert set(row["run_ids"].split(";")) == kept
    assert comparisons.loc["a3m", "n_pairs"] == 3
    line = "6 duplicate runs of the same trial set aside"
    assert err.count(line) == 2  # said once by each command, on one line
    # each named run is the other driver's run of the trial whose counted run it names
    named = re.findall(r"(\w{8}) FINISHED \(counts: (\w{8}) FINISHED\)", err)
    assert len(named) == 2 * 5 and err.count("and 1 more") == 2
    counts = {first[t][:8] if t[1] != 1 else second[t][:8]: t for t in first}
    aside = {second[t][:8] if t[1] != 1 else first[t][:8]: t for t in first}
    assert all(aside[a] == counts[c] for a, c in named)


def test_the_run_that_counts_does_not_change_when_another_duplicate_arrives(two_drivers):
    uri, first, second = two_drivers
    runs = runs_frame("study", uri)
    late = pd.DataFrame([runs.iloc[0]]).assign(
        run_id="late0000", end_time=runs["end_time"].max() + pd.Timedelta(hours=1)
    )
    again, note = one_run_per_trial(pd.concat([runs, late], ignore_index=True))
    assert sorted(again["run_id"]) == sorted(runs["run_id"])
    assert note.startswith("1 duplicate run of the same trial set aside") and "late0000" in note


def _frame(rows) -> pd.DataFrame:
    at = lambda ms: pd.Timestamp(ms, unit="ms", tz="UTC")  # noqa: E731
    return pd.DataFrame([{**r, "start_time": at(r["start_time"]), "end_time": at(r["end_time"])}
                         for r in rows])  # fmt: skip


def test_a_trial_retrained_by_new_code_counts_the_new_codes_run():
    base = {"params.variant": "a3m", "params.seed": "0", "tags.a3m.identity": "id0",
            "status": "FINISHED"}  # fmt: skip
    runs = _frame([
        {**base, "run_id": "old", "tags.a3m.code": "0ld", "start_time": 0, "end_time": 10},
        {**base, "run_id": "new", "tags.a3m.code": "n3w", "start_time": 50, "end_time": 60},
    ])  # fmt: skip
    kept, note = one_run_per_trial(runs)
    assert list(kept["run_id"]) == ["new"] and "old FINISHED (counts: new FINISHED)" in note


def test_runs_without_an_identity_group_by_configuration_and_seed():
    rows = [
        {"run_id": "a", "params.alpha": "0.1", "params.seed": "0", "start_time": 0},
        {"run_id": "b", "params.alpha": "0.10", "params.seed": "0", "start_time": 5},
        {"run_id": "c", "params.alpha": "0.1", "params.seed": "1", "start_time": 5},
        {"run_id": "d", "params.alpha": "0.5", "params.seed": "0", "start_time": 5},
        {"run_id": "e", "params.alpha": "0.5", "params.seed": None, "start_time": 5},
        {"run_id": "f", "params.alpha": "0.5", "params.seed": None, "start_time": 6},
    ]
    runs = _frame([{**r, "status": "FINISHED", "end_time": r["start_time"] + 1} for r in rows])
    kept, note = one_run_per_trial(runs)
    # 0.1 and 0.10 on seed 0 are one trial; runs without a seed are no other run's trial
    assert list(kept["run_id"]) == ["a", "c", "d", "e", "f"]
    assert note == (
        "1 duplicate run of the same trial set aside (one run per trial counts: a finished "
        "one, the earliest to finish): b FINISHED (counts: a FINISHED)"
    )


# -- failed attempts ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def attempts(mlflow_template, tmp_path_factory):
    """A 3-seed study whose a3m seed 1 failed, then was run again by a later invocation and
    finished; its a3m seed 2 failed twice, never finished; and its baseline1 seed 0 was killed
    in the first invocation and finished in the second. The second invocation's parent run
    starts at 5,000,000 ms."""
    uri = fresh(mlflow_template, tmp_path_factory.mktemp("attempts"))
    study = Study(uri, "study")
    runs, nan_loss = {}, "NonFiniteLossError: the loss is not finite"
    for seed in range(3):
        status = "KILLED" if seed == 0 else "FINISHED"
        runs["b", seed] = study.trial("baseline1", seed, SCORES["baseline1"][seed], status,
                                      start=1_000_000)  # fmt: skip
    runs["a", 0] = study.trial("a3m", 0, SCORES["a3m"][0], start=1_000_000)
    runs["a", 1, "failed"] = study.trial("a3m", 1, None, "FAILED", start=1_000_000,
                                         error="OSError: no space left on device")  # fmt: skip
    runs["a", 2, "first"] = study.trial("a3m", 2, None, "FAILED", start=1_000_000,
                                        error=nan_loss)  # fmt: skip
    second = study.parent_run(5_000_000)
    study.parent = second
    runs["b", 0, "rerun"] = study.trial("baseline1", 0, SCORES["baseline1"][0], start=5_000_100)
    runs["a", 1] = study.trial("a3m", 1, SCORES["a3m"][1], start=5_000_100)
    runs["a", 2] = study.trial("a3m", 2, None, "FAILED", start=5_000_100, error=nan_loss)
    return uri, runs, second


def test_a_failed_attempt_run_again_counts_as_its_finished_run(attempts, tmp_path, capsys):
    uri, runs, _ = attempts
    board, comparisons, out, err = read(uri, "study", tmp_path, capsys)

    base = board.loc["baseline1"]
    assert (base["n_runs"], base["n_failed"], base["status"]) == (3, 0, "FINISHED:3")
    a3m = board.loc["a3m"]
    assert (a3m["n_runs"], a3m["seeds"], a3m["n_failed"]) == (3, "0,1,2", 1)
    assert a3m["score_mean"] == pytest.approx(np.mean(SCORES["a3m"][:2]))
    # the failed seed never run to the end stays a failed seed: data, not a missing row
    assert a3m["fail_rate"] == pytest.approx(1 / 3)
    assert a3m["note"] == "1 of 3 runs failed or was killed: NonFiniteLossError: the loss is " \
        "not finite"  # fmt: skip
    row = comparisons.loc["a3m"]
    assert (row["n_pairs"], row["n_failed"]) == (2, 1)
    assert row["failed"] == f"seed 2: candidate run {runs['a', 2][:8]} FAILED"
    said = "3 failed attempts superseded by another attempt of the same trial set aside"
    assert said in err and f"{runs['a', 1, 'failed'][:8]} FAILED (counts: " in err
    assert f"{runs['a', 2, 'first'][:8]} FAILED (counts: {runs['a', 2][:8]} FAILED)" in err


@pytest.mark.parametrize("when", ["1970-01-01T01:20:00+00:00", "parent"])
def test_exclude_failed_before_sets_old_failures_aside_and_says_how_many(
    attempts, when, tmp_path, capsys
):
    uri, runs, second = attempts
    when = second if when == "parent" else when  # 4,800,000 ms; the parent: 5,000,000 ms
    board, comparisons, out, err = read(uri, "study", tmp_path, capsys,
                                        "--exclude-failed-before", when)  # fmt: skip
    # the failures that still counted ended after it: none set aside, each command says so
    assert err.count(f"--exclude-failed-before {when} (") == 2
    assert "0 failed or killed runs that ended before it set aside" in err
    assert board.loc["a3m", "n_failed"] == 1

    later = "1970-01-01T02:00:00+00:00"  # after every run: the failed seed is set aside
    board, comparisons, out, err = read(uri, "study", tmp_path, capsys,
                                        "--exclude-failed-before", later)  # fmt: skip
    assert f"1 failed or killed run that ended before it set aside: {runs['a', 2][:8]}" in err
    a3m = board.loc["a3m"]
    assert (a3m["n_runs"], a3m["seeds"], a3m["n_failed"]) == (2, "0,1", 0)
    assert comparisons.loc["a3m", "n_failed"] == 0


def test_exclude_failed_before_as_a_function_keeps_finished_and_running_runs():
    rows = [
        {"run_id": "old_fail", "status": "FAILED", "start_time": 0, "end_time": 10},
        {"run_id": "old_kill", "status": "KILLED", "start_time": 0, "end_time": 20},
        {"run_id": "old_done", "status": "FINISHED", "start_time": 0, "end_time": 10},
        {"run_id": "new_fail", "status": "FAILED", "start_time": 0, "end_time": 40},
        {"run_id": "running", "status": "RUNNING", "start_time": 0, "end_time": np.nan},
    ]
    cutoff = FailedBefore(pd.Timestamp(30, unit="ms", tz="UTC"), "X")
    kept, note = set_aside_failed_before(_frame(rows), cutoff)
    assert list(kept["run_id"]) == ["old_done", "new_fail", "running"]
    assert note == ("--exclude-failed-before X: 2 failed or killed runs that ended before it "
                    "set aside: old_fail FAILED, old_kill KILLED")  # fmt: skip


@pytest.mark.parametrize("name", ["leaderboard", "compare", "dashboard"])
def test_a_bad_exclude_failed_before_is_one_line_exit_2(name, attempts, tmp_path, capsys):
    uri, _, _ = attempts
    argv = {"leaderboard": ["-o", str(tmp_path / "lb.csv")], "compare": [],
            "dashboard": ["--no-png", "--out", str(tmp_path / "report")]}[name]  # fmt: skip
    code, out, err = run_cli(capsys, name, "--experiment", "study", "--tracking-uri", uri,
                             *argv, "--exclude-failed-before", "last tuesday")  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--exclude-failed-before last tuesday: expected an ISO date/time" in err
    assert not (tmp_path / "lb.csv").exists()


def test_the_report_counts_the_same_runs_and_says_what_it_set_aside(attempts, tmp_path, capsys):
    uri, runs, _ = attempts
    code, out, err = run_cli(capsys, "dashboard", "--experiment", "study", "--tracking-uri", uri,
                             "--no-png", "--out", str(tmp_path / "report"),
                             "--exclude-failed-before", "1970-01-01T02:00:00+00:00")  # fmt: skip
    assert code == 0, err
    assert "3 failed attempts superseded by another attempt of the same trial" in out
    assert "1 failed or killed run that ended before it set aside" in out
    board = pd.read_csv(tmp_path / "report" / "leaderboard.csv").set_index("variant")
    assert board.loc["a3m", "n_runs"] == 2 and board.loc["baseline1", "n_failed"] == 0
    html = (tmp_path / "report" / "report.html").read_text()
    assert "3 failed attempts superseded" in html


# -- words, not NaN -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def failing(mlflow_template, tmp_path_factory):
    """Two experiments: ``three`` (3 seeds; att1 failed on every seed), ``one`` (one seed;
    att1 failed), and ``no_reference`` (3 seeds; the reference failed on every seed)."""
    uri = fresh(mlflow_template, tmp_path_factory.mktemp("failing"))
    for name, seeds in (("three", 3), ("one", 1), ("no_reference", 3)):
        study = Study(uri, name)
        failing = "baseline1" if name == "no_reference" else "att1"
        for seed in range(seeds):
            for variant in ("baseline1", "a3m", "att1"):
                if variant == failing:
                    study.trial(variant, seed, None, "FAILED", start=1_000_000 + seed,
                                error="ImageReadError: cannot identify image file")  # fmt: skip
                else:
                    score = SCORES.get(variant, [0.40, 0.41, 0.42])[seed]
                    study.trial(variant, seed, score, start=1_000_000 + seed)
    return uri


def _no_nan(*texts: str) -> None:
    for text in texts:
        assert "nan" not in text.lower(), text


def test_all_failed_configurations_show_their_failures_not_nan(failing, tmp_path, capsys):
    board, comparisons, out, err = read(failing, "three", tmp_path, capsys)
    csvs = [p.read_text() for p in (tmp_path / "three").glob("*.csv")]
    assert len(csvs) == 3  # lb.csv, comparisons.csv beside it, compare's cmp.csv
    _no_nan(out, *csvs)
    att1 = board.loc["att1"]
    assert (att1["n_failed"], att1["status"]) == (3, "FAILED:3")
    assert pd.isna(att1["score_mean"])  # an empty cell in the CSV, and words beside it
    assert att1["note"] == "every run failed or was killed: ImageReadError: cannot identify " \
        "image file"  # fmt: skip
    assert comparisons.loc["att1", "verdict_note"] == (
        "no pairs: every run of variant=att1 failed, was killed or stopped early (3 seeds)"
    )
    assert "variant=att1: no pairs: every run of variant=att1 failed" in out
    assert "reference: variant=baseline1 (the study's reference)" in out


def test_a_reference_that_failed_on_every_seed_is_said_in_words(failing, tmp_path, capsys):
    board, comparisons, out, err = read(failing, "no_reference", tmp_path, capsys)
    _no_nan(out, *[p.read_text() for p in (tmp_path / "no_reference").glob("*.csv")])
    for variant in ("a3m", "att1"):
        assert comparisons.loc[variant, "verdict_note"] == (
            "no pairs: every run of the reference variant=baseline1 failed, was killed or "
            "stopped early (3 seeds)"
        )


def test_a_one_seed_study_says_what_the_study_says(failing, tmp_path, capsys):
    lb = tmp_path / "one" / "lb.csv"
    code, out, err = run_cli(capsys, "leaderboard", "--experiment", "one", "--tracking-uri",
                             failing, "-o", str(lb))  # fmt: skip
    assert code == 0
    words = ("no paired verdicts against variant=baseline1: one seed per configuration; run "
             "with --seeds N")  # fmt: skip
    assert f"no comparisons.csv: {words}" in out
    assert not (tmp_path / "one" / "comparisons.csv").exists()
    _no_nan(out, lb.read_text())
    board = pd.read_csv(lb).set_index("variant")
    assert board.loc["a3m", "note"] == "one seed with a result: no interval"

    out_csv = tmp_path / "one" / "cmp.csv"
    code, out, err = run_cli(capsys, "compare", "--experiment", "one", "--tracking-uri", failing,
                             "-o", str(out_csv))  # fmt: skip
    assert code == 1 and out.startswith(words) and not out_csv.exists()
    _no_nan(out, err)


def test_the_leaderboard_says_it_wrote_comparisons_csv_beside_its_csv(failing, tmp_path, capsys):
    lb = tmp_path / "x" / "board.csv"
    code, out, _ = run_cli(capsys, "leaderboard", "--experiment", "three", "--tracking-uri",
                           failing, "-o", str(lb))  # fmt: skip
    beside = lb.with_name("comparisons.csv")
    assert code == 0 and beside.exists()
    assert f"wrote {beside}: the paired comparisons against variant=baseline1" in out
    with pytest.raises(SystemExit):
        main(["leaderboard", "--help"])
    assert "comparisons.csv beside it" in " ".join(capsys.readouterr().out.split())
