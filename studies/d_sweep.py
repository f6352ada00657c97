"""The embedding size d of every branch, across datasets (the paper fixes d = 512).

Trials of different datasets are ranked by each dataset's own protocol metric ("score").

    python studies/d_sweep.py --synthetic
    python studies/d_sweep.py --data-root ~/data
"""

from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="d_sweep",
    description=__doc__.splitlines()[0],
    base={"variant": "a3m", "backbone": "resnet50", "pretrained": True},
    grid={"dataset": ["cub", "market1501", "compcars"], "d": [128, 256, 512, 1024]},
    synthetic_grid={"dataset": ["cub", "market1501"], "d": [16, 128]},
    reference={"d": 512},  # the paper's d, within each dataset
    synthetic_reference={"d": 128},
)

if __name__ == "__main__":
    main(SPEC)
