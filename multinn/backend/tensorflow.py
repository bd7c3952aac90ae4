"""TensorFlow backend of multinn: the numerical core's TensorFlow-only code, in one module.

The layers and generators compute with `keras.ops`, on any backend; what needs TensorFlow itself
lives here, as named functions, so that no other module of the numerical core imports
TensorFlow. `multinn.backend` calls them when `keras.backend.backend() == "tensorflow"` and
imports this module on first use only: under the JAX backend TensorFlow is never imported. A
kernel here has a counterpart with the same signature and results in `multinn.backend.jax` and
in `multinn.backend`'s `keras.ops` fallback, and the tests compare them.

Functions:

- `nade_loop_logits(x, encoder_state, kernel, decoder_kernel, segment_buckets=())`: teacher-forced
  NADE logits with a hand-written gradient (`tf.custom_gradient`) whose memory does not grow
  with D; sparse binary batches by segments (`NADE_SEGMENTS`).
- `stateless_uniform(shape, seed, counter, dtype)`: counter-based random numbers for draws inside
  compiled loops.
- `fold_seed(seed, counter)`: the seed of stream `counter` below `seed`.
- `compile_function(model, fn, jit_compile)`: a `tf.function` (XLA with `jit_compile`).
- Training under `tf.distribute`: `train_step(model, data)` and `test_step(model, data)`, the
  MultINN models' steps on TensorFlow: the replica weighting of the loss (a replica's share of
  the global batch's mean loss), global-norm clipping of the all-reduced gradient, and the
  logs as Keras reduces them over workers. `build_optimizer_only(model)` is what the models do
  instead of Keras's symbolic build from a first distributed batch.

The models keep their loss (`compute_loss`) and metrics (`compute_metrics`) backend-neutral; the
steps here call them, and other backends train with their own Keras trainer.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

NADE_SEGMENTS = True
"""`multinn.backend.nade_loop_logits` runs sparse binary batches by segments here (see there)."""


def nade_loop_logits(x, encoder_state, kernel, decoder_kernel, segment_buckets=()):
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

    With `segment_buckets`, a binary batch whose most active frame has fewer than `S` active
    units, `S` the smallest bucket that fits, runs `multinn.backend.nade_segment_logits` with `S`
    segments instead of the loop (one `tf.switch_case` branch per bucket and one for the loop),
    and its backward pass recomputes the segment form under a tape: nothing of the branches not
    taken is kept, and the segment form's intermediates live only inside the backward pass.
    There the frames get a zero gradient (they are data); the loop gives theirs.

    Args:
        x: binary frames `[batch, D]`.
        encoder_state: `c`, `[batch, H]` (broadcast already).
        kernel: `W`, `[D, H]`.
        decoder_kernel: `V`, `[H, D]`.
        segment_buckets: the numbers of segments to try, increasing; `()`: the loop always.

    Returns:
        Logits `[batch, D]`.
    """
    from multinn.backend import nade_segment_logits

    buckets = tuple(int(b) for b in segment_buckets)

    @tf.custom_gradient
    def logits_of(x, c, w, v):
        num_visible = w.shape[0]
        x_t, v_t = tf.transpose(x), tf.transpose(v)  # a row per dimension: [D, batch], [D, H]

        def loop_forward():
            def forward(d, a, out):
                out = out.write(d, tf.linalg.matvec(tf.sigmoid(a), v_t[d]))
                return d + 1, a + x_t[d][:, None] * w[d][None, :], out

            out = tf.TensorArray(x.dtype, size=num_visible, element_shape=x.shape[:1])
            _, a_end, out = tf.while_loop(lambda d, *_: d < num_visible, forward, (0, c, out))
            return tf.transpose(out.stack()), a_end

        def loop_backward(upstream, a_end):
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

        if not buckets:
            logits, a_end = loop_forward()
            return logits, lambda upstream: loop_backward(upstream, a_end)

        counts = tf.concat([tf.reduce_sum(x, axis=-1), tf.zeros((1,), x.dtype)], axis=0)
        fits = tf.cast(tf.constant(buckets, x.dtype) < tf.reduce_max(counts) + 1.0, tf.int32)
        binary = tf.reduce_all(tf.logical_or(tf.equal(x, 0.0), tf.equal(x, 1.0)))
        branch = tf.where(binary, tf.reduce_sum(fits), len(buckets))

        def segment_forward(num_segments):
            return lambda: (nade_segment_logits(x, c, w, v, num_segments=num_segments), c)

        logits, a_end = tf.switch_case(branch, [*(segment_forward(b) for b in buckets), loop_forward])

        def grad(upstream):
            def segment_backward(num_segments):
                def run():
                    with tf.GradientTape() as tape:
                        tape.watch([c, w, v])
                        out = nade_segment_logits(x, c, w, v, num_segments=num_segments)
                    grad_c, grad_w, grad_v = tape.gradient(out, [c, w, v], output_gradients=upstream)
                    return tf.zeros_like(x), grad_c, grad_w, grad_v

                return run

            backward = [*(segment_backward(b) for b in buckets), lambda: loop_backward(upstream, a_end)]
            return tf.switch_case(branch, backward)

        return logits, grad

    return logits_of(
        tf.convert_to_tensor(x),
        tf.convert_to_tensor(encoder_state),
        tf.convert_to_tensor(kernel),
        tf.convert_to_tensor(decoder_kernel),
    )


