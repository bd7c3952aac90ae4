from multinn.generators import RNNRBM
from tests.generators.generator_test_case import random_sequences, run_generator_test


def test_generator_basics(tmp_path):
    inputs, targets = random_sequences(input_dim=5, units=6)
    run_generator_test(
        RNNRBM,
        {"input_dim": 5, "num_visible": 6, "num_hidden": 4, "rnn_units": [7], "cd_steps": 2, "seed": 1},
        inputs,
        targets,
        tmp_path,
        expected_num_trainable_weights=10,  # the LSTM's 3, the RBM's 3, 2 Dense heads x 2
        expected_num_seed_generators=2,  # the LSTM cell, the RBM (no dropout)
        unchanged_weights=["*rbm/visible_bias", "*rbm/hidden_bias"],  # the heads give the biases
    )
