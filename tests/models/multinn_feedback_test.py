import pytest

from multinn.models import MultINNFeedback
from tests.models.model_test_case import ESTIMATOR_BIASES, RBM_OPTIONS, SMALL, TINY, random_rolls, run_model_test


@pytest.mark.parametrize(
    ("kwargs", "num_trainable", "num_seed_generators"),
    [
        # Jamming's, plus the feedback module's: a Dense layer's 2 weights, or an LSTM's 3 and its cell.
        ({"generator": "nade", "feedback": "dense"}, 24, 4),
        ({"generator": "rbm", "generator_options": RBM_OPTIONS, "feedback": "rnn"}, 23, 5),
    ],
    ids=["dense-nade", "rnn-rbm"],
)
def test_model_basics(kwargs, num_trainable, num_seed_generators, tmp_path):
    rolls, mask = random_rolls()
    run_model_test(
        MultINNFeedback,
        {"spec": TINY, **SMALL, "feedback_units": [5], **kwargs},
        rolls,
        mask,
        tmp_path,
        expected_num_trainable_weights=num_trainable,
        expected_num_seed_generators=num_seed_generators,
        unchanged_weights=ESTIMATOR_BIASES,
    )
