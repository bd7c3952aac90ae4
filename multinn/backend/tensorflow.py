"""TensorFlow backend of multinn: the numerical core's TensorFlow-only code, in one module.

The layers and generators compute with `keras.ops`, on any backend; what needs TensorFlow itself
lives here, as named functions, so that no other module of the numerical core imports
TensorFlow. `multinn.backend` calls them when `keras.backend.backend() == "tensorflow"` and
imports this module on first use only: under the JAX backend TensorFlow is never imported. A
kernel here has a counterpart with the same signature and results in `multinn.backend.jax` and
in `multinn.backend`'s `keras.ops` fallback, and the tests compare them.

Functions:

- `nade_loop_logits(x, encoder_state, kernel, decoder_kernel)`: teacher-forced NADE logits with a
  hand-written gradient (`tf.custom_gradient`) whose memory does not grow with D.
- `stateless_uniform(shape, seed, counter, dtype)`: counter-based random numbers for draws inside
  compiled loops.
"""

from __future__ import annotations

import tensorflow as tf


def nade_loop_logits(x, encoder_state, kernel, decoder_kernel):
    """Teacher-forced NADE logits without the decoder bias, `[batch, D]`, with a hand-written
    gradient whose memory does not grow with D.

    Forward: `a_0 = c`, `a_{d+1} = a_d + x_d W_d`, `logit_d = sigmoid(a_d) . V[:, d]`, in a
    `tf.while_loop` that keeps only `a` (and writes each step's `[batch]` logits). Autodiff of that
    loop would keep every step's `[batch, H]` activations for the backward pass (`batch * D * H`
    floats: gigabytes for a training batch of a 5-track model); the gradient here instead walks
    the dimensions backwards, recovering `a_d = a_{d+1} - x_d W_d` by subtraction (Larochelle &
    Murray 2011), so both passes hold `O(batch * (H + D))`. The gradients are those of the
    autodiff loop to float32 rounding (tests/layers/nade_loop_logits_test.py). Works in eager
    mode, in `tf.function` and under XLA (`jit_compile=True`).

    Args:
        x: binary frames `[batch, D]`.
        encoder_state: `c`, `[batch, H]` (broadcast already).
        kernel: `W`, `[D, H]`.
        decoder_kernel: `V`, `[H, D]`.

    Returns:
        Logits `[batch, D]`.
    """

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


def stateless_uniform(shape, seed, counter, dtype):
    """Uniform numbers in `[0, 1)`, a pure function of `seed` (`[2]` integers) and `counter`
    (`tf.random.experimental.stateless_fold_in` of the counter into the seed, then
    `tf.random.stateless_uniform`); see `multinn.backend.stateless_uniform`."""
    # SeedGenerator states are int64 on TensorFlow; the stateless ops take int32 seeds under XLA
    # (keras.src.backend.tensorflow.random reduces them the same way).
    seed = tf.cast(tf.math.floormod(tf.convert_to_tensor(seed), tf.int32.max - 1), tf.int32)
    key = tf.random.experimental.stateless_fold_in(seed, tf.cast(counter, tf.int32))
    return tf.random.stateless_uniform(shape, seed=key, dtype=dtype)
