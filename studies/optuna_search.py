"""Open search (Optuna TPE) over lr, alpha, beta, d and the backbone on CUB.

It holds out val_fraction=0.1 of the training split unless --set val_fraction=F says otherwise
(a3m.study.spec.hold_out_for_search): Optuna, ASHA and the search's reference (the best mean
val_score, a3m.study.compare.best_reference) decide on that part, never on the test split the
report shows.

python studies/optuna_search.py --synthetic --num-samples 8
python studies/optuna_search.py --data-root ~/data --num-samples 64 --scheduler asha
"""

from ray import tune

from a3m.study import StudySpec, main

SPEC = StudySpec(
    name="optuna_search",
    description=__doc__.splitlines()[0],
    base={"dataset": "cub", "variant": "a3m", "pretrained": True},
    optuna_space={
        "lr": tune.loguniform(1e-4, 1e-2),
        "alpha": tune.uniform(0.0, 1.0),
        "beta": tune.uniform(0.0, 1.0),
        "d": tune.choice([128, 256, 512, 1024]),
        "backbone": tune.choice(["resnet50", "resnet101", "googlenet"]),
    },
    synthetic_optuna_space={
        "lr": tune.loguniform(3e-3, 1e-1),
        "alpha": tune.uniform(0.0, 1.0),
        "beta": tune.uniform(0.0, 1.0),
        "d": tune.choice([16, 64, 128]),
    },
    num_samples=12,
    synthetic_num_samples=4,
)

if __name__ == "__main__":
    main(SPEC)
