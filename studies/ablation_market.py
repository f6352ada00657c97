"""Table 1 and Fig. 5: the six variants on Market-1501 (ResNet-50, 448x224), CMC and mAP.

python studies/ablation_market.py --synthetic
python studies/ablation_market.py --data-root ~/data --seeds 3
"""

from a3m.models import VARIANTS
from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="ablation_market",
    description=__doc__.splitlines()[0],
    base={"dataset": "market1501", "backbone": "resnet50", "pretrained": True},
    grid={"variant": list(VARIANTS)},
    reference={"variant": "baseline1"},
)

if __name__ == "__main__":
    main(SPEC)
