import keras
import numpy as np
import pytest

from multinn.layers import PassEncoder
from tests.layers.layer_test_case import run_layer_test


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")
def test_layer_basics(tmp_path):
    x = (np.random.default_rng(0).random((8, 12)) < 0.3).astype("float32")
    run_layer_test(
        PassEncoder,
        {},
        input_data=x,
        expected_output_shape=(8, 12),
        loss_fn=lambda layer, x: layer.reconstruction_error(x),
        output_fn=lambda layer, x: layer.encode(x),
        tmp_path=tmp_path,
        expected_output=x,
    )


def test_identity_interface():
    encoder = PassEncoder()
    x = (np.random.default_rng(1).random((3, 5, 12)) < 0.3).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(encoder.encode(x)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(encoder.decode(x)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(encoder(x)), x)
    assert float(encoder.reconstruction_error(x)) == 0.0
    assert encoder.pretrain(x, epochs=3) == []
    assert encoder.weights == []
