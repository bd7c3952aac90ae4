import pytest

from multinn.models import MultINNJoint
from tests.models.model_test_case import ESTIMATOR_BIASES, RBM_OPTIONS, SMALL, TINY, random_rolls, run_model_test


@pytest.mark.parametrize(
    ("kwargs", "num_trainable", "num_seed_generators", "unchanged"),
    [
        ({"generator": "nade"}, 11, 2, ESTIMATOR_BIASES),
        # One RBM over all units: its likelihood does not split into tracks.
        ({"generator": "rbm", "generator_options": RBM_OPTIONS}, 10, 2, ESTIMATOR_BIASES),
        # The DBN encoder's own visible bias only serves decoding.
        (
            {"generator": "nade", "encoder": "dbn", "encoder_units": [3]},
            14,
            3,
            [*ESTIMATOR_BIASES, "*rbm_0/visible_bias"],
        ),
    ],
    ids=["nade", "rbm", "dbn-nade"],
)
def test_model_basics(kwargs, num_trainable, num_seed_generators, unchanged, tmp_path):
    rolls, mask = random_rolls()
    run_model_test(
        MultINNJoint,
        {"spec": TINY, **SMALL, **kwargs},
        rolls,
        mask,
        tmp_path,
        expected_num_trainable_weights=num_trainable,
        expected_num_seed_generators=num_seed_generators,
        unchanged_weights=unchanged,
        per_track_log_prob=kwargs["generator"] == "nade",
    )
