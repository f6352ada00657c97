"""Diagnosis: why A3M as in the paper trails Baseline-1 on the synthetic CUB, and fused_bn leads.

Baseline-1, A3M, A3M with the authors' BN on the fused features (``fused_bn``) and A3M with its
attribute labels shuffled across images (``attr_label_noise=1.0``: does the benchmark reward
attribute supervision at all?), on paired seeds. Every A3M trial logs its attention training
per epoch (``diag/*``: saturation of m^(k), m_region and s, feature norms, gradient norm per
head); the report draws them. Findings: docs/diagnosis.md.

    python studies/diagnose_attention.py --synthetic
    a3m compare --experiment diagnose_attention-synthetic --reference variant=a3m fused_bn=false
"""

from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="diagnose_attention",
    description=__doc__.splitlines()[0],
    base={"dataset": "cub", "backbone": "resnet50", "pretrained": True},
    points=[
        {"variant": "baseline1"},
        {"variant": "a3m"},
        {"variant": "a3m", "fused_bn": True},
        {"variant": "a3m", "attr_label_noise": 1.0},
    ],
    reference={"variant": "baseline1", "fused_bn": False, "attr_label_noise": 0.0},
    seeds=8,
)

if __name__ == "__main__":
    main(SPEC)
