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
    # ResNet-50 is the paper's; what A3M adds to each backbone:
    # a3m compare --experiment backbones --reference variant=baseline1
    reference={"backbone": "resnet50"},
    synthetic_grid={
        "dataset": ["cub"],
        "backbone": ["tiny", "resnet18"],
        "variant": ["baseline1", "a3m"],
    },
    synthetic_reference={"backbone": "tiny"},
)

if __name__ == "__main__":
    main(SPEC)
