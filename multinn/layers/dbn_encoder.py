"""Deep belief network frame encoder: a stack of RBMs."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from multinn.layers.rbm_layer import RBMLayer
from multinn.utils.checks import check_positive_int


@keras.saving.register_keras_serializable(package="multinn")
class DBNEncoder(keras.layers.Layer):
    """A deep belief network used as a deterministic frame encoder (and decoder).

    A stack of `RBMLayer`s, `layer_sizes[i] -> layer_sizes[i + 1]`. `encode` is the mean-field
    upward pass `h_i = sigmoid(c_i + h_{i-1} W_i)`; `decode` the mean-field downward pass
    `v_{i-1} = sigmoid(b_i + v_i W_i^T)`. `pretrain` trains the RBMs greedily, layer by layer,
    with contrastive divergence, as in the original MultINN's encoder pre-training stage.

    Args:
        layer_sizes: `[num_inputs, hidden_1, ..., hidden_L]`, at least two positive integers.
        cd_steps: k of the CD-k pre-training of every RBM.
        kernel_initializer: initializer of every RBM's `W`.
        seed: seed of the RBMs' `SeedGenerator`s (RBM i gets `seed + i`); `None` for random ones.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, `trainable`). A layer with
            `trainable=False` (see `pretrain(..., freeze=True)`) keeps its weights in later stages.

    Calling the layer, `layer(x)`, returns `encode(x)`.

    Example:

    >>> encoder = DBNEncoder([49, 32, 16], seed=1)
    >>> encoder.pretrain(frames, epochs=5, freeze=True)   # frames: [num_frames, 49] in {0, 1}
    >>> codes = encoder.encode(frames)                     # [num_frames, 16] in (0, 1)
    """

    def __init__(
        self,
        layer_sizes: list[int] | tuple[int, ...],
        cd_steps: int = 1,
        kernel_initializer: str | keras.initializers.Initializer = "random_normal",
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(layer_sizes, (list, tuple)) or len(layer_sizes) < 2:
            raise ValueError(
                f"`layer_sizes`: expected a list [num_inputs, hidden_1, ...] of at least two sizes, got {layer_sizes!r}"
            )
        self.layer_sizes = [check_positive_int(size, "layer_sizes[i]") for size in layer_sizes]
        self.cd_steps = check_positive_int(cd_steps, "cd_steps")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self.rbms = [
            RBMLayer(
                num_visible,
                num_hidden,
                cd_steps=cd_steps,
                kernel_initializer=self.kernel_initializer,
                seed=None if seed is None else seed + i,
                dtype=self.dtype_policy,
                name=f"rbm_{i}",
            )
            for i, (num_visible, num_hidden) in enumerate(zip(self.layer_sizes[:-1], self.layer_sizes[1:], strict=True))
        ]
        self.build((None, self.layer_sizes[0]))

    def build(self, input_shape: tuple) -> None:
        if input_shape[-1] is not None and input_shape[-1] != self.layer_sizes[0]:
            raise ValueError(
                f"expected inputs with last dimension layer_sizes[0]={self.layer_sizes[0]}, "
                f"got shape {tuple(input_shape)}"
            )

    @property
    def output_size(self) -> int:
        """The size of a code, `layer_sizes[-1]`."""
        return self.layer_sizes[-1]

    def call(self, inputs):
        """Returns `encode(inputs)`."""
        return self.encode(inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.output_size)

    def encode(self, x):
        """Mean-field upward pass: `[..., layer_sizes[0]]` frames -> `[..., layer_sizes[-1]]` codes in (0, 1)."""
        h = ops.cast(x, self.compute_dtype)
        for rbm in self.rbms:
            h = rbm.hidden_probs(h)
        return h

    def decode(self, h):
        """Mean-field downward pass: `[..., layer_sizes[-1]]` codes -> `[..., layer_sizes[0]]` probabilities."""
        v = ops.cast(h, self.compute_dtype)
        for rbm in reversed(self.rbms):
            v = rbm.visible_probs(v)
        return v

    def reconstruction_error(self, x):
        """Mean squared error of `decode(encode(x))` against `x` `[batch, layer_sizes[0]]`, per unit: a scalar.

        For one RBM this is the `"reconstruction_error"` that `RBMLayer.pretrain` reports per epoch.
        """
        x = ops.cast(x, self.compute_dtype)
        return ops.mean(ops.square(self.decode(self.encode(x)) - x))

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
        """Greedy layer-wise pre-training with CD-k (Hinton, Osindero & Teh 2006).

        RBM i is pre-trained on the mean-field codes of RBM i - 1 (RBM 0 on `data`) by
        `RBMLayer.pretrain`: its visible bias is set from the frequencies of its inputs, then it
        learns CD-k with SGD and momentum through `keras.Model.fit` (Hinton's practical guide,
        2010: on CD's noisy gradients this learns faster than Adam).

        Args:
            data: binary frames `[num_frames, layer_sizes[0]]` (NumPy array or tensor).
            epochs: epochs per RBM.
            batch_size: frames per update.
            learning_rate: SGD's learning rate.
            momentum: SGD's momentum.
            freeze: after pre-training, set `trainable = False`, so that later training stages keep
                the encoder's weights (the setting is saved with the layer).
            verbose: `fit`'s verbosity.

        Returns:
            One `History.history` dict per RBM (see `RBMLayer.pretrain`: the CD surrogate `"loss"`
            and the `"reconstruction_error"` of that RBM, per epoch).
        """
        check_positive_int(epochs, "epochs")
        check_positive_int(batch_size, "batch_size")
        features = np.asarray(ops.convert_to_numpy(data), dtype=self.compute_dtype)
        if features.ndim != 2 or features.shape[-1] != self.layer_sizes[0]:
            raise ValueError(f"expected data of shape [num_frames, {self.layer_sizes[0]}], got {features.shape}")
        self.trainable = True
        histories = []
        for rbm in self.rbms:
            histories.append(rbm.pretrain(features, epochs, batch_size, learning_rate, momentum, verbose))
            features = ops.convert_to_numpy(rbm.hidden_probs(features))
        self.trainable = not freeze
        return histories

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "layer_sizes": list(self.layer_sizes),
                "cd_steps": self.cd_steps,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "seed": self.seed,
            }
        )
        return config
