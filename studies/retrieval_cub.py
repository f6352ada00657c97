"""Table 4: CUB-200-2011 retrieval (classes 1-100 / 101-200), Recall@1/2/4/8 and NMI.

GoogLeNet stands in for InceptionBN; 384-d embedding; the K attribute branches learn without
attribute labels.

    python studies/retrieval_cub.py --synthetic
    python studies/retrieval_cub.py --data-root ~/data
"""

from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="retrieval_cub",
    description=__doc__.splitlines()[0],
    base={"dataset": "cub_retrieval", "backbone": "googlenet", "pretrained": True, "d": 384},
    grid={"variant": ["baseline1", "a3m"]},
    reference={"variant": "baseline1"},
)

if __name__ == "__main__":
    main(SPEC)
