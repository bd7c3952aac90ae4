from multinn.generators import RNNMultiNADE
from tests.generators.generator_test_case import random_sequences, run_generator_test


def test_generator_basics(tmp_path):
    inputs, targets = random_sequences(input_dim=5, units=6)
    run_generator_test(
        RNNMultiNADE,
        {"input_dim": 5, "num_visible": [2, 4], "num_hidden": [3, 5], "rnn_units": [7], "seed": 1},
        inputs,
        targets,
        tmp_path,
        expected_num_trainable_weights=19,  # the LSTM's 3, 2 NADEs x 4, 4 Dense heads x 2
        expected_num_seed_generators=3,  # the LSTM cell, 2 NADEs (no dropout)
        unchanged_weights=["*nade_*/encoder_bias", "*nade_*/decoder_bias"],  # the heads give the biases
    )
