"""Every study script: --help works, its smallest --synthetic plan passes the driver's checks and
builds every model it would train; one script per kind of study runs end to end."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

STUDIES = sorted((Path(__file__).resolve().parents[2] / "studies").glob("*.py"))


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"study_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_study_of_the_paper_has_a_script():
    names = {p.stem for p in STUDIES}
    assert {
        "alpha_beta_cub", "ablation_market", "ablation_cub", "ablation_compcars",
        "retrieval_cub", "retrieval_cars196", "d_sweep", "backbones",
        "authors_code_vs_paper", "optuna_search",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_help(path, capsys):
    module = load(path)
    with pytest.raises(SystemExit) as exit_info:
        module.main(module.SPEC, ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--synthetic", "--data-root", "--address", "--tracking-uri", "--resume",
                 "--seeds", "--gpus-per-trial", "--max-failures"):  # fmt: skip
        assert flag in text, flag
    assert "(default: None)" not in text  # each default said once, and only when there is one
    assert not [line for line in text.splitlines() if line.count("default:") > 1]


def test_every_scripts_smallest_plan_builds_every_model_it_trains(study_args):
    """What a smoke run of each script would find wrong before its trials train: its flags, its
    data, its stores, and every model of its grid built and run on one input (the driver's
    model check), without Ray."""
    from a3m.study.runner import check_planned_models, plan_study
    from a3m.study.spec import study_parser

    for path in STUDIES:
        spec = load(path).SPEC
        plan = plan_study(spec, study_parser(spec).parse_args(study_args("--smoke-test")))
        assert plan.synthetic and plan.epochs == 1, path.stem
        assert check_planned_models(spec, plan) >= 1, path.stem


# One script per kind of study runs end to end: the headline grid (classification), re-id,
# retrieval and an Optuna search. The others differ from these only in their grid, which the
# test above builds model by model; ablation_compcars runs end to end in test_local_study.py,
# test_interrupt.py and test_preflight.py, controls.py at its own seeds in test_controls.py.
END_TO_END = ("alpha_beta_cub", "ablation_market", "retrieval_cars196", "optuna_search")


@pytest.mark.slow
@pytest.mark.parametrize("name", END_TO_END)
def test_smallest_synthetic_budget_runs(name, ray_local, study_args):
    module = load(next(p for p in STUDIES if p.stem == name))
    # --smoke-test: 1 epoch, 1 seed, the first and last trial, no report (tests/dashboards)
    result = module.main(module.SPEC, study_args("--smoke-test"))
    assert result.num_errors == 0 and result.num_trials == 2
    table = pd.read_csv(result.leaderboard_csv)
    assert len(table) >= 2 and table["score_mean"].notna().all()


def test_without_data_the_error_says_where_it_goes(tmp_path):
    module = load(STUDIES[0])
    with pytest.raises(SystemExit, match="--data-root.*--synthetic"):
        module.main(module.SPEC, ["--storage-path", str(tmp_path)])
