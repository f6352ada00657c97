"""A variant and a backbone of a user's module (tests/plugins/my_variant.py, which nothing in
a3m imports) train in a Ray Tune study (issue 26). A trial's worker is a process that imports
a3m afresh: it knows them only because the trial's config names the module (the study adds the
modules its script imported), and its run in MLflow names the variant and records the module
and its code. What cannot be found stops the study before anything runs, in one line."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from mlflow import MlflowClient

from a3m.plugin_code import BACKBONE_MODULE_TAG, PLUGIN_CODE_TAG, VARIANT_MODULE_TAG
from a3m.provenance import source_fingerprint
from a3m.study import StudySpec
from a3m.study.exits import UsageError
from a3m.study.runner import run_study

MODULE = "tests.plugins.my_variant"
FILE = Path(__file__).resolve().parents[1] / "plugins" / "my_variant.py"
SPEC = StudySpec(
    "plugin",
    "a user's variant on a user's backbone",
    base={"dataset": "cub", "d": 16},
    synthetic_base={"variant": "gain_a3m", "backbone": "plugin_cnn", "d": 16},
)

# Defined as __main__'s, so that Ray ships the function itself and the worker imports nothing
# of this file (which imports the module under test).
IN_A_FRESH_WORKER = """
def what_a_worker_knows(module):
    import sys

    from a3m.config import RunConfig
    from a3m.models import variant_names

    before = ("gain_a3m" in variant_names(), module in sys.modules)
    RunConfig(variant="gain_a3m", backbone="plugin_cnn", plugins=module)
    return before, "gain_a3m" in variant_names()
"""


def _fresh_worker_check(ray, module: str):
    namespace = {"__name__": "__main__"}
    exec(IN_A_FRESH_WORKER, namespace)
    return ray.get(ray.remote(namespace["what_a_worker_knows"]).remote(module))


@pytest.mark.slow
def test_a_users_variant_trains_in_a_study_and_its_run_names_it(ray_local, study_args, own_plugins):
    importlib.import_module(MODULE)  # the study script's `import my_variants`
    before, after = _fresh_worker_check(ray_local, MODULE)
    assert before == (False, False), "a worker knows nothing the driver registered"
    assert after, "a worker imports the module its config names (pytest runs from the root)"

    result = run_study(SPEC, study_args("--epochs", "1", "--no-report"))
    assert (result.num_trials, result.num_errors, result.exit_code) == (1, 0, 0)
    client = MlflowClient(result.tracking_uri)
    exp = client.get_experiment_by_name("plugin-synthetic")
    (run,) = [r for r in client.search_runs([exp.experiment_id]) if "a3m.trial_id" in r.data.tags]
    params, tags = run.data.params, run.data.tags
    assert run.info.status == "FINISHED" and run.info.run_name == "gain_a3m seed=0"
    assert (params["variant"], params["backbone"]) == ("gain_a3m", "plugin_cnn")
    assert params["plugins"] == MODULE and tags["a3m.variant"] == "gain_a3m"
    # set by the trial's worker, from what registered the names there
    assert tags[VARIANT_MODULE_TAG] == tags[BACKBONE_MODULE_TAG] == MODULE
    assert tags[PLUGIN_CODE_TAG] == f"{MODULE}@{source_fingerprint(FILE.parent, [FILE.name])}"
    assert "score" in run.data.metrics


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--set", "plugins=no_such_module"], "bad study setting: plugin module "
         "'no_such_module' cannot be imported: ModuleNotFoundError: No module named "
         "'no_such_module'"),
        (["--set", "backbone=no_such_cnn"], "bad study setting: backbone='no_such_cnn' is not "
         "known; valid: tiny, resnet18"),
    ],
)  # fmt: skip
def test_what_a_study_cannot_find_stops_it_in_one_line(study_args, own_plugins, flags, message):
    importlib.import_module(MODULE)
    with pytest.raises(UsageError) as err:
        run_study(SPEC, study_args(*flags))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.slow
def test_a_config_a_worker_refuses_fails_once_not_retried(
    ray_local, study_args, own_plugins, monkeypatch
):
    """The driver knows the variant but the worker is never told the module (the study's
    plugin list is switched off): the worker's RunConfig refuses the name. That trial's run
    ends FAILED with the reason at once; a retry would meet it again, so there is none."""
    import a3m.study.spec

    importlib.import_module(MODULE)
    monkeypatch.setattr(a3m.study.spec, "with_plugins", lambda base: base)
    spec = StudySpec("unplugged", "a worker without the module", base=SPEC.base,
                     synthetic_base=SPEC.synthetic_base)  # fmt: skip
    result = run_study(spec, study_args("--epochs", "1", "--no-report", "--max-failures", "2"))
    assert (result.num_trials, result.num_errors, result.exit_code) == (1, 1, 3)
    client = MlflowClient(result.tracking_uri)
    exp = client.get_experiment_by_name("unplugged-synthetic")
    (run,) = [r for r in client.search_runs([exp.experiment_id]) if "a3m.trial_id" in r.data.tags]
    assert run.info.status == "FAILED" and run.info.run_name == "gain_a3m seed=0"
    assert "gain_a3m" in run.data.tags["a3m.error"], run.data.tags["a3m.error"]
    assert run.data.params["variant"] == "gain_a3m"
    assert "a3m.retries" not in run.data.tags
