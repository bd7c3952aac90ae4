"""Neural Autoregressive Distribution Estimator over one binary frame."""

from __future__ import annotations

import keras
from keras import ops

from multinn import backend
from multinn.utils.checks import check_positive_int

IMPLEMENTATIONS = ("loop", "vectorized")


@keras.saving.register_keras_serializable(package="multinn")
class NADELayer(keras.layers.Layer):
    """NADE (Larochelle & Murray, 2011): an exact, tractable density over binary vectors.

    `p(x) = prod_d p(x_d | x_<d)`, with

        h_d = sigmoid(c + sum_{j<d} x_j W_j)       # [batch, num_hidden]
        p(x_d = 1 | x_<d) = sigmoid(b_d + h_d . V[:, d])

    `c` (the encoder bias, `[num_hidden]`) and `b` (the decoder bias, `[num_visible]`) are the
    layer's own weights, or are given per example as call arguments of shape `[batch, num_hidden]`
    and `[batch, num_visible]`: this is how an RNN-NADE conditions the estimator on its state.
    The layer knows nothing about time or tracks: a frame is a binary vector `[num_visible]`.

    Args:
        num_visible: D, the number of binary units of a frame (pitches x tracks).
        num_hidden: H, the number of hidden units.
        implementation: how `log_prob` and `conditionals` are computed; both are exact and agree
            to float32 rounding. `"loop"` (default) walks the D dimensions in a compiled loop
            keeping a `[batch, H]` state; `"vectorized"` computes all D hidden pre-activations at
            once as prefix sums (a strictly lower-triangular matrix product), using
            `batch * D * H` memory. The loop is faster on CPU (see `docs/layers.md`).
        hand_gradient: how the `"loop"` implementation is differentiated. `True` (default): with a
            hand-written backward loop that recovers the hidden pre-activations by subtraction,
            in `O(batch * (H + D))` memory, on the TensorFlow and JAX backends
            (`multinn.backend.nade_loop_logits`; other backends have no such kernel and use
            autodiff). `False`: the backend's autodiff of the `keras.ops` loop, which keeps every
            step's `[batch, H]` activations. Both give the same values and, to float32 rounding,
            the same gradients. The `"vectorized"` implementation is always differentiated by
            autodiff.
        kernel_initializer: initializer of `W` `[D, H]` and `V` `[H, D]`.
        bias_initializer: initializer of the own biases `b` and `c`.
        seed: seed of the layer's `keras.random.SeedGenerator` (sampling); `None` for a random one.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, `trainable`).

    Calling the layer, `layer(x)`, returns `log_prob(x)`: `[batch]`, nats.

    Example:

    >>> nade = NADELayer(num_visible=88, num_hidden=150, seed=1)
    >>> x, log_p = nade.sample(batch_size=4)        # x: [4, 88] in {0, 1}, log_p: [4] nats
    >>> nll = -keras.ops.mean(nade.log_prob(x))      # nats per frame
    """

    def __init__(
        self,
        num_visible: int,
        num_hidden: int,
        implementation: str = "loop",
        hand_gradient: bool = True,
        kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        bias_initializer: str | keras.initializers.Initializer = "zeros",
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.num_visible = check_positive_int(num_visible, "num_visible")
        self.num_hidden = check_positive_int(num_hidden, "num_hidden")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"`implementation`: expected one of {IMPLEMENTATIONS}, got {implementation!r}")
        self.implementation = implementation
        if not isinstance(hand_gradient, bool):
            raise ValueError(f"`hand_gradient`: expected a bool, got {hand_gradient!r}")
        self.hand_gradient = hand_gradient
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # All shapes are known from the arguments: build now, so that `sample()` works on a fresh
        # layer and a saved layer that was never called reloads its weights.
        self.build((None, num_visible))

    def build(self, input_shape: tuple) -> None:
        if input_shape[-1] is not None and input_shape[-1] != self.num_visible:
            raise ValueError(
                f"expected inputs with last dimension num_visible={self.num_visible}, got shape {tuple(input_shape)}"
            )
        # No autocasting: the weights are cast to the compute dtype where they are read, so that a
        # float32 NADE keeps float32 weights inside a 16-bit layer's call (mixed precision).
        self.encoder_kernel = self.add_weight(
            shape=(self.num_visible, self.num_hidden),
            initializer=self.kernel_initializer,
            name="encoder_kernel",
            autocast=False,
        )
        self.decoder_kernel = self.add_weight(
            shape=(self.num_hidden, self.num_visible),
            initializer=self.kernel_initializer,
            name="decoder_kernel",
            autocast=False,
        )
        self.encoder_bias = self.add_weight(
            shape=(self.num_hidden,), initializer=self.bias_initializer, name="encoder_bias", autocast=False
        )
        self.decoder_bias = self.add_weight(
            shape=(self.num_visible,), initializer=self.bias_initializer, name="decoder_bias", autocast=False
        )

    def call(self, inputs, encoder_bias=None, decoder_bias=None):
        """Returns `log_prob(inputs, encoder_bias, decoder_bias)`: `[batch]`, nats."""
        return self.log_prob(inputs, encoder_bias=encoder_bias, decoder_bias=decoder_bias)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0],)

    def log_prob(self, x, encoder_bias=None, decoder_bias=None):
        """Exact log-likelihood of binary frames.

        Args:
            x: binary frames `[batch, num_visible]`.
            encoder_bias: hidden bias `c` per example `[batch, num_hidden]`; `None`: the layer's own.
            decoder_bias: visible bias `b` per example `[batch, num_visible]`; `None`: the layer's own.

        Returns:
            `log p(x)`: `[batch]`, nats.
        """
        x = ops.cast(x, self.compute_dtype)
        return self._log_bernoulli(x, self._logits(x, *self._biases(encoder_bias, decoder_bias)))

    def conditional_logits(self, x, encoder_bias=None, decoder_bias=None):
        """Teacher-forced logits of `p(x_d = 1 | x_<d)`.

        `log p(x) = -sum_d softplus((1 - 2 x_d) * logit_d)`, so one pass gives the likelihood,
        its per-unit terms and the conditionals (RNN-NADE's training step uses all three).

        Args:
            x: binary frames `[batch, num_visible]`.
            encoder_bias: `[batch, num_hidden]` or `None` (the layer's own).
            decoder_bias: `[batch, num_visible]` or `None` (the layer's own).

        Returns:
            Logits `[batch, num_visible]`.
        """
        x = ops.cast(x, self.compute_dtype)
        return self._logits(x, *self._biases(encoder_bias, decoder_bias))

    def conditionals(self, x, encoder_bias=None, decoder_bias=None):
        """Teacher-forced conditionals `p(x_d = 1 | x_<d)`, the sigmoid of `conditional_logits`.

        Args:
            x: binary frames `[batch, num_visible]`.
            encoder_bias: `[batch, num_hidden]` or `None` (the layer's own).
            decoder_bias: `[batch, num_visible]` or `None` (the layer's own).

        Returns:
            Probabilities `[batch, num_visible]`.
        """
        return ops.sigmoid(self.conditional_logits(x, encoder_bias, decoder_bias))

    def sample(
        self,
        encoder_bias=None,
        decoder_bias=None,
        batch_size: int | None = None,
        temperature=1.0,
        seed=None,
        clamp=None,
        clamp_mask=None,
    ):
        """Draws frames one dimension at a time; traceable in a compiled function (a model's step, `jax.jit`).

        Randomness comes from the layer's `SeedGenerator`, or from `seed`, so a seed fixes the samples.

        Args:
            encoder_bias: `[batch, num_hidden]` or `None` (the layer's own).
            decoder_bias: `[batch, num_visible]` or `None` (the layer's own).
            batch_size: number of frames when both biases are `None` (default 1); otherwise the
                batch size of the biases is used.
            temperature: divides the logits (float or scalar tensor, >= 0); `0` thresholds
                `p(x_d = 1 | x_<d)` at 0.5, deterministically.
            seed: `[2]` integers, the random stream of this call (e.g. a step's stream inside a
                compiled generation loop, `multinn.backend.fold_seed`): nothing is assigned, as
                JAX's loops need; `None`: one draw of the layer's `SeedGenerator`.
            clamp: `[batch, num_visible]` values of clamped units, or `None`.
            clamp_mask: `[num_visible]` or `[batch, num_visible]`, 1 where `clamp` holds: those
                units take their clamped value instead of a draw, and every later unit is drawn
                given it. The free units are so drawn from `prod_free p(x_d | x_<d)`: their exact
                conditional given the clamped units when every clamped unit precedes every free
                one in the unit order (otherwise a free unit does not see the clamped units after
                it).

        Returns:
            `(x, log_prob)`: binary frames `[batch, num_visible]` and their log-likelihood
            `[batch]` in nats under the model itself (temperature 1), whatever `temperature` is
            (clamped units included).
        """
        if isinstance(temperature, (int, float)) and temperature < 0:
            raise ValueError(f"`temperature`: expected a number >= 0, got {temperature!r}")
        if encoder_bias is not None:
            batch = ops.shape(encoder_bias)[0]
        elif decoder_bias is not None:
            batch = ops.shape(decoder_bias)[0]
        else:
            batch = 1 if batch_size is None else check_positive_int(batch_size, "batch_size")
        encoder_bias, decoder_bias = self._biases(encoder_bias, decoder_bias)
        dtype = self.compute_dtype
        temperature = ops.cast(temperature, dtype)
        positive = ops.greater(temperature, 0.0)
        safe_temperature = ops.where(positive, temperature, ops.ones_like(temperature))
        if seed is None:
            uniform = keras.random.uniform((batch, self.num_visible), dtype=dtype, seed=self.seed_generator)
        else:
            uniform = backend.stateless_uniform((batch, self.num_visible), seed, 0, dtype=dtype)
        kernel = ops.cast(self.encoder_kernel, dtype)
        decoder_t = ops.transpose(ops.cast(self.decoder_kernel, dtype))  # [D, H]
        decoder_bias_t = ops.transpose(ops.broadcast_to(decoder_bias, (batch, self.num_visible)))  # [D, batch]
        uniform_t = ops.transpose(uniform)
        eye = ops.eye(self.num_visible, dtype=dtype)
        if clamp is not None:
            clamp_t = ops.transpose(ops.cast(clamp, dtype))  # [D, batch]
            mask = ops.cast(clamp_mask, dtype)
            mask_t = ops.transpose(mask) if len(mask.shape) == 2 else mask[:, None]  # [D, batch] or [D, 1]

        def step(d, state):
            acc, x, log_p = state
            hidden = ops.sigmoid(acc)
            logit = ops.matmul(hidden, ops.take(decoder_t, d, axis=0)[:, None])[:, 0]
            logit = logit + ops.take(decoder_bias_t, d, axis=0)
            tempered = ops.sigmoid(logit / safe_temperature)
            x_d = ops.where(positive, ops.less(ops.take(uniform_t, d, axis=0), tempered), ops.greater(logit, 0.0))
            x_d = ops.cast(x_d, dtype)
            if clamp is not None:
                m_d = ops.take(mask_t, d, axis=0)
                x_d = m_d * ops.take(clamp_t, d, axis=0) + (1.0 - m_d) * x_d
            log_p = log_p - ops.softplus((1.0 - 2.0 * x_d) * logit)
            x = x + x_d[:, None] * ops.take(eye, d, axis=0)[None, :]
            acc = acc + x_d[:, None] * ops.take(kernel, d, axis=0)[None, :]
            return acc, x, log_p

        init = (
            ops.broadcast_to(encoder_bias, (batch, self.num_hidden)),
            ops.zeros((batch, self.num_visible), dtype=dtype),
            ops.zeros((batch,), dtype=dtype),
        )
        _, x, log_p = ops.fori_loop(0, self.num_visible, step, init)
        return x, log_p

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_visible": self.num_visible,
                "num_hidden": self.num_hidden,
                "implementation": self.implementation,
                "hand_gradient": self.hand_gradient,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config

    def _biases(self, encoder_bias, decoder_bias):
        dtype = self.compute_dtype
        encoder_bias = self.encoder_bias if encoder_bias is None else encoder_bias
        decoder_bias = self.decoder_bias if decoder_bias is None else decoder_bias
        return ops.cast(encoder_bias, dtype), ops.cast(decoder_bias, dtype)

    @staticmethod
    def _log_bernoulli(x, logits):
        # log sigmoid(l) = -softplus(-l), log(1 - sigmoid(l)) = -softplus(l): stable for any logit.
        return -ops.sum(ops.softplus((1.0 - 2.0 * x) * logits), axis=-1)

    def _logits(self, x, encoder_bias, decoder_bias):
        """Teacher-forced logits `[batch, D]` of `x` (in the compute dtype), by `self.implementation`."""
        if self.implementation == "vectorized":
            return self._logits_vectorized(x, encoder_bias, decoder_bias)
        dtype = self.compute_dtype
        state = ops.broadcast_to(encoder_bias, (ops.shape(x)[0], self.num_hidden))
        kernels = ops.cast(self.encoder_kernel, dtype), ops.cast(self.decoder_kernel, dtype)
        return backend.nade_loop_logits(x, state, *kernels, hand_gradient=self.hand_gradient) + decoder_bias

    def _logits_vectorized(self, x, encoder_bias, decoder_bias):
        """All D logits at once: hidden pre-activations as prefix sums, `[D, batch, H]` memory."""
        dtype = self.compute_dtype
        kernel = ops.cast(self.encoder_kernel, dtype)
        decoder_t = ops.transpose(ops.cast(self.decoder_kernel, dtype))  # [D, H]
        # Time-major layout: the D axis leads, so that every product below is a plain (batched) GEMM.
        terms = ops.transpose(x)[:, :, None] * kernel[:, None, :]  # x_j W_j: [D, batch, H]
        strictly_lower = ops.tril(ops.ones((self.num_visible, self.num_visible), dtype=self.compute_dtype), k=-1)
        prefix = ops.tensordot(strictly_lower, terms, axes=1)  # sum_{j<d} x_j W_j: [D, batch, H]
        hidden = ops.sigmoid(prefix + encoder_bias)
        logits_t = ops.matmul(hidden, decoder_t[:, :, None])[:, :, 0]  # [D, batch]
        return ops.transpose(logits_t) + decoder_bias
