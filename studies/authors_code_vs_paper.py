"""The paper's equations against the authors' Keras code, on CUB.

Each difference alone, then all of them with the code's loss weights (1.0 / 0.2 / 0.5) and
optimiser (Nesterov, no weight decay); docs/reproduction.md, "Paper vs the authors' code", says
what each switch changes.

    python studies/authors_code_vs_paper.py --synthetic
    python studies/authors_code_vs_paper.py --data-root ~/data
"""

from a3m.models import SWITCHES
from a3m.study import StudySpec, main

AUTHORS_CODE = {s: True for s in SWITCHES} | {"alpha": 0.2, "beta": 0.5, "nesterov": True,
                                              "weight_decay": 0.0}  # fmt: skip

# The paper's equations and optimiser, spelled out as the fields the points vary.
PAPER = {s: False for s in SWITCHES} | {"alpha": 0.5, "nesterov": False, "weight_decay": 5e-4}

SPEC = StudySpec(
    name="authors_code_vs_paper",
    description=__doc__.splitlines()[0],
    base={"dataset": "cub", "variant": "a3m", "backbone": "resnet50", "pretrained": True},
    points=[{}] + [{s: True} for s in SWITCHES] + [AUTHORS_CODE],
    reference=PAPER,  # the point {}: each row says what the authors' code changes
)

if __name__ == "__main__":
    main(SPEC)
