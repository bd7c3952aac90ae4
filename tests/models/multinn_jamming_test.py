import pytest

from multinn.models import MultINNJamming
from tests.models.model_test_case import ESTIMATOR_BIASES, RBM_OPTIONS, SMALL, TINY, random_rolls, run_model_test


@pytest.mark.parametrize(
    ("kwargs", "num_trainable"),
    [({"generator": "nade"}, 22), ({"generator": "rbm", "generator_options": RBM_OPTIONS}, 20)],
    ids=["nade", "rbm"],
)
def test_model_basics(kwargs, num_trainable, tmp_path):
    rolls, mask = random_rolls()
    run_model_test(
        MultINNJamming,
        {"spec": TINY, **SMALL, **kwargs},
        rolls,
        mask,
        tmp_path,
        expected_num_trainable_weights=num_trainable,
        expected_num_seed_generators=4,  # per track: the LSTM cell, the estimator (no dropout)
        unchanged_weights=ESTIMATOR_BIASES,
    )