def stateless_uniform(shape, seed, counter, dtype):
    """Uniform numbers in `[0, 1)`, a pure function of `seed` (`[2]` integers) and `counter`
    (`tf.random.experimental.stateless_fold_in` of the counter into the seed, then
    `tf.random.stateless_uniform`); see `multinn.backend.stateless_uniform`."""
    # SeedGenerator states are int64 on TensorFlow; the stateless ops take int32 seeds under XLA
    # (keras.src.backend.tensorflow.random reduces them the same way).
    seed = tf.cast(tf.math.floormod(tf.convert_to_tensor(seed), tf.int32.max - 1), tf.int32)
    key = tf.random.experimental.stateless_fold_in(seed, tf.cast(counter, tf.int32))
    return tf.random.stateless_uniform(shape, seed=key, dtype=dtype)


def serial_fori_loop(lower, upper, body, init):
    """`keras.ops.fori_loop` with `parallel_iterations=1`; see `multinn.backend.serial_fori_loop`."""
    return tf.while_loop(
        lambda i, value: i < upper, lambda i, value: (i + 1, body(i, value)), (lower, init), parallel_iterations=1
    )[1]


def fold_seed(seed, counter):
    """The seed of stream `counter` below `seed` (`[2]` integers); see `multinn.backend.fold_seed`."""
    seed = tf.cast(tf.math.floormod(tf.convert_to_tensor(seed), tf.int32.max - 1), tf.int32)
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(counter, tf.int32))


def compile_function(model, fn, jit_compile: bool = True):
    """`fn` as a `tf.function` (XLA with `jit_compile`); see `multinn.backend.compile_function`."""
    del model  # a tf.function reads the variables themselves
    return tf.function(fn, jit_compile=bool(jit_compile), reduce_retracing=True)


# ---------------------------------------------------------------------------------- training
class _Share:
    """Real steps of this replica's part of the batch and of the whole global batch, and the replica count."""

    def __init__(self, local, total, replicas: int):
        self.local, self.total, self.replicas = local, total, replicas

    def of(self, loss):
        """This replica's part of the global batch's mean loss, `loss * local / total`: the
        replicas' parts sum to the loss one device computes on the global batch (a replica
        without real steps, e.g. with an empty part of a last batch, adds 0)."""
        return ops.where(self.local > 0, loss * self.local / ops.maximum(self.total, 1.0), 0.0)

    def global_loss(self, loss):
        """The loss this replica records: its mean over the replicas is the global batch's loss."""
        return self.of(loss) * self.replicas


