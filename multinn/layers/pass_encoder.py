"""The identity frame encoder."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="multinn")
class PassEncoder(keras.layers.Layer):
    """The identity, with the interface of `DBNEncoder`: for models whose tracks are not encoded.

    `encode(x) = decode(x) = x` (cast to the layer's compute dtype), `pretrain` does nothing and
    the reconstruction error is 0. It has no weights.

    Args:
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:

    >>> encoder = PassEncoder()
    >>> encoder.encode(frames)             # frames, unchanged: [..., num_units]
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.built = True  # no state to build

    def call(self, inputs):
        """Returns `encode(inputs)`, i.e. `inputs`."""
        return self.encode(inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def encode(self, x):
        """Returns `x` `[..., units]` unchanged."""
        return ops.cast(x, self.compute_dtype)

    def decode(self, h):
        """Returns `h` `[..., units]` unchanged."""
        return ops.cast(h, self.compute_dtype)

    def reconstruction_error(self, x):
        """0: the identity reconstructs exactly (a scalar of the compute dtype, for the
        `DBNEncoder` interface)."""
        return ops.zeros((), dtype=self.compute_dtype)

    def pretrain(
        self,
        data,
        epochs: int = 1,
        batch_size: int = 64,
        learning_rate: float = 0.1,
        momentum: float = 0.9,
        freeze: bool = False,
        verbose: int = 0,
    ) -> list[dict]:
        """Nothing to train: returns `[]` (the `DBNEncoder.pretrain` interface)."""
        return []
