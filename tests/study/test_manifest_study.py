"""Your own data through a study and ``a3m train``: ``--dataset manifest:PATH`` runs the
study's grid on it into ``<study>-<name>``, and a manifest that fails its check stops both
before anything is written to MLflow."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from a3m.cli import main as a3m_main
from a3m.data.fingerprint import dataset_fingerprint
from a3m.data.synthetic.manifest import SIGNAL_ATTRIBUTES, write_manifest_synthetic
from a3m.study import run_study
from a3m.study.exits import UsageError

STUDIES = Path(__file__).resolve().parents[2] / "studies"
SMALL = ["--set", "backbone=tiny", "pretrained=false", "d=16", "batch_size=16", "num_workers=0"]


def _spec(name: str):
    module_spec = importlib.util.spec_from_file_location(f"study_{name}", STUDIES / f"{name}.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.SPEC


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    """Synthetic birds in the manifest format: 4 classes, 6 images each, 32 px."""
    return write_manifest_synthetic(
        tmp_path_factory.mktemp("birds"), num_classes=4, images_per_class=6, image_size=32
    )


def _flags(tmp_path: Path, dataset: str, *extra: str) -> list[str]:
    return ["--dataset", dataset, "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db",
            "--storage-path", str(tmp_path / "tune"), "--out", str(tmp_path / "results"),
            "--no-report", *SMALL, *extra]  # fmt: skip


@pytest.mark.slow
def test_the_ablation_runs_on_a_manifest_and_gives_verdicts(ray_local, birds, tmp_path):
    argv = _flags(tmp_path, f"manifest:{birds}", "--epochs", "1", "--seeds", "2")
    result = run_study(_spec("ablation_cub"), argv)
    assert result.experiment == "ablation_cub-synthetic_birds_classification"
    assert (result.num_trials, result.num_errors) == (12, 0)
    board = pd.read_csv(result.leaderboard_csv).set_index("variant")
    assert len(board) == 6 and board.loc["baseline1", "verdict"] == "reference"
    others = board.drop(index="baseline1")
    assert others["verdict"].notna().all() and (others["n_pairs"] == 2).all()
    client = MlflowClient(result.tracking_uri)
    experiment = client.get_experiment_by_name(result.experiment)
    runs = client.search_runs([experiment.experiment_id], "tags.a3m.variant = 'a3m'")
    card = (birds / "card.json").resolve()
    for run in runs:
        assert run.data.params["dataset"] == f"manifest:{card}"
        assert run.data.tags["a3m.dataset_fingerprint"] == dataset_fingerprint(card)
        # the card's attributes are the attribute heads, with the same metrics as CUB's
        assert {f"attr_acc/{a}" for a, _, _ in SIGNAL_ATTRIBUTES} < set(run.data.metrics)


def test_a_manifest_that_fails_its_check_stops_the_study_before_mlflow(birds, tmp_path, capsys):
    bad = tmp_path / "bad"
    write_manifest_synthetic(bad, num_classes=4, images_per_class=6, image_size=32)
    (bad / "images" / "species_02" / "0003.jpg").write_bytes(b"broken")
    with pytest.raises(UsageError) as err:
        run_study(_spec("ablation_cub"), _flags(tmp_path, f"manifest:{bad}"))
    assert err.value.code == 2 and "\n" not in str(err.value)
    assert "cannot read image" in str(err.value) and "species_02/0003.jpg" in str(err.value)
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "tune").exists()


@pytest.mark.parametrize(
    ("study", "extra", "message"),
    [
        ("ablation_market", [], "a classification dataset, but study 'ablation_market' is a reid"),
        ("ablation_cub", ["--synthetic"], "is your own data and --synthetic generates"),
        ("ablation_cub", ["--data-root", "/x"], "--data-root: not with --dataset"),
        ("d_sweep", [], "sweeps datasets"),
    ],
)
def test_a_study_the_manifest_does_not_fit_is_refused(birds, tmp_path, study, extra, message):
    with pytest.raises(UsageError, match=message):
        run_study(_spec(study), _flags(tmp_path, f"manifest:{birds}", *extra))
    assert not (tmp_path / "mlflow.db").exists()


def test_a3m_train_on_a_manifest_logs_it_by_its_card(birds, tmp_path, mlflow_uri, capsys):
    code = a3m_main(["train", "--dataset", f"manifest:{birds}", "--backbone", "tiny", "--d", "16",
                     "--epochs", "1", "--lr-drop-epochs", "0", "--num-workers", "0", "--quiet",
                     "--out", str(tmp_path / "run"), "--tracking-uri", mlflow_uri])  # fmt: skip
    assert code == 0
    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("synthetic_birds_classification")  # the card's
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["a3m.dataset_fingerprint"] == dataset_fingerprint(birds / "card.json")
    assert "attr_acc/wing_color" in run.data.metrics


def test_a3m_train_on_a_manifest_that_fails_its_check_writes_nothing(tmp_path, capsys):
    bad = write_manifest_synthetic(tmp_path / "bad", num_classes=4, images_per_class=6,
                                   image_size=32)  # fmt: skip
    table = pd.read_csv(bad / "manifest.csv")
    table.loc[0, "attr:bill_shape"] = "spoon"
    table.to_csv(bad / "manifest.csv", index=False)
    code = a3m_main(["train", "--dataset", f"manifest:{bad}", "--backbone", "tiny",
                     "--out", str(tmp_path / "run"),
                     "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "manifest.csv, line 2: attr:bill_shape 'spoon' is not one of the card's values" in err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "run").exists()
