"""Table 2 and Fig. 8: the variants on CUB-200-2011, accuracy and per-attribute accuracy.

python studies/ablation_cub.py --synthetic
python studies/ablation_cub.py --data-root ~/data --seeds 3
"""

from a3m.models import VARIANTS
from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="ablation_cub",
    description=__doc__.splitlines()[0],
    base={"dataset": "cub", "backbone": "resnet50", "pretrained": True},
    grid={"variant": list(VARIANTS)},
    reference={"variant": "baseline1"},
)

if __name__ == "__main__":
    main(SPEC)
