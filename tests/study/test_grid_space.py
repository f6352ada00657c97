"""A grid's param space: what Tune's status table shows, and what each trial resolves to."""

from __future__ import annotations

from a3m.study.trainable import PointValue, grid_space, trial_config

BASE = {"dataset": "cub", "variant": "a3m"}


def resolve(space: dict, label_key: str, label: str) -> dict:
    """One trial's config as Tune resolves it: the grid value, then each sample_from."""
    config = {k: v for k, v in space.items() if not isinstance(v, dict)}
    config[label_key] = label
    for name, value in space.items():
        func = getattr(value, "func", None)
        if isinstance(func, PointValue):
            config[name] = func(config)
    return config


def test_points_are_one_readable_column_and_resolve_to_their_fields():
    trials = [{"alpha": 0.1, "beta": 0.5, "seed": 0}, {"alpha": 0.5, "beta": 0.1, "seed": 0},
              {"alpha": 0.5, "beta": 0.5, "seed": 1}]  # fmt: skip
    space = grid_space(trials, BASE)
    key = "alpha,beta,seed"  # the table's column: the fields that vary, in order
    assert space[key] == {"grid_search": ["0.1,0.5,0", "0.5,0.1,0", "0.5,0.5,1"]}
    config = resolve({**BASE, **space}, key, "0.5,0.1,0")
    cfg = trial_config(config)  # the label is not a setting; the fields are
    assert (cfg.alpha, cfg.beta, cfg.seed, cfg.variant) == (0.5, 0.1, 0, "a3m")


def test_one_varying_field_is_the_grid_and_constants_stay_plain():
    space = grid_space([{"variant": "baseline1", "seed": 0}, {"variant": "baseline1", "seed": 1}],
                       BASE)  # fmt: skip
    assert space == {"variant": "baseline1", "seed": {"grid_search": [0, 1]}}
    # a field set by some trials only takes the base's resolved value in the others
    space = grid_space([{"seed": 0}, {"seed": 0, "d": 32}], {**BASE, "d": 16})
    assert space == {"seed": 0, "d": {"grid_search": [16, 32]}}


def test_a_resumed_study_of_before_still_reads_its_point():
    config = {**BASE, "point": {"alpha": 0.3, "seed": 2}}
    cfg = trial_config(config)
    assert (cfg.alpha, cfg.seed) == (0.3, 2)
