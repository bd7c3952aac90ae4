"""Backend kernels: the one seam between multinn's backend-neutral maths and a backend's own code.

The layers, generators and models compute with `keras.ops`, which runs on every Keras backend.
Where a backend can do better than `keras.ops` (a hand-written gradient, here), the kernel is one
named function of this module that dispatches on `keras.backend.backend()`:

- `"tensorflow"`: `multinn.backend.tensorflow`, the one module of the library that imports
  TensorFlow for its maths;
- `"jax"`: `multinn.backend.jax`;
- any other backend (torch, numpy): the same maths in `keras.ops`, differentiated (where the
  backend can) by the backend's autodiff.

The backend modules are imported on first use, so importing this package imports neither
TensorFlow nor JAX, and a JAX-only installation never imports TensorFlow. This follows keras
core, which keeps `keras/src/backend/<name>/` apart from `keras/src/layers/`, and whose LSTM calls
the backend's fused kernel where there is one and its own generic loop otherwise.

Kernels:

- `nade_loop_logits(x, encoder_state, kernel, decoder_kernel, hand_gradient=True)`:
  teacher-forced NADE logits with a backward pass in `O(batch * (H + D))` memory; on TensorFlow
  sparse binary batches run by segments instead (`SEGMENT_BUCKETS`).
- `nade_segment_logits(x, encoder_state, kernel, decoder_kernel, num_segments)`: the same logits
  from GEMMs over the segments between active units, in `keras.ops`.
- `stateless_uniform(shape, seed, counter, dtype)`: uniform random numbers that are a pure
  function of a seed and a counter, for random draws inside compiled loops.
- `fold_seed(seed, counter)`: a new `[2]` seed, a pure function of a seed and a counter (one
  independent stream per generation step and estimator).
- `compile_function(model, fn, jit_compile)`: `fn` compiled the backend's way (a `tf.function`,
  a `jax.jit` of a pure function of the model's variables), for `generate` and `log_prob`.
- `serial_fori_loop(lower, upper, body, init)`: a loop whose iterations never overlap (bounded
  memory for loops over chunks).
- `real_rows(mask, jit_compile)`: the indices of a mask's real rows where shapes may be dynamic
  (`None` under `jax.jit` and XLA), so that costly per-frame work (an RBM's AIS) skips padding.

Training under `tf.distribute` (replica weighting, clipping of the all-reduced gradient) is
TensorFlow's alone: `multinn.backend.tensorflow.train_step`; on other backends the models train
with their backend's Keras trainer through `compute_loss` and `compute_metrics`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def nade_loop_logits(x, encoder_state, kernel, decoder_kernel, hand_gradient: bool = True):
    """Teacher-forced NADE logits without the decoder bias: `logit_d = sigmoid(a_d) . V[:, d]`.

    `a_0 = c` (`encoder_state`) and `a_{d+1} = a_d + x_d W_d`, walked over the D dimensions in a
    compiled loop that keeps only the running `[batch, H]` pre-activation `a`. Adding the decoder
    bias `b_d` gives NADE's `p(x_d = 1 | x_<d) = sigmoid(b_d + logit_d)` (see `NADELayer`).

    Autodiff of the loop keeps every step's `[batch, H]` activations for the backward pass
    (`batch * D * H` floats: gigabytes for a training batch of a 5-track model). With
    `hand_gradient=True` on TensorFlow and JAX the backward pass is hand-written instead: it walks
    the dimensions in reverse, recovering `a_d = a_{d+1} - x_d W_d` by subtraction (Larochelle &
    Murray 2011), so both passes hold `O(batch * (H + D))`. Its gradients are autodiff's to float32
    rounding (tests/layers/nade_loop_logits_test.py).

    Args:
        x: binary frames `[batch, D]`, in the compute dtype.
        encoder_state: `c`, `[batch, H]` (already broadcast over the batch).
        kernel: the encoder kernel `W`, `[D, H]`.
        decoder_kernel: the decoder kernel `V`, `[H, D]`.
        hand_gradient: `True`: the backend's kernel with the hand-written gradient (TensorFlow,
            JAX; other backends have none and run the `keras.ops` loop); `False`: the `keras.ops`
            loop on every backend, differentiated by the backend's autodiff.

    Returns:
        Logits `[batch, D]`.
    """
    args = [ops.convert_to_tensor(a) for a in (x, encoder_state, kernel, decoder_kernel)]
    module = _backend_module()
    if not hand_gradient or module is None:
        return _nade_loop_logits_ops(*args)
    if getattr(module, "NADE_SEGMENTS", False):
        # Sparse binary batches by segments (GEMMs), dense or non-binary ones by the loop, chosen
        # inside the kernel (which recomputes the chosen form in its backward pass).
        return module.nade_loop_logits(*args, segment_buckets=SEGMENT_BUCKETS)
    return module.nade_loop_logits(*args)


SEGMENT_BUCKETS = (5,)
"""The numbers of segments S with which `nade_loop_logits` (hand gradient) runs a binary batch by
`nade_segment_logits`: the smallest bucket of at least 1 + the most active units of a frame; a
batch with more active units per frame, or with values other than 0 and 1, runs the loop. Set to
`()` for the loop always. One bucket, S = 5, covers piano rolls of up to 4 voices (JSB Chorales:
at most 4 active units of 88; a voice of bach-satb: 1). More buckets cost memory even when the
loop runs: at the LPD-5 benchmark's sizes (`benchmarks/nade_gradient.py`, random 3 %-dense
frames, so the loop) buckets (2, 3, 5) peaked at 1.26 GB, (5,) at 1.17 GB, none at 1.12 GB;
(2, 3, 5, 9) with S = 9 in use at 1.33 GB. Only on backends whose kernel module sets
`NADE_SEGMENTS = True` (TensorFlow; on JAX a `lax.switch` over the buckets made a training step
slower than the loop alone: 8,436 against 10,069 frames/s at the peer's sizes)."""


def nade_segment_logits(x, encoder_state, kernel, decoder_kernel, num_segments):
    """`nade_loop_logits` by segments, for sparse frames: the same logits, from GEMMs instead of a
    loop over the D dimensions.

    In teacher forcing the pre-activation `a_d = c + sum_{j<d} x_j W_j` changes only after an
    active unit, so a frame with K active units has K + 1 distinct hidden vectors, one per
    segment between active units: `a^(s) = c + (sum of W_j over its first s active units)`. All
    of them come from one product, `A = c + P W` with the prefix mask `P[n, s, d] = x_d * [d is
    among the first s active units]` (`[batch, S, D]`); then `L = sigmoid(A) V` gives every
    segment's logits `[batch, S, D]`, and `logit_d` is `L[seg(d), d]`, `seg(d)` being the number of
    active units before `d`. Work `~4 batch S D H` in GEMMs and memory `O(batch S (H + D))`
    (autodiff keeps it for the backward pass) against the loop's `D` sequential steps: on piano
    rolls (JSB: at most 4 of 88 units, one per voice of a four-voice part) it is several times
    faster. Values agree with the loop to float32 rounding (the sums are taken in another order),
    and so do the gradients with respect to `c`, `W` and `V`; `x` is data here (binary frames, the
    segments are defined by its active units): no gradient flows into it.

    Args:
        x: binary frames `[batch, D]`, in the compute dtype.
        encoder_state: `c`, `[batch, H]`.
        kernel: `W`, `[D, H]`.
        decoder_kernel: `V`, `[H, D]`.
        num_segments: S, at least 1 + the most active units of a frame of `x` (an int, or a
            scalar integer tensor on backends with dynamic shapes); fewer gives wrong logits.

    Returns:
        Logits `[batch, D]` (no decoder bias).
    """
    x = ops.stop_gradient(x)
    inclusive = ops.cumsum(x, axis=-1)  # active units up to and including d: [batch, D]
    segment = ops.cast(ops.arange(num_segments), x.dtype)[None, :, None]  # [1, S, 1]
    prefix = x[:, None, :] * ops.cast(inclusive[:, None, :] <= segment, x.dtype)  # P: [batch, S, D]
    hidden = ops.sigmoid(encoder_state[:, None, :] + ops.matmul(prefix, kernel))  # [batch, S, H]
    logits = ops.matmul(hidden, decoder_kernel)  # every segment's logits: [batch, S, D]
    own = ops.cast(ops.expand_dims(inclusive - x, 1) == segment, x.dtype)  # seg(d) one-hot: [batch, S, D]
    return ops.sum(logits * own, axis=1)


def _nade_loop_logits_ops(x, encoder_state, kernel, decoder_kernel):
    """`nade_loop_logits` in `keras.ops`: a `fori_loop` over the D dimensions (for the backend's autodiff)."""
    num_visible = kernel.shape[0]
    x_t = ops.transpose(x)  # [D, batch]: a row per step
    decoder_t = ops.transpose(decoder_kernel)  # [D, H]
    eye = ops.eye(num_visible, dtype=x.dtype)

    def step(d, state):
        a, logits = state
        logit = ops.matmul(ops.sigmoid(a), ops.take(decoder_t, d, axis=0)[:, None])  # [batch, 1]
        logits = logits + logit * ops.take(eye, d, axis=0)[None, :]
        return a + ops.take(x_t, d, axis=0)[:, None] * ops.take(kernel, d, axis=0)[None, :], logits

    init = (encoder_state, ops.zeros((ops.shape(x)[0], num_visible), dtype=x.dtype))
    return ops.fori_loop(0, num_visible, step, init)[1]


def stateless_uniform(shape, seed, counter, dtype="float32"):
    """Uniform numbers in `[0, 1)` that are a pure function of `seed` and `counter`.

    For random draws inside a compiled loop (`keras.ops.fori_loop`): a `keras.random.SeedGenerator`
    cannot advance inside a loop body on JAX (its new state would leak out of the traced body), so
    a layer draws one `seed = seed_generator.next()` before the loop and each draw in the loop
    uses its own `counter` (e.g. `2 * step` and `2 * step + 1` for two draws per step). Distinct
    `(seed, counter)` pairs give independent streams: TensorFlow folds the counter into the seed
    with `tf.random.experimental.stateless_fold_in`, JAX with `jax.random.fold_in`; other
    backends (eager torch, numpy) seed NumPy's generator with both.

    Args:
        shape: the shape of the result.
        seed: a `[2]` integer tensor, as `keras.random.SeedGenerator.next()` returns.
        counter: an integer, or a scalar integer tensor (e.g. the loop index).
        dtype: a floating-point dtype.

    Returns:
        A tensor of `shape` and `dtype`.
    """
    module = _backend_module()
    if module is not None:
        return module.stateless_uniform(shape, seed, counter, dtype)
    entropy = [int(s) & 0xFFFFFFFF for s in ops.convert_to_numpy(seed)] + [int(ops.convert_to_numpy(counter))]
    return ops.convert_to_tensor(np.random.default_rng(entropy).random(tuple(shape)), dtype=dtype)


def fold_seed(seed, counter):
    """A new seed (`[2]` integers), a pure function of `seed` and `counter`: the seed of stream
    `counter` below `seed`, for draws that `stateless_uniform` or a layer's `sample(seed=...)`
    make from it (TensorFlow: `stateless_fold_in`; JAX: `jax.random.fold_in`; other backends:
    NumPy's generator seeded with both).

    Args:
        seed: a `[2]` integer tensor, e.g. `keras.random.SeedGenerator.next()`.
        counter: an integer, or a scalar integer tensor (e.g. a loop index).
    """
    module = _backend_module()
    if module is not None:
        return module.fold_seed(seed, counter)
    entropy = [int(s) & 0xFFFFFFFF for s in ops.convert_to_numpy(seed)] + [int(ops.convert_to_numpy(counter))]
    return ops.convert_to_tensor(np.random.default_rng(entropy).integers(0, 2**31 - 1, 2), dtype="int32")


def compile_function(model, fn, jit_compile: bool = True):
    """`fn(*tensors)` compiled the way the current backend compiles a whole loop: one call runs
    it all (generation's step loop, a batch's likelihood).

    TensorFlow: a `tf.function` (with XLA when `jit_compile`). JAX: `jax.jit` of `fn` as a pure
    function of the model's variables (read through a `keras.StatelessScope`, so later weight
    changes are seen); variables `fn` assigns (random seed states) are written back after each
    call; XLA is JAX's only compiler, whatever `jit_compile` says. Other backends: `fn` itself.

    Args:
        model: The `keras.Model` whose variables `fn` reads.
        fn: A function of tensors, returning a tensor or a structure of tensors.
        jit_compile: TensorFlow: compile with XLA.

    Returns:
        A callable with `fn`'s signature.
    """
    module = _backend_module()
    return fn if module is None else module.compile_function(model, fn, jit_compile)


def serial_fori_loop(lower, upper, body, init):
    """`keras.ops.fori_loop` whose iterations run one after the other: TensorFlow's graph loops
    otherwise start up to 10 iterations at once when an iteration's work does not depend on the
    previous one, which multiplies the working memory of a loop over chunks (`tf.while_loop(...,
    parallel_iterations=1)`); the other backends' loops are sequential already."""
    module = _backend_module()
    if module is not None and hasattr(module, "serial_fori_loop"):
        return module.serial_fori_loop(lower, upper, body, init)
    return ops.fori_loop(lower, upper, body, init)


def real_rows(mask, jit_compile: bool = False):
    """Indices `[n]` of the nonzero entries of a 1-D `mask`, to compute on those rows alone; `None`
    where a compiled function needs static shapes (JAX's `jax.jit`, TensorFlow under XLA): the
    caller then computes on every row.

    Args:
        mask: `[rows]`, nonzero for the rows to keep.
        jit_compile: Whether the enclosing TensorFlow function compiles with XLA.
    """
    name = keras.backend.backend()
    if name == "jax" or (name == "tensorflow" and jit_compile):
        return None
    return ops.cast(ops.nonzero(ops.greater(mask, 0))[0], "int32")


def _backend_module():
    """The kernel module of the current Keras backend (imported on first use), or `None` for the
    backends without one, which run the `keras.ops` / NumPy forms."""
    name = keras.backend.backend()
    if name == "tensorflow":
        from multinn.backend import tensorflow as module
    elif name == "jax":
        from multinn.backend import jax as module
    else:
        return None
    return module
