"""A study's flags resolve once into a typed plan (no argparse Namespace past planning), which
the runner, what an invocation trains and --dry-run all read."""

from __future__ import annotations

import dataclasses

from a3m.study import StudySpec
from a3m.study.plan import StudyPlan
from a3m.study.runner import plan_study
from a3m.study.spec import study_parser

SPEC = StudySpec("sweep", "alpha and beta", base={"dataset": "cub", "variant": "a3m"},
                 grid={"alpha": [0.3, 0.5]}, reference={"alpha": 0.5})  # fmt: skip


def test_the_flags_resolve_into_a_typed_plan(study_args, tmp_path):
    args = study_parser(SPEC).parse_args(study_args("--seeds", "3", "--max-failures", "1"))
    plan = plan_study(SPEC, args, [])
    assert not hasattr(plan, "args")
    assert {f.name for f in dataclasses.fields(StudyPlan)} >= {"search", "resources", "seeds"}
    assert (plan.seeds, plan.synthetic, plan.resume, plan.dry_run) == (3, True, None, False)
    assert plan.search.is_grid and plan.search.axes == ("alpha",)
    assert plan.resources.max_failures == 1 and plan.resources.address is None
    assert plan.out_dir == (tmp_path / "results" / "sweep-synthetic").resolve()
    assert plan.launch["a3m.num_samples"] == "1"  # resolved, not left blank


def test_the_plan_says_what_the_study_will_do(study_args):
    plan = plan_study(SPEC, study_parser(SPEC).parse_args(study_args("--seeds", "2")), [])
    text = dataclasses.replace(plan, tracking_uri="http://ann:s3cret@127.0.0.1:5000").describe()
    assert "grid over alpha; seeds per configuration: 2; scheduler fifo" in text
    assert "reference: {'alpha': 0.5}" in text and "verdicts: alpha 0.05" in text
    assert "ann:***@" in text and "s3cret" not in text
