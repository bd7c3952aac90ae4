"""Neural Autoregressive Distribution Estimator over one binary frame."""

from __future__ import annotations

import keras
from keras import ops

from multinn.layers._validation import check_positive_int

IMPLEMENTATIONS = ("loop", "vectorized")
_HAND_GRADIENT = True
"""TensorFlow backend: the `"loop"` implementation uses `_tf_loop_logits` (set False, in tests, for
plain autodiff of the loop)."""


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
        encoder_bias, decoder_bias = self._biases(encoder_bias, decoder_bias)
        if self.implementation == "vectorized":
            logits = self._logits_vectorized(x, encoder_bias, decoder_bias)
            return self._log_bernoulli(x, logits)
        return self._loop(x, encoder_bias, decoder_bias, return_logits=False)

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
        encoder_bias, decoder_bias = self._biases(encoder_bias, decoder_bias)
        if self.implementation == "vectorized":
            return self._logits_vectorized(x, encoder_bias, decoder_bias)
        return self._loop(x, encoder_bias, decoder_bias, return_logits=True)

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

    def sample(self, encoder_bias=None, decoder_bias=None, batch_size: int | None = None, temperature=1.0):
        """Draws frames one dimension at a time; traceable inside `tf.function` / a compiled loop.

        Randomness comes from the layer's `SeedGenerator` only, so a seed fixes the samples.

        Args:
            encoder_bias: `[batch, num_hidden]` or `None` (the layer's own).
            decoder_bias: `[batch, num_visible]` or `None` (the layer's own).
            batch_size: number of frames when both biases are `None` (default 1); otherwise the
                batch size of the biases is used.
            temperature: divides the logits (float or scalar tensor, >= 0); `0` thresholds
                `p(x_d = 1 | x_<d)` at 0.5, deterministically.

        Returns:
            `(x, log_prob)`: binary frames `[batch, num_visible]` and their log-likelihood
            `[batch]` in nats under the model itself (temperature 1), whatever `temperature` is.
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
        uniform = keras.random.uniform((batch, self.num_visible), dtype=dtype, seed=self.seed_generator)
        kernel = ops.cast(self.encoder_kernel, dtype)
        decoder_t = ops.transpose(ops.cast(self.decoder_kernel, dtype))  # [D, H]
        decoder_bias_t = ops.transpose(ops.broadcast_to(decoder_bias, (batch, self.num_visible)))  # [D, batch]
        uniform_t = ops.transpose(uniform)
        eye = ops.eye(self.num_visible, dtype=dtype)

        def step(d, state):
            acc, x, log_p = state
            hidden = ops.sigmoid(acc)
            logit = ops.matmul(hidden, ops.take(decoder_t, d, axis=0)[:, None])[:, 0]
            logit = logit + ops.take(decoder_bias_t, d, axis=0)
            tempered = ops.sigmoid(logit / safe_temperature)
            x_d = ops.where(positive, ops.less(ops.take(uniform_t, d, axis=0), tempered), ops.greater(logit, 0.0))
            x_d = ops.cast(x_d, dtype)
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

    def _loop(self, x, encoder_bias, decoder_bias, return_logits: bool):
        """Compiled loop over the D dimensions; `[batch, H]` state. Returns logits or log p(x)."""
        batch = ops.shape(x)[0]
        dtype = self.compute_dtype
        kernel = ops.cast(self.encoder_kernel, dtype)
        logits_bias = ops.broadcast_to(decoder_bias, (batch, self.num_visible))
        if keras.backend.backend() == "tensorflow" and _HAND_GRADIENT:
            state = ops.broadcast_to(encoder_bias, (batch, self.num_hidden))
            logits = _tf_loop_logits(x, state, kernel, ops.cast(self.decoder_kernel, dtype)) + logits_bias
            return logits if return_logits else self._log_bernoulli(x, logits)
        decoder_t = ops.transpose(ops.cast(self.decoder_kernel, dtype))  # [D, H]
        x_t = ops.transpose(x)  # [D, batch]: a row per step
        eye = ops.eye(self.num_visible, dtype=dtype)

        def step(d, state):
            acc, out = state
            x_d = ops.take(x_t, d, axis=0)
            logit = ops.matmul(ops.sigmoid(acc), ops.take(decoder_t, d, axis=0)[:, None])[:, 0]
            if return_logits:
                out = out + logit[:, None] * ops.take(eye, d, axis=0)[None, :]
            else:
                logit = logit + ops.take(logits_bias, d, axis=1)
                out = out - ops.softplus((1.0 - 2.0 * x_d) * logit)
            acc = acc + x_d[:, None] * ops.take(kernel, d, axis=0)[None, :]
            return acc, out

        out_shape = (batch, self.num_visible) if return_logits else (batch,)
        init = (ops.broadcast_to(encoder_bias, (batch, self.num_hidden)), ops.zeros(out_shape, dtype=dtype))
        _, out = ops.fori_loop(0, self.num_visible, step, init)
        return out + logits_bias if return_logits else out

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


def _tf_loop_logits(x, encoder_state, kernel, decoder_kernel):
    """Teacher-forced NADE logits without the decoder bias, `[batch, D]`, with a hand-written
    gradient whose memory does not grow with D (TensorFlow backend).

    Forward: `a_0 = c`, `a_{d+1} = a_d + x_d W_d`, `logit_d = sigmoid(a_d) . V[:, d]`, in a
    `tf.while_loop` that keeps only `a` (and writes each step's `[batch]` logits). Autodiff of that
    loop would keep every step's `[batch, H]` activations for the backward pass (`batch * D * H`
    floats: gigabytes for a training batch of a 5-track model); the gradient here instead walks
    the dimensions backwards, recovering `a_d = a_{d+1} - x_d W_d` by subtraction (Larochelle &
    Murray 2011), so both passes hold `O(batch * (H + D))`. The gradients are those of the
    autodiff loop to float32 rounding (tests/layers/nade_layer_test.py).

    Args:
        x: binary frames `[batch, D]`.
        encoder_state: `c`, `[batch, H]` (broadcast already).
        kernel: `W`, `[D, H]`.
        decoder_kernel: `V`, `[H, D]`.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def logits_of(x, c, w, v):
        num_visible = w.shape[0]
        x_t, v_t = tf.transpose(x), tf.transpose(v)  # a row per dimension: [D, batch], [D, H]

        def forward(d, a, out):
            out = out.write(d, tf.linalg.matvec(tf.sigmoid(a), v_t[d]))
            return d + 1, a + x_t[d][:, None] * w[d][None, :], out

        out = tf.TensorArray(x.dtype, size=num_visible, element_shape=x.shape[:1])
        _, a_end, out = tf.while_loop(lambda d, *_: d < num_visible, forward, (0, c, out))
        logits = tf.transpose(out.stack())

        def grad(upstream):
            up_t = tf.transpose(upstream)  # [D, batch]

            def backward(d, a, delta, grad_w, grad_v, grad_x):
                # On entry `a` is a_{d+1} and `delta` is dL/da_{d+1}, which is also the gradient of
                # the term x_d W_d (a_{d+1} and every later a_j contain it).
                x_d = x_t[d]
                grad_w = grad_w.write(d, tf.linalg.matvec(delta, x_d, transpose_a=True))
                grad_x = grad_x.write(d, tf.linalg.matvec(delta, w[d]))
                a = a - x_d[:, None] * w[d][None, :]
                hidden = tf.sigmoid(a)
                grad_v = grad_v.write(d, tf.linalg.matvec(hidden, up_t[d], transpose_a=True))
                delta = delta + (up_t[d][:, None] * v_t[d][None, :]) * hidden * (1.0 - hidden)
                return d - 1, a, delta, grad_w, grad_v, grad_x

            arrays = [tf.TensorArray(x.dtype, size=num_visible) for _ in range(3)]
            init = (num_visible - 1, a_end, tf.zeros_like(c), *arrays)
            _, _, delta, grad_w, grad_v, grad_x = tf.while_loop(lambda d, *_: d >= 0, backward, init)
            return tf.transpose(grad_x.stack()), delta, grad_w.stack(), tf.transpose(grad_v.stack())

        return logits, grad

    return logits_of(tf.convert_to_tensor(x), tf.convert_to_tensor(encoder_state), tf.convert_to_tensor(kernel),
                     tf.convert_to_tensor(decoder_kernel))  # fmt: skip
