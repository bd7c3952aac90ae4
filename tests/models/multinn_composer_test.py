from multinn.models import MultINNComposer
from tests.models.model_test_case import ESTIMATOR_BIASES, SMALL, TINY, random_rolls, run_model_test


def test_model_basics(tmp_path):
    rolls, mask = random_rolls()
    run_model_test(
        MultINNComposer,
        {"spec": TINY, **SMALL},
        rolls,
        mask,
        tmp_path,
        expected_num_trainable_weights=19,  # the LSTM's 3, 2 NADEs x 4, 4 Dense heads x 2
        expected_num_seed_generators=3,  # the LSTM cell, 2 NADEs (no dropout)
        unchanged_weights=ESTIMATOR_BIASES,
    )