def _replica_share(mask) -> _Share | None:
    """This replica's real steps and the global batch's (an all-reduce), or None on one replica."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    local = ops.sum(mask)
    return _Share(local, context.all_reduce(tf.distribute.ReduceOp.SUM, local), context.num_replicas_in_sync)


def _step_logs(logs: dict) -> dict:
    """Step logs as Keras's `fit` / `evaluate` can reduce them over the replicas.

    Under a multi-worker `MultiWorkerMirroredStrategy`, Keras 3 reduces each log with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars ("Invalid reduction dimension
    0 for input with 0 dimensions", tensorflow/tensorflow#72388): there, every value gets that
    axis (shape `[1]`) and is reduced back to a scalar.
    """
    from multinn.distribute import num_workers

    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and num_workers(strategy) > 1:
        return {key: ops.reshape(value, (1,)) for key, value in logs.items()}
    return logs


def _clip_global(model, grads: list) -> list:
    """Clip the gradients of all replicas together by their global norm (no-op without `clip_norm`).

    With several replicas the gradients are all-reduced (summed) first and `1 / replicas` of
    the clipped sum is returned: the optimizer's own all-reduce adds the replicas' copies back
    up, so every replica applies the same, clipped global gradient. (Keras's own `global_clipnorm`
    clips each replica's part before the all-reduce.) Gradients are also summed here when the
    optimizer scales the loss (float16), so that every replica's finiteness check sees the same
    gradients.
    """
    context = tf.distribute.get_replica_context()
    replicas = 1 if context is None else context.num_replicas_in_sync
    loss_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    if model.clip_norm is None and not (loss_scaled and replicas > 1):
        return grads
    if replicas > 1:
        grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    if model.clip_norm is not None:
        # The gradients of a scaled loss are scaled: clip(s * g, s * c) = s * clip(g, c).
        grads, _ = tf.clip_by_global_norm(grads, model.clip_norm * model.optimizer.scale_loss(1.0))
    if replicas > 1:
        grads = [g / replicas for g in grads]
    return grads


def train_step(model, data) -> dict:
    """One optimizer step of a MultINN model on a batch; under a `tf.distribute` strategy, on this
    replica's share.

    Under a strategy with several replicas, `data` is this replica's part of the global batch.
    Keras's TensorFlow optimizer SUMS the replicas' gradients (an all-reduce in
    `apply_gradients`), so each replica minimises its share of the global loss: its summed loss
    over real steps divided by the real steps of the whole global batch. The sum is then the
    gradient of the global batch's mean loss, the single-device step. Global-norm clipping acts
    on the global gradient (`_clip_global`). Under `mixed_float16` the loss is scaled by the
    optimizer (a `LossScaleOptimizer`, added by `compile`) and the clipping threshold with it.
    """
    pianoroll, mask = model.unpack_batch(data, "training batch")
    share = _replica_share(mask)
    with tf.GradientTape() as tape:
        outputs = model.teacher_forced(pianoroll, training=True)
        loss = model.data_loss(outputs, mask)
        extra = ops.sum(model.losses) if model.losses else 0.0
        objective = loss + extra if share is None else share.of(loss) + extra / share.replicas
        scaled = model.optimizer.scale_loss(objective)
    variables = model.trainable_variables
    # Weights a configuration does not use (an estimator's own biases, replaced by the RNN's
    # conditional biases) get zero gradients, so the optimizer always tracks every trainable
    # variable and its state reloads from a checkpoint.
    gradients = tape.gradient(scaled, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables, strict=True)]
    model.optimizer.apply_gradients(zip(_clip_global(model, grads), variables, strict=True))
    recorded = loss if share is None else share.global_loss(loss)
    return _step_logs(model.update_metrics(recorded, outputs, pianoroll, mask))


def test_step(model, data) -> dict:
    """A MultINN model's evaluation step on TensorFlow (the recorded loss weighted as in `train_step`)."""
    pianoroll, mask = model.unpack_batch(data, "evaluation batch")
    share = _replica_share(mask)
    outputs = model.teacher_forced(pianoroll, training=False, mask=mask)
    loss = model.data_loss(outputs, mask)
    recorded = loss if share is None else share.global_loss(loss)
    return _step_logs(model.update_metrics(recorded, outputs, pianoroll, mask))


def build_optimizer_only(model) -> None:
    """What a MultINN model does instead of Keras's symbolic build before `fit` under a strategy.

    Keras (3.15, `TensorFlowTrainer._maybe_symbolic_build`) builds a model created in a strategy
    scope from the first distributed batch averaged over the replicas, which fails when the batch
    does not split evenly (an AddN of unequal shapes) and under MultiWorkerMirroredStrategy (a
    PerReplica it cannot convert). MultINN models create every weight at construction: only the
    optimizer may be left to build, in the strategy's scope, before the first step.
    """
    strategy = model.distribute_strategy
    if model.optimizer is not None and not model.optimizer.built:
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
