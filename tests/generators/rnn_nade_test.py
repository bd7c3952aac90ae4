from multinn.generators import RNNNADE
from tests.generators.generator_test_case import random_sequences, run_generator_test


def test_generator_basics(tmp_path):
    inputs, targets = random_sequences(input_dim=5, units=6)
    run_generator_test(
        RNNNADE,
        {"input_dim": 5, "num_visible": 6, "num_hidden": 4, "rnn_units": [7, 3], "seed": 1},
        inputs,
        targets,
        tmp_path,
        expected_num_trainable_weights=14,  # 2 LSTMs x 3, the NADE's 4, 2 Dense heads x 2
        expected_num_seed_generators=3,  # 2 LSTM cells, the NADE (no dropout)
        unchanged_weights=["*nade_0/encoder_bias", "*nade_0/decoder_bias"],  # the heads give the biases
    )
