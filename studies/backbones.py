"""Backbones across datasets: Baseline-1 and A3M on each shared CNN (what A3M adds to each).

python studies/backbones.py --synthetic
python studies/backbones.py --data-root ~/data --gpus-per-trial 1
"""

from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="backbones",
    description=__doc__.splitlines()[0],
    base={"pretrained": True},
    grid={
        "dataset": ["cub", "compcars", "market1501"],
        "backbone": ["resnet18", "resnet34", "resnet50", "resnet101", "vgg16_bn", "googlenet"],
        "variant": ["baseline1", "a3m"],
    },
    synthetic_base={"epochs": 4},
    synthetic_grid={
        "dataset": ["cub"],
        "backbone": ["tiny", "resnet18"],
        "variant": ["baseline1", "a3m"],
    },
)

if __name__ == "__main__":
    main(SPEC)
