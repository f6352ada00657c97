"""Fig. 7: CUB-200-2011 accuracy against the trade-off weights alpha and beta of loss (11).

Two one-dimensional sweeps over 0.1..1.0, each with the other weight at the paper's 0.5.

    python studies/alpha_beta_cub.py --synthetic            # minutes on a laptop CPU
    python studies/alpha_beta_cub.py --data-root ~/data/cub --gpus-per-trial 0.5
"""

from a3m.study import StudySpec, main

WEIGHTS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
SYNTHETIC_WEIGHTS = [0.1, 0.3, 0.5, 0.7, 1.0]


def one_dimensional_sweeps(values: list[float]) -> list[dict[str, float]]:
    """alpha over ``values`` at beta = 0.5, then beta over ``values`` at alpha = 0.5."""
    points = [{"alpha": a, "beta": 0.5} for a in values]
    return points + [{"alpha": 0.5, "beta": b} for b in values if b != 0.5]


SPEC = StudySpec(
    name="alpha_beta_cub",
    description=__doc__.splitlines()[0],
    base={"dataset": "cub", "variant": "a3m", "backbone": "resnet50", "pretrained": True},
    points=one_dimensional_sweeps(WEIGHTS),
    synthetic_points=one_dimensional_sweeps(SYNTHETIC_WEIGHTS),
    reference={"alpha": 0.5, "beta": 0.5},  # the paper's choice
)

if __name__ == "__main__":
    main(SPEC)
