"""Table 3: Baseline-1, Baseline-2 and A3M on CompCars (448x448, five car attributes).

python studies/ablation_compcars.py --synthetic
python studies/ablation_compcars.py --data-root ~/data/CompCars
"""

from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="ablation_compcars",
    description=__doc__.splitlines()[0],
    base={"dataset": "compcars", "backbone": "resnet50", "pretrained": True},
    grid={"variant": ["baseline1", "baseline2", "a3m"]},
    reference={"variant": "baseline1"},
)

if __name__ == "__main__":
    main(SPEC)
