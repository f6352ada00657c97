"""Provenance of code: a run records the fingerprint of the code that computed it and what else
can change its result; a study reuses a run only when the code matches (--reuse-older-code
says otherwise), and the leaderboard shows which code versions a configuration mixes."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from a3m import provenance
from a3m.config import RunConfig
from a3m.provenance import (
    ANY_CODE,
    CODE_PATHS,
    CODE_TAG,
    ENVIRONMENT_TAGS,
    GPU_TAG,
    PACKAGE_ROOT,
    UNRECORDED,
    code_fingerprint,
    code_version_counts,
    code_versions,
    describe_mix,
    environment_differences,
    provenance_tags,
    runtime_tags,
    source_fingerprint,
)
from a3m.study import StudySpec
from a3m.study.grow import select_trials
from a3m.study.leaderboard import leaderboard
from a3m.study.plan import Search, StudyPlan
from a3m.study.spec import build_base, grid_trials, study_parser
from a3m.study.tracking import (
    CHECKPOINT_TAG,
    IDENTITY_TAG,
    RUN_KIND_TAG,
    continuable_runs,
    environment_tags,
    finished_identities,
    get_or_create_experiment,
    trial_identity,
)


# -- the fingerprint ----------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the whole a3m package (covered and uncovered files), without bytecode."""
    root = tmp_path / "a3m"
    shutil.copytree(PACKAGE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_fingerprint_is_stable_and_a_copy_of_the_source_has_it(tree):
    assert code_fingerprint() == code_fingerprint() == source_fingerprint(PACKAGE_ROOT)
    assert len(code_fingerprint()) == 12 and int(code_fingerprint(), 16) >= 0
    # contents, not times or places: a copy (a pip install, another clone) agrees
    for path in tree.rglob("*.py"):
        path.touch()
    assert source_fingerprint(tree) == code_fingerprint()


COVERED = ["models/a3m.py", "train.py", "loaders.py", "evaluation.py", "checkpoint.py",
           "data/cub.py", "data/synthetic/render.py", "metrics/reid.py", "config.py"]  # fmt: skip
UNCOVERED = ["study/grow.py", "study/compare.py", "stats.py", "cli.py", "viz.py",
             "diagnostics.py", "__init__.py"]  # fmt: skip


@pytest.mark.parametrize(
    ("edited", "computes"), [(p, True) for p in COVERED] + [(p, False) for p in UNCOVERED]
)
def test_an_edit_changes_it_only_where_the_code_computes_a_result(tree, edited, computes):
    before = source_fingerprint(tree)
    path = tree / edited
    original = path.read_bytes()
    path.write_bytes(original + b"\n# a fix\n")
    assert (source_fingerprint(tree) != before) is computes
    path.write_bytes(original)
    assert source_fingerprint(tree) == before  # its bytes again: its fingerprint again


def test_a_new_module_of_a_covered_folder_changes_it(tree):
    before = source_fingerprint(tree)
    (tree / "models" / "extra.py").write_text("X = 1\n")
    assert source_fingerprint(tree) != before


def test_what_is_not_python_source_leaves_it(tree):
    before = source_fingerprint(tree)
    (tree / "data" / "NOTES.md").write_text("documentation beside the code\n")
    (tree / "models" / "__pycache__").mkdir()
    (tree / "models" / "__pycache__" / "a3m.cpython-311.pyc").write_bytes(b"\0bytecode")
    assert source_fingerprint(tree) == before


def test_the_fingerprint_reads_the_package_root(tree, monkeypatch):
    """code_fingerprint() is source_fingerprint(PACKAGE_ROOT), cached per process."""
    (tree / "train.py").write_text("# another trainer\n")
    monkeypatch.setattr(provenance, "PACKAGE_ROOT", tree)
    provenance.package_fingerprint.cache_clear()
    try:
        assert code_fingerprint() == source_fingerprint(tree) != source_fingerprint(PACKAGE_ROOT)
    finally:
        provenance.package_fingerprint.cache_clear()
    monkeypatch.undo()
    assert code_fingerprint() == source_fingerprint(PACKAGE_ROOT)


def test_every_covered_path_exists_and_excludes_what_decides_no_result():
    assert all((PACKAGE_ROOT / path).exists() for path in CODE_PATHS)
    assert not {"study", "stats.py", "cli.py"} & set(CODE_PATHS)


def test_every_module_the_trainer_imports_is_covered():
    """Code moved out of ``a3m/train.py`` into a module of its own stays in the fingerprint
    (the trainer's data, evaluation and checkpoint modules were split from it)."""
    tree = ast.parse((PACKAGE_ROOT / "train.py").read_text())
    imported = {
        node.module.split(".")[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("a3m.")
    }
    describe_only = {"diagnostics", "viz"}  # statistics and pictures of a run, not its scores
    covered = {path.removesuffix(".py") for path in CODE_PATHS}
    assert imported - describe_only <= covered, imported - describe_only - covered


# -- what else can change a result --------------------------------------------------------------
def test_runtime_tags_on_cpu():
    tags = runtime_tags("cpu")
    assert tuple(tags) == ENVIRONMENT_TAGS
    assert tags[GPU_TAG] == "cpu" and tags["a3m.env.gpu_count"] == "0"
    assert tags["a3m.env.torch"] == torch.__version__
    assert tags["a3m.env.cuda"] == (torch.version.cuda or "none")
    assert tags["a3m.env.deterministic"] == (
        "algorithms=false,cudnn.benchmark=false,cudnn.deterministic=false"
    )
    if not torch.cuda.is_available():
        assert runtime_tags("auto") == tags
    torch.use_deterministic_algorithms(True)
    try:
        assert "algorithms=true" in runtime_tags(torch.device("cpu"))["a3m.env.deterministic"]
    finally:
        torch.use_deterministic_algorithms(False)


def test_a_run_records_its_code_and_a_continued_run_both_codes():
    tags = provenance_tags("cpu")
    assert tags[CODE_TAG] == code_fingerprint() and set(ENVIRONMENT_TAGS) < set(tags)
    assert provenance_tags("cpu", before=code_fingerprint())[CODE_TAG] == code_fingerprint()
    both = provenance_tags("cpu", before="0123456789ab")[CODE_TAG]
    assert both == f"0123456789ab>{code_fingerprint()}"
    assert provenance_tags("cpu", before=both)[CODE_TAG] == both  # resumed again: unchanged
    assert environment_tags()[CODE_TAG] == code_fingerprint()  # on parents and new runs too


def test_a3m_train_records_the_code_and_the_environment(store, tmp_path):
    from a3m.cli import _start_tracking
    from a3m.data.synthetic import write_synthetic

    root = write_synthetic("cub", tmp_path / "cub", seed=0, num_classes=2, images_per_class=2,
                           image_size=32)  # fmt: skip
    cfg = RunConfig(dataset="cub", data_root=str(root), device="cpu")
    tracker = _start_tracking(store, "a3m-train", cfg, tmp_path / "run")
    tracker.finish()
    tags = MlflowClient(store).get_run(tracker.run_id).data.tags
    assert tags[CODE_TAG] == code_fingerprint()
    assert {k: tags[k] for k in ENVIRONMENT_TAGS} == runtime_tags("cpu")


# -- what comparisons read ----------------------------------------------------------------------
def test_code_versions_name_a_mix():
    runs = pd.DataFrame({f"tags.{CODE_TAG}": ["bbb", None, "aaa", "bbb", float("nan"), "bbb"]})
    assert code_versions(runs) == ["aaa", "bbb", UNRECORDED]
    assert code_version_counts(runs) == {"bbb": 3, UNRECORDED: 2, "aaa": 1}
    mix = "runs of 3 code versions: bbb (3 runs), unrecorded (2 runs), aaa (1 run)"
    assert describe_mix(runs) == mix
    assert describe_mix(runs.iloc[[0, 3]]) is None  # one version: nothing to say
    assert code_versions(pd.DataFrame({"run_id": ["r"]})) == [UNRECORDED]  # logged before


def test_environment_differences_name_the_tags_that_differ():
    cpu = runtime_tags("cpu")
    gpu = {**cpu, GPU_TAG: "NVIDIA H100 80GB HBM3", "a3m.env.gpu_count": "1"}
    assert environment_differences(cpu, cpu) == []
    assert environment_differences(cpu, gpu) == [
        "a3m.env.gpu: cpu vs NVIDIA H100 80GB HBM3", "a3m.env.gpu_count: 0 vs 1"]  # fmt: skip
    # a row of a runs frame (tags.-prefixed) against a run logged before runs recorded them
    row = pd.Series({f"tags.{k}": v for k, v in cpu.items()})
    assert environment_differences(row, {}) == [f"{k}: {cpu[k]} vs {UNRECORDED}"
                                                 for k in ENVIRONMENT_TAGS]  # fmt: skip


def test_the_leaderboard_marks_configurations_of_mixed_code():
    runs = pd.DataFrame({
        "run_id": ["r0", "r1", "r2", "r3"],
        "status": ["FINISHED"] * 4,
        "params.alpha": ["0.1", "0.1", "0.5", "0.5"],
        "params.seed": ["0", "1", "0", "1"],
        "metrics.score": [0.5, 0.6, 0.7, 0.8],
        f"tags.{CODE_TAG}": ["new", "new", "old", None],
    })  # fmt: skip
    table = leaderboard(runs).set_index("alpha")
    assert table.loc["0.1", "code_versions"] == "new"
    assert table.loc["0.5", "code_versions"] == f"old;{UNRECORDED}"
    assert table["n_runs"].tolist() == [2, 2]  # grouped as before: the code is no setting
    before = leaderboard(runs.drop(columns=f"tags.{CODE_TAG}"))
    assert set(before["code_versions"]) == {UNRECORDED}


# -- reuse only when the code matches -----------------------------------------------------------
SPEC = StudySpec("prov", "two points", base={"dataset": "cub", "variant": "a3m", "d": 16},
                 points=[{"alpha": 0.2}, {"alpha": 0.8}])  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory, mlflow_template) -> str:
    """One SQLite store for the module, an experiment per test."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    shutil.copyfile(mlflow_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def study(store, tmp_path, request):
    """A plan of 2 trials in an experiment of its own, and a function that logs a run of one
    of its trials (by index) as if trained by ``code`` (None: no tag, as runs logged before)."""
    uri, name = store, request.node.name

    def plan(*flags: str) -> StudyPlan:
        args = study_parser(SPEC).parse_args(["--synthetic", "--data-root", str(tmp_path),
                                              "--epochs", "1", *flags])  # fmt: skip
        return StudyPlan(spec=SPEC, base=build_base(SPEC, args), reference=None,
                         fingerprints={"cub": "data"}, experiment=name, tracking_uri=uri,
                         optuna_storage=None, storage=str(tmp_path), tune_path=str(tmp_path),
                         command="prov", out_dir=tmp_path / name,
                         search=Search(None, 1, "fifo", ()), seeds=args.seeds,
                         synthetic=True, rerun=args.rerun,
                         reuse_older_code=args.reuse_older_code)  # fmt: skip

    client = MlflowClient(uri)
    experiment = get_or_create_experiment(client, name)
    first = plan()
    identities = [
        trial_identity(RunConfig.from_flat_dict({**first.base, **t}).to_flat_dict(), "data")
        for t in grid_trials(SPEC, first.base, synthetic=True, seeds=first.seeds)
    ]

    def log(trial: int, code: str | None, status: str = "FINISHED", start: int = 0) -> str:
        tags = {RUN_KIND_TAG: "trial", IDENTITY_TAG: identities[trial]}
        if code is not None:
            tags[CODE_TAG] = code
        if status == "KILLED":
            tags[CHECKPOINT_TAG] = f"/ckpt/{trial}/{code}"
        run = client.create_run(experiment, start_time=1000 + start, tags=tags)
        client.set_terminated(run.info.run_id, status)
        return run.info.run_id

    return plan, log, identities, client, experiment


def test_a_study_reuses_only_the_runs_of_this_code(study, capsys):
    plan, log, identities, _, _ = study
    this = log(0, code_fingerprint())
    log(1, "0123456789ab")  # trained before a fix of the model
    log(1, None, start=1)  # logged before runs recorded their code

    selection = select_trials(plan())
    assert selection.reused == {identities[0]: this}
    assert selection.todo == [{"alpha": 0.8, "seed": 0}]  # the other trial is trained again
    printed = capsys.readouterr().out
    line = next(line for line in printed.splitlines() if "other code" in line)
    assert f"1 of 2 trials have runs trained by other code than this ({code_fingerprint()})" in line
    assert f"{UNRECORDED} (1)" in line and "--reuse-older-code" in line  # the latest: unrecorded


def test_reuse_older_code_reuses_them_and_says_so(study, capsys):
    plan, log, identities, _, _ = study
    log(0, code_fingerprint())
    older = log(1, "0123456789ab")
    log(1, code_fingerprint(), status="FAILED", start=2)  # failed: never reused

    selection = select_trials(plan("--reuse-older-code"))
    assert selection.reused[identities[1]] == older and selection.todo == []
    printed = capsys.readouterr().out
    assert ("--reuse-older-code: 1 of 2 trials reuse or continue runs trained by other code "
            f"than this ({code_fingerprint()}): 0123456789ab (1)") in printed  # fmt: skip


def test_this_codes_run_is_preferred_to_a_later_one_of_other_code(study):
    _, log, identities, client, experiment = study
    this = log(0, code_fingerprint(), start=0)
    newer = log(0, "0123456789ab", start=5)
    others: dict[str, str] = {}
    assert finished_identities(client, experiment, ANY_CODE, others) == {identities[0]: this}
    assert others == {}
    assert finished_identities(client, experiment, "0123456789ab") == {identities[0]: newer}
    assert finished_identities(client, experiment, others=others) == {identities[0]: this}
    assert others == {}  # a run of this code was found: nothing passed over


def test_an_unfinished_run_of_other_code_is_not_continued(study, capsys):
    plan, log, identities, client, experiment = study
    old = log(0, "0123456789ab", status="KILLED")
    others: dict[str, str] = {}
    assert continuable_runs(client, experiment, others=others) == {}
    assert others == {identities[0]: "0123456789ab"}
    selection = select_trials(plan())
    assert selection.continued == {} and len(selection.todo) == 2
    assert "trained again" in capsys.readouterr().out
    continued = select_trials(plan("--reuse-older-code")).continued
    assert continued == {identities[0]: (old, "/ckpt/0/0123456789ab")}


def test_rerun_trains_everything_whatever_the_code(study):
    plan, log, _, _, _ = study
    log(0, code_fingerprint())
    assert len(select_trials(plan("--rerun")).todo) == 2
