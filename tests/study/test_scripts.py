"""Every study script: --help works and its smallest --synthetic budget runs end to end."""

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


@pytest.mark.slow
# controls.py runs end to end, at its own seeds, in test_controls.py
@pytest.mark.parametrize("path", [p for p in STUDIES if p.stem != "controls"], ids=lambda p: p.stem)
def test_smallest_synthetic_budget_runs(path, ray_local, study_args):
    module = load(path)
    # --smoke-test: 1 epoch, 1 seed, the first and last trial, no report (tests/dashboards)
    result = module.main(module.SPEC, study_args("--smoke-test"))
    assert result.num_errors == 0 and result.num_trials == 2
    table = pd.read_csv(result.leaderboard_csv)
    assert len(table) >= 2 and table["score_mean"].notna().all()


def test_without_data_the_error_says_where_it_goes(tmp_path):
    module = load(STUDIES[0])
    with pytest.raises(SystemExit, match="--data-root.*--synthetic"):
        module.main(module.SPEC, ["--storage-path", str(tmp_path)])
