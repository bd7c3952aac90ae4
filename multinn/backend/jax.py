"""JAX backend of multinn: the JAX counterparts of `multinn.backend.tensorflow`'s kernels.

`multinn.backend` calls these functions when `keras.backend.backend() == "jax"` and imports this
module on first use only, so that multinn imports without JAX installed. Each function has the
signature and results of its TensorFlow counterpart; it works eagerly, under `jax.jit` and inside
Keras's JAX trainer (`fit`), and the tests compare its gradients with JAX's autodiff.

Functions:

- `nade_loop_logits(x, encoder_state, kernel, decoder_kernel)`: teacher-forced NADE logits with a
  hand-written gradient (`jax.custom_vjp`) whose memory does not grow with D.
- `stateless_uniform(shape, seed, counter, dtype)`: counter-based random numbers for draws inside
  compiled loops.
- `fold_seed(seed, counter)`: the seed of stream `counter` below `seed` (`jax.random.fold_in`).
- `compile_function(model, fn, jit_compile)`: `jax.jit` of `fn` as a pure function of the
  model's variables (keras-hub's `make_generate_function` for JAX does the same).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def nade_loop_logits(x, encoder_state, kernel, decoder_kernel):
    """Teacher-forced NADE logits without the decoder bias, `[batch, D]`, with a hand-written
    gradient whose memory does not grow with D.

    Forward: `a_0 = c`, `a_{d+1} = a_d + x_d W_d`, `logit_d = sigmoid(a_d) . V[:, d]`, in a
    `jax.lax.scan` over the D dimensions that carries only `a` (and emits each step's `[batch]`
    logits). The backward pass (`jax.custom_vjp`) is a reverse scan that recovers
    `a_d = a_{d+1} - x_d W_d` by subtraction (Larochelle & Murray 2011) instead of reading saved
    activations: the residuals are the inputs and `a_D`, so both passes hold
    `O(batch * (H + D))`, where autodiff of the scan would save `batch * D * H` floats.

    Args:
        x: binary frames `[batch, D]`.
        encoder_state: `c`, `[batch, H]` (broadcast already).
        kernel: `W`, `[D, H]`.
        decoder_kernel: `V`, `[H, D]`.

    Returns:
        Logits `[batch, D]`.
    """
    return _nade_logits(jnp.asarray(x), jnp.asarray(encoder_state), jnp.asarray(kernel), jnp.asarray(decoder_kernel))


def _nade_forward(x, c, w, v):
    """`(logits [batch, D], a_D [batch, H])`: the forward scan, keeping only the running `a`."""
    a_end, logits_t = jax.lax.scan(_nade_forward_step, c, (x.T, w, v.T))
    return logits_t.T, a_end


def _nade_forward_step(a, row):
    # Module-level scan bodies (no closures): eager calls reuse JAX's compiled loops.
    x_d, w_d, v_d = row  # [batch], [H], [H]
    return a + x_d[:, None] * w_d[None, :], jax.nn.sigmoid(a) @ v_d


@jax.custom_vjp
def _nade_logits(x, c, w, v):
    return _nade_forward(x, c, w, v)[0]


def _nade_logits_fwd(x, c, w, v):
    logits, a_end = _nade_forward(x, c, w, v)
    return logits, (x, w, v, a_end)


def _nade_logits_bwd(residuals, upstream):
    x, w, v, a_end = residuals
    rows = (x.T, w, v.T, upstream.T)
    (_, delta), (grad_x, grad_w, grad_v) = jax.lax.scan(
        _nade_backward_step, (a_end, jnp.zeros_like(a_end)), rows, reverse=True
    )
    return grad_x.T, delta, grad_w, grad_v.T


def _nade_backward_step(carry, row):
    # On entry `a` is a_{d+1} and `delta` is dL/da_{d+1}, which is also the gradient of the term
    # x_d W_d (a_{d+1} and every later a_j contain it).
    a, delta = carry
    x_d, w_d, v_d, up_d = row  # [batch], [H], [H], [batch]
    grad_w_d, grad_x_d = x_d @ delta, delta @ w_d
    a = a - x_d[:, None] * w_d[None, :]
    hidden = jax.nn.sigmoid(a)
    grad_v_d = up_d @ hidden
    delta = delta + (up_d[:, None] * v_d[None, :]) * hidden * (1.0 - hidden)
    return (a, delta), (grad_x_d, grad_w_d, grad_v_d)


_nade_logits.defvjp(_nade_logits_fwd, _nade_logits_bwd)


def stateless_uniform(shape, seed, counter, dtype):
    """Uniform numbers in `[0, 1)`, a pure function of `seed` (`[2]` integers, a raw JAX key) and
    `counter` (`jax.random.fold_in`, then `jax.random.uniform`); see
    `multinn.backend.stateless_uniform`."""
    key = jax.random.fold_in(jnp.asarray(seed, dtype="uint32"), counter)
    return jax.random.uniform(key, tuple(shape), dtype=dtype)


def fold_seed(seed, counter):
    """The seed of stream `counter` below `seed` (`[2]` integers, a raw JAX key); see
    `multinn.backend.fold_seed`."""
    return jax.random.fold_in(jnp.asarray(seed, dtype="uint32"), counter)


def compile_function(model, fn, jit_compile: bool = True):
    """`fn` under `jax.jit`, as a pure function of the model's variables; see
    `multinn.backend.compile_function`.

    The variables' values are arguments of the compiled function, mapped onto the variables by a
    `keras.StatelessScope` while `fn` traces: reading a variable gives the value of this call (a
    jitted closure would bake the values of the first call in). Values `fn` assigns (a
    `SeedGenerator` advancing) come back as outputs and are assigned after the call.
    """
    import keras

    del jit_compile  # XLA is how JAX compiles
    variables = list(model.variables)
    assigned: list[int] = []  # indices of the variables `fn` assigns, found while tracing

    @jax.jit
    def pure(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))) as scope:
            initial = dict(scope.state_mapping)
            outputs = fn(*args)
        assigned[:] = [i for i, v in enumerate(variables) if scope.state_mapping[id(v)] is not initial[id(v)]]
        return outputs, [scope.get_current_value(variables[i]) for i in assigned]

    def call(*args):
        outputs, values = pure([v.value for v in variables], *args)
        for i, value in zip(assigned, values, strict=True):
            variables[i].assign(value)
        return outputs

    return call
