"""Table 5: CARS196 retrieval (classes 1-98 / 99-196), Recall@1/2/4/8 and NMI, 384-d.

python studies/retrieval_cars196.py --synthetic
python studies/retrieval_cars196.py --data-root ~/data/cars196
"""

from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="retrieval_cars196",
    description=__doc__.splitlines()[0],
    base={"dataset": "cars196", "backbone": "googlenet", "pretrained": True, "d": 384},
    grid={"variant": ["baseline1", "a3m"]},
    reference={"variant": "baseline1"},
)

if __name__ == "__main__":
    main(SPEC)
