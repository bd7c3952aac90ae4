"""Restricted Boltzmann machine over one binary frame."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from multinn import backend
from multinn.utils.checks import check_positive_int

EXACT_MAX_UNITS = 20
"""`log_partition` enumerates the smaller side exactly up to this many units (2**20 states)."""


def exact_is_cheaper(num_visible: int, num_hidden: int, num_chains: int, num_temperatures: int) -> bool:
    """Whether enumerating one partition function exactly costs less than its AIS estimate.

    Enumerating the smaller side (`u` units) costs `2**u` softplus terms of each of the other
    side's `o` units: `2**u * o`. AIS costs `num_chains * num_temperatures` Gibbs steps, each
    drawing `num_visible + num_hidden` units (random numbers and a sigmoid each, with two
    `V x H` products: about twice the work of a softplus term per unit on a CPU, measured on
    2-core AVX-512, TensorFlow 2.20, 4,096 frames: 16 x 16 units: exact 10.1 s, AIS 32 x 500
    10.2 s; 12 x 16: exact 0.5 s, AIS 9.7 s). Never above `EXACT_MAX_UNITS`.
    """
    units = min(num_visible, num_hidden)
    if units > EXACT_MAX_UNITS:
        return False
    exact = 2**units * max(num_visible, num_hidden)
    ais = 2 * num_chains * num_temperatures * (num_visible + num_hidden)
    return exact <= ais


CONDITIONAL_CHUNK_ELEMENTS = 2**22
"""`RBMLayer.conditional_logits` takes frames in chunks of about this many frame x unit x hidden
terms (16 MB per tensor)."""

AIS_CHUNK_ROWS = 2**13
"""AIS runs at most this many chains at once (partition functions x chains): 1.6 MB per
`[rows, units]` tensor at 49 units, whatever the batch (`RBMLayer.log_partition`). Its speed on a
CPU is the same from 2**11 to 2**16 rows (random numbers and softplus terms dominate)."""

_ENUMERATION_CHUNK_ELEMENTS = 2**22
"""Upper bound on the elements of one `[batch, states, units]` block while enumerating."""


@keras.saving.register_keras_serializable(package="multinn")
class RBMLayer(keras.layers.Layer):
    """A binary-binary restricted Boltzmann machine, trained by contrastive divergence.

    Energy `E(v, h) = -v.b - h.c - v W h`; free energy
    `F(v) = -v.b - sum_j softplus(c_j + (v W)_j)`, so that `p(v) = exp(-F(v)) / Z`.

    The visible bias `b` `[num_visible]` and hidden bias `c` `[num_hidden]` are the layer's own
    weights, or are given per example as call arguments `[batch, num_visible]` /
    `[batch, num_hidden]`: this is how an RNN-RBM conditions the estimator on its state. The layer
    knows nothing about time or tracks: a frame is a binary vector `[num_visible]`.

    Args:
        num_visible: the number of visible (binary) units of a frame.
        num_hidden: the number of hidden units.
        cd_steps: k, the number of Gibbs steps of the negative phase of `cd_loss` (CD-k / PCD-k).
        persistent: `True` for persistent contrastive divergence (PCD, Tieleman 2008): the negative
            chains live on between calls of `cd_loss` in the non-trainable weight
            `persistent_chain` `[num_chains, num_visible]`, instead of starting at the data.
        num_chains: the number of persistent chains (used only when `persistent=True`).
        kernel_initializer: initializer of `W` `[num_visible, num_hidden]`; the default normal
            distribution with standard deviation 0.05 follows Hinton's practical guide (2010).
        bias_initializer: initializer of the own biases `b` and `c`.
        seed: seed of the layer's `keras.random.SeedGenerator` (Gibbs sampling, AIS); `None` for
            a random one.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, `trainable`).

    Calling the layer, `layer(v)`, returns `free_energy(v)`: `[batch]`, nats.

    Example:

    >>> rbm = RBMLayer(num_visible=88, num_hidden=150, cd_steps=1, seed=1)
    >>> rbm.init_visible_bias(frames)              # frames: [num_frames, 88] in {0, 1}
    >>> loss = rbm.cd_loss(batch)                  # minimise: its gradient is the CD-1 update
    >>> v = rbm.sample(batch_size=4, steps=25)     # [4, 88] in {0, 1}
    """

    def __init__(
        self,
        num_visible: int,
        num_hidden: int,
        cd_steps: int = 1,
        persistent: bool = False,
        num_chains: int = 100,
        kernel_initializer: str | keras.initializers.Initializer = "random_normal",
        bias_initializer: str | keras.initializers.Initializer = "zeros",
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.num_visible = check_positive_int(num_visible, "num_visible")
        self.num_hidden = check_positive_int(num_hidden, "num_hidden")
        self.cd_steps = check_positive_int(cd_steps, "cd_steps")
        if not isinstance(persistent, bool):
            raise ValueError(f"`persistent`: expected a bool, got {persistent!r}")
        self.persistent = persistent
        self.num_chains = check_positive_int(num_chains, "num_chains")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # All shapes are known from the arguments: build now (see NADELayer).
        self.build((None, num_visible))

    def build(self, input_shape: tuple) -> None:
        if input_shape[-1] is not None and input_shape[-1] != self.num_visible:
            raise ValueError(
                f"expected inputs with last dimension num_visible={self.num_visible}, got shape {tuple(input_shape)}"
            )
        self.kernel = self.add_weight(
            shape=(self.num_visible, self.num_hidden),
            initializer=self.kernel_initializer,
            name="kernel",
            autocast=False,
        )
        self.visible_bias = self.add_weight(
            shape=(self.num_visible,), initializer=self.bias_initializer, name="visible_bias", autocast=False
        )
        self.hidden_bias = self.add_weight(
            shape=(self.num_hidden,), initializer=self.bias_initializer, name="hidden_bias", autocast=False
        )
        if self.persistent:
            self.persistent_chain = self.add_weight(
                shape=(self.num_chains, self.num_visible),
                initializer="zeros",
                trainable=False,
                name="persistent_chain",
            )

    def call(self, inputs, visible_bias=None, hidden_bias=None):
        """Returns `free_energy(inputs, visible_bias, hidden_bias)`: `[batch]`, nats."""
        return self.free_energy(inputs, visible_bias=visible_bias, hidden_bias=hidden_bias)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0],)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_visible": self.num_visible,
                "num_hidden": self.num_hidden,
                "cd_steps": self.cd_steps,
                "persistent": self.persistent,
                "num_chains": self.num_chains,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config

    # Conditionals and energies.

    def hidden_probs(self, v, hidden_bias=None):
        """`p(h_j = 1 | v) = sigmoid(c + v W)`: `[batch, num_hidden]`, for `v` `[batch, num_visible]`."""
        hidden_bias = self._bias(self.hidden_bias, hidden_bias)
        return ops.sigmoid(ops.matmul(ops.cast(v, self.compute_dtype), self._kernel()) + hidden_bias)

    def visible_probs(self, h, visible_bias=None):
        """`p(v_i = 1 | h) = sigmoid(b + h W^T)`: `[batch, num_visible]`, for `h` `[batch, num_hidden]`."""
        visible_bias = self._bias(self.visible_bias, visible_bias)
        return ops.sigmoid(ops.matmul(ops.cast(h, self.compute_dtype), ops.transpose(self._kernel())) + visible_bias)

    def free_energy(self, v, visible_bias=None, hidden_bias=None):
        """Free energy `F(v) = -v.b - sum_j softplus(c_j + (v W)_j)`.

        Args:
            v: frames `[batch, num_visible]` (binary, or probabilities for a mean-field value).
            visible_bias: `[batch, num_visible]` or `None` (the layer's own).
            hidden_bias: `[batch, num_hidden]` or `None` (the layer's own).

        Returns:
            `F(v)`: `[batch]`, nats; `log p(v) = -F(v) - log Z`.
        """
        v = ops.cast(v, self.compute_dtype)
        visible_bias = self._bias(self.visible_bias, visible_bias)
        hidden_bias = self._bias(self.hidden_bias, hidden_bias)
        return -ops.sum(v * visible_bias, axis=-1) - ops.sum(
            ops.softplus(ops.matmul(v, self._kernel()) + hidden_bias), axis=-1
        )

    # Sampling.

    def conditional_logits(self, v, visible_bias=None, hidden_bias=None):
        """Exact logits of each unit given all the others, `p(v_d = 1 | v_-d) = sigmoid(logit_d)`.

        `logit_d = F(v with v_d = 0) - F(v with v_d = 1) = b_d + sum_j [softplus(a_j + (1 - v_d)
        W_dj) - softplus(a_j - v_d W_dj)]` with `a = c + v W`: the RBM's teacher-forced
        conditionals (what NADE's `p(x_d | x_<d)` is for a NADE), for frame metrics and the
        pseudo-log-likelihood `sum_d log p(v_d | v_-d)`. Blocks of units keep the working memory
        at about 1,024 floats per frame, and frames are taken in chunks of about
        `CONDITIONAL_CHUNK_ELEMENTS` frame x unit x hidden terms, so the working memory is bounded
        whatever the batch. No gradient flows through it (it serves evaluation).

        Args:
            v: binary frames `[batch, num_visible]`.
            visible_bias: `[batch, num_visible]` or `None` (the layer's own).
            hidden_bias: `[batch, num_hidden]` or `None` (the layer's own).

        Returns:
            Logits `[batch, num_visible]`.
        """
        v = ops.stop_gradient(ops.cast(v, self.compute_dtype))
        visible_bias, hidden_bias = self._batched_biases(visible_bias, hidden_bias)
        visible_bias = ops.broadcast_to(ops.stop_gradient(visible_bias), ops.shape(v))
        hidden_bias = ops.broadcast_to(ops.stop_gradient(hidden_bias), (ops.shape(v)[0], self.num_hidden))
        return _in_row_chunks(
            lambda i, v, visible, hidden: self._conditional_logits_chunk(v, visible, hidden),
            (v, visible_bias, hidden_bias),
            max(1, CONDITIONAL_CHUNK_ELEMENTS // (self.num_visible * self.num_hidden)),
            (self.num_visible,),
            self.compute_dtype,
        )

    def _conditional_logits_chunk(self, v, visible_bias, hidden_bias):
        """`conditional_logits` of one chunk of frames."""
        kernel = ops.stop_gradient(self._kernel())
        pre = ops.matmul(v, kernel) + hidden_bias  # a: [batch, H]
        # Blocks of units, `[batch, block, H]` at a time: about 1,024 floats per frame.
        block = max(1, _CONDITIONAL_BLOCK_ELEMENTS // self.num_hidden)
        gains = []
        for start in range(0, self.num_visible, block):
            v_block = v[:, start : start + block, None]  # [batch, block, 1]
            w_block = kernel[None, start : start + block, :]  # [1, block, H]
            on = ops.softplus(pre[:, None, :] + (1.0 - v_block) * w_block)
            off = ops.softplus(pre[:, None, :] - v_block * w_block)
            gains.append(ops.sum(on - off, axis=-1))
        return visible_bias + ops.concatenate(gains, axis=-1)

    def gibbs(
        self,
        v,
        steps: int,
        visible_bias=None,
        hidden_bias=None,
        temperature=1.0,
        seed=None,
        clamp=None,
        clamp_mask=None,
    ):
        """Runs `steps` steps of block Gibbs sampling `v -> h -> v` in a compiled loop.

        Args:
            v: start of the chains, `[batch, num_visible]`.
            steps: the number of Gibbs steps (int >= 0, or a scalar integer tensor).
            visible_bias: `[batch, num_visible]` or `None` (the layer's own).
            hidden_bias: `[batch, num_hidden]` or `None` (the layer's own).
            temperature: samples `exp(-E / temperature)`: every pre-activation is divided by it
                (float or scalar tensor, >= 0); `0` makes each half-step deterministic
                (a unit is on when its pre-activation is positive).
            seed: `[2]` integers, the random stream of this call (e.g. a step's stream inside a
                compiled generation loop, `multinn.backend.fold_seed`); `None`: one draw of the
                layer's `SeedGenerator`.
            clamp: `[batch, num_visible]` values of the clamped units, or `None`.
            clamp_mask: `[num_visible]` or `[batch, num_visible]`, 1 where `clamp` holds: those
                units keep their clamped value in every step, so the chain samples the other
                units from their conditional distribution given them (exactly, as the chain
                mixes: block Gibbs with clamped units leaves `p(free | clamped)` invariant).

        Returns:
            The binary visible states after `steps` steps, `[batch, num_visible]`.
        """
        if isinstance(steps, (int, np.integer)) and (isinstance(steps, bool) or steps < 0):
            raise ValueError(f"`steps`: expected a non-negative integer, got {steps!r}")
        if isinstance(temperature, (int, float)) and temperature < 0:
            raise ValueError(f"`temperature`: expected a number >= 0, got {temperature!r}")
        visible_bias = self._bias(self.visible_bias, visible_bias)
        hidden_bias = self._bias(self.hidden_bias, hidden_bias)
        kernel = self._kernel()
        temperature = ops.cast(temperature, self.compute_dtype)
        positive = ops.greater(temperature, 0.0)
        safe_temperature = ops.where(positive, temperature, ops.ones_like(temperature))

        if seed is None:
            seed = self.seed_generator.next()  # one draw per call: the loop derives its streams from it

        def draw(pre_activation, counter):
            sampled = self._bernoulli(ops.sigmoid(pre_activation / safe_temperature), seed, counter)
            return ops.where(positive, sampled, ops.cast(ops.greater(pre_activation, 0.0), self.compute_dtype))

        if clamp is not None:
            clamp = ops.cast(clamp, self.compute_dtype)
            clamp_mask = ops.cast(clamp_mask, self.compute_dtype)
            v = clamp_mask * clamp + (1.0 - clamp_mask) * ops.cast(v, self.compute_dtype)

        def step(i, v):
            h = draw(ops.matmul(v, kernel) + hidden_bias, 2 * i)
            v = draw(ops.matmul(h, ops.transpose(kernel)) + visible_bias, 2 * i + 1)
            return v if clamp is None else clamp_mask * clamp + (1.0 - clamp_mask) * v

        return ops.fori_loop(0, steps, step, ops.cast(v, self.compute_dtype))

    def sample(
        self,
        visible_bias=None,
        hidden_bias=None,
        batch_size: int | None = None,
        steps: int = 25,
        initial=None,
        temperature=1.0,
        seed=None,
        clamp=None,
        clamp_mask=None,
    ):
        """Samples frames with a Gibbs chain; traceable in a compiled function (a model's step, `jax.jit`).

        The chain starts at `initial`, or at independent `Bernoulli(sigmoid(b))` frames, and runs
        `steps` Gibbs steps (25 by default, as in Boulanger-Lewandowski et al. 2012). Randomness
        comes from the layer's `SeedGenerator` only, so a seed fixes the samples.

        Args:
            visible_bias: `[batch, num_visible]` or `None` (the layer's own).
            hidden_bias: `[batch, num_hidden]` or `None` (the layer's own).
            batch_size: number of frames when no bias and no `initial` is given (default 1).
            steps: the number of Gibbs steps.
            initial: start of the chains `[batch, num_visible]`, or `None`.
            temperature: see `gibbs`.
            seed: `[2]` integers, the random stream of this call (see `gibbs`); `None`: the
                layer's `SeedGenerator`.
            clamp: `[batch, num_visible]` values of clamped units (see `gibbs`), or `None`.
            clamp_mask: `[num_visible]` or `[batch, num_visible]`, 1 where `clamp` holds.

        Returns:
            Binary frames `[batch, num_visible]` (the clamped units equal to `clamp`).
        """
        chain_seed = None if seed is None else backend.fold_seed(seed, 1)
        if initial is None:
            if visible_bias is not None:
                batch = ops.shape(visible_bias)[0]
            elif hidden_bias is not None:
                batch = ops.shape(hidden_bias)[0]
            else:
                batch = 1 if batch_size is None else check_positive_int(batch_size, "batch_size")
            bias = self._bias(self.visible_bias, visible_bias)
            probs = ops.broadcast_to(ops.sigmoid(bias), (batch, self.num_visible))
            initial = self._bernoulli(probs, self.seed_generator.next() if seed is None else seed, 0)
        return self.gibbs(
            initial,
            steps,
            visible_bias=visible_bias,
            hidden_bias=hidden_bias,
            temperature=temperature,
            seed=chain_seed,
            clamp=clamp,
            clamp_mask=clamp_mask,
        )

    # Training.

    def cd_terms(self, v, visible_bias=None, hidden_bias=None):
        """The CD-k surrogate of each frame, `F(v) - F(stop_gradient(v_k))`: `[batch]`.

        `v_k` ends a `cd_steps`-step Gibbs chain from the frame itself; the mean of the terms
        (weighted, for padded frames) is `cd_loss` without persistent chains.

        Args:
            v: binary training frames `[batch, num_visible]`.
            visible_bias: `[batch, num_visible]` or `None` (the layer's own).
            hidden_bias: `[batch, num_hidden]` or `None` (the layer's own).
        """
        v = ops.cast(v, self.compute_dtype)
        negative = ops.stop_gradient(self.gibbs(v, self.cd_steps, visible_bias, hidden_bias))
        return self.free_energy(v, visible_bias, hidden_bias) - self.free_energy(negative, visible_bias, hidden_bias)

    def cd_loss(self, v, visible_bias=None, hidden_bias=None, sample_weight=None):
        """Contrastive-divergence surrogate loss: `mean F(v) - mean F(stop_gradient(v_k))`.

        Its gradient is minus the CD-k update (Hinton 2002) of every weight and of the biases,
        external ones included: `dL/dW = -(<v p(h|v)>_data - <v_k p(h|v_k)>) / batch`. `v_k` is
        the end of a `cd_steps`-step Gibbs chain that starts at the data, or (persistent) at the
        persistent chains, which this call then advances.

        With `sample_weight`, both means are weighted means over the frames (the chain of frame i
        starts at frame i; a persistent negative phase stays the plain mean over the chains). A
        frame of weight 0 (padding) adds nothing to the loss or to any gradient: with 0/1 weights
        the loss is that of the frames of weight 1 alone, on the same chains, without the dynamic
        shapes of selecting them. All-zero weights give 0.

        Args:
            v: binary training frames `[batch, num_visible]`.
            visible_bias: `[batch, num_visible]` or `None` (the layer's own).
            hidden_bias: `[batch, num_hidden]` or `None` (the layer's own).
            sample_weight: non-negative weights of the frames `[batch]`, e.g. a padding mask;
                `None`: all 1.

        Returns:
            The scalar loss, nats (a surrogate: its value is not a likelihood).
        """
        v = ops.cast(v, self.compute_dtype)
        if self.persistent:
            if visible_bias is not None or hidden_bias is not None:
                raise ValueError(
                    "persistent chains use the layer's own biases; got external biases: "
                    f"visible_bias={visible_bias!r}, hidden_bias={hidden_bias!r}"
                )
            negative = ops.stop_gradient(self.gibbs(self.persistent_chain, self.cd_steps))
            self.persistent_chain.assign(negative)
            negative_energy = ops.mean(self.free_energy(negative))
        else:
            negative = ops.stop_gradient(self.gibbs(v, self.cd_steps, visible_bias, hidden_bias))
            negative_energy = _weighted_mean(self.free_energy(negative, visible_bias, hidden_bias), sample_weight)
        return _weighted_mean(self.free_energy(v, visible_bias, hidden_bias), sample_weight) - negative_energy

    def init_visible_bias(self, frames, epsilon: float = 1e-3) -> None:
        """Sets the visible bias to `log(p_i / (1 - p_i))`, `p_i` the frequency of unit i in `frames`.

        As recommended by Hinton's practical guide (2010); `p_i` is clipped to
        `[epsilon, 1 - epsilon]` so that units never on in the data get a finite bias.

        Args:
            frames: binary frames `[num_frames, num_visible]` (array or tensor).
            epsilon: clipping of the frequencies.
        """
        if not 0.0 < epsilon < 0.5:
            raise ValueError(f"`epsilon`: expected a number in (0, 0.5), got {epsilon!r}")
        frames = ops.cast(ops.convert_to_tensor(frames), self.visible_bias.dtype)
        if len(frames.shape) != 2 or frames.shape[-1] != self.num_visible:
            raise ValueError(f"expected frames of shape [num_frames, {self.num_visible}], got {tuple(frames.shape)}")
        p = ops.clip(ops.mean(frames, axis=0), epsilon, 1.0 - epsilon)
        self.visible_bias.assign(ops.log(p) - ops.log1p(-p))

    def pretrain(
        self,
        frames,
        epochs: int = 1,
        batch_size: int = 64,
        learning_rate: float = 0.1,
        momentum: float = 0.9,
        verbose: int = 0,
    ) -> dict:
        """Pre-trains the RBM alone on `frames`: CD-k (or PCD-k) with SGD and momentum.

        The visible bias is first set from the frames' unit frequencies (`init_visible_bias`);
        then `cd_loss` is minimised with SGD and momentum through `keras.Model.fit`, on shuffled
        batches, in `fit`'s compiled step on any backend (Hinton's practical guide, 2010: on CD's
        noisy gradients this learns faster than Adam). `DBNEncoder.pretrain` trains each of its
        RBMs so, and `RNNRBM.pretrain_on_frames` its RBM.

        Args:
            frames: binary frames `[num_frames, num_visible]` (NumPy array or tensor).
            epochs: passes over the frames.
            batch_size: frames per update.
            learning_rate: SGD's learning rate.
            momentum: SGD's momentum.
            verbose: `fit`'s verbosity.

        Returns:
            The `History.history` dict of the `fit`, for monitoring: per epoch, `"loss"` (the CD
            surrogate, not a likelihood) and `"reconstruction_error"` (the mean squared error per
            unit of the mean-field reconstruction `visible_probs(hidden_probs(v))`, averaged over
            the epoch's batches, each before its update).
        """
        check_positive_int(epochs, "epochs")
        check_positive_int(batch_size, "batch_size")
        frames = np.asarray(ops.convert_to_numpy(frames), dtype=self.compute_dtype)
        if frames.ndim != 2 or frames.shape[-1] != self.num_visible:
            raise ValueError(f"expected frames of shape [num_frames, {self.num_visible}], got {frames.shape}")
        self.init_visible_bias(frames)
        trainer = _CDTrainer(self)
        trainer.compile(
            optimizer=keras.optimizers.SGD(learning_rate, momentum=momentum),
            metrics=[keras.metrics.MeanSquaredError(name="reconstruction_error")],
        )
        history = trainer.fit(frames, frames, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
        return history.history

    # Likelihood.

    def log_partition(
        self,
        method: str = "exact",
        visible_bias=None,
        hidden_bias=None,
        num_chains: int = 100,
        num_temperatures: int = 1000,
    ):
        """Log partition function `log Z`, nats.

        Args:
            method: `"exact"`: enumerates all states of the smaller side (at most
                `EXACT_MAX_UNITS` = 20 units); `"ais"`: annealed importance sampling (Salakhutdinov &
                Murray 2008) from the independent model with the same visible bias (W = 0), with
                `num_chains` chains and `num_temperatures` inverse temperatures evenly spaced in
                [0, 1]. AIS is stochastic (the layer's `SeedGenerator`); in expectation it
                under-estimates `log Z` slightly.
            visible_bias: `[batch, num_visible]` or `None` (the layer's own).
            hidden_bias: `[batch, num_hidden]` or `None` (the layer's own).
            num_chains: AIS chains per partition function.
            num_temperatures: AIS intermediate distributions.

        Returns:
            A scalar with the layer's own biases; `[batch]` with external biases.
        """
        if method not in ("exact", "ais"):
            raise ValueError(f"`method`: expected 'exact' or 'ais', got {method!r}")
        external = visible_bias is not None or hidden_bias is not None
        visible_bias, hidden_bias = self._batched_biases(visible_bias, hidden_bias)
        if method == "exact":
            log_z = self._log_partition_exact(visible_bias, hidden_bias)
        else:
            log_z = self._log_partition_ais(
                visible_bias,
                hidden_bias,
                check_positive_int(num_chains, "num_chains"),
                check_positive_int(num_temperatures, "num_temperatures"),
            )
        return log_z if external else log_z[0]

    def log_prob(
        self,
        v,
        visible_bias=None,
        hidden_bias=None,
        method: str | None = None,
        num_chains: int = 100,
        num_temperatures: int = 1000,
    ):
        """Log-likelihood `log p(v) = -F(v) - log Z`, nats.

        Args:
            v: binary frames `[batch, num_visible]`.
            visible_bias: `[batch, num_visible]` or `None` (the layer's own).
            hidden_bias: `[batch, num_hidden]` or `None` (the layer's own).
            method: `"exact"` or `"ais"` for `log_partition`; `None`: exact when the smaller side
                has at most `EXACT_MAX_UNITS` = 20 units and, with external biases (one partition
                function per example), when enumerating costs less than AIS
                (`exact_is_cheaper`); AIS otherwise.
            num_chains: AIS chains per partition function.
            num_temperatures: AIS intermediate distributions.

        Returns:
            `[batch]`, nats.
        """
        if method is None:
            external = visible_bias is not None or hidden_bias is not None
            method = "exact" if self.log_prob_is_exact(external, num_chains, num_temperatures) else "ais"
        log_z = self.log_partition(method, visible_bias, hidden_bias, num_chains, num_temperatures)
        return -self.free_energy(v, visible_bias, hidden_bias) - log_z

    def log_prob_is_exact(self, external: bool = True, num_chains: int = 100, num_temperatures: int = 1000) -> bool:
        """Whether `log_prob(method=None)` enumerates the partition function (else AIS estimates it).

        Args:
            external: Biases given per example (one partition function each), as in an RNN-RBM.
            num_chains: The AIS chains it would otherwise run.
            num_temperatures: The AIS temperatures it would otherwise run.
        """
        if not external:
            return min(self.num_visible, self.num_hidden) <= EXACT_MAX_UNITS
        return exact_is_cheaper(self.num_visible, self.num_hidden, num_chains, num_temperatures)

    # Helpers.

    def _kernel(self):
        # The weights do not autocast (an enclosing layer's 16-bit scope would round them): they
        # are cast here, to float32 inside MultINN models, to the compute dtype of a mixed RBM.
        return ops.cast(self.kernel, self.compute_dtype)

    def _bias(self, own, external):
        return ops.cast(own if external is None else external, self.compute_dtype)

    def _bernoulli(self, p, seed, counter):
        """Binary samples of probabilities `p`, from the random stream `(seed, counter)` (see
        `multinn.backend.stateless_uniform`: draws inside compiled loops on any backend)."""
        uniform = backend.stateless_uniform(ops.shape(p), seed, counter, dtype=self.compute_dtype)
        return ops.cast(ops.less(uniform, p), self.compute_dtype)

    def _batched_biases(self, visible_bias, hidden_bias):
        """Both biases as `[batch, units]` (batch 1 for the own ones), with matching batch sizes."""
        visible_bias = self._bias(self.visible_bias, visible_bias)
        hidden_bias = self._bias(self.hidden_bias, hidden_bias)
        if len(visible_bias.shape) == 1:
            visible_bias = visible_bias[None, :]
        if len(hidden_bias.shape) == 1:
            hidden_bias = hidden_bias[None, :]
        rows = (ops.shape(visible_bias)[0], ops.shape(hidden_bias)[0])
        # Static sizes stay Python ints (JAX needs concrete shapes under `jax.jit`).
        batch = max(rows) if all(isinstance(r, int) for r in rows) else ops.maximum(*rows)
        return (
            ops.broadcast_to(visible_bias, (batch, self.num_visible)),
            ops.broadcast_to(hidden_bias, (batch, self.num_hidden)),
        )

    def _log_partition_exact(self, visible_bias, hidden_bias):
        """Enumerates the smaller side: `[batch]`."""
        num_units = min(self.num_visible, self.num_hidden)
        if num_units > EXACT_MAX_UNITS:
            raise ValueError(
                f"exact log_partition enumerates 2**min(num_visible, num_hidden) states; min(num_visible, "
                f"num_hidden) = {num_units} > {EXACT_MAX_UNITS}: use method='ais'"
            )
        kernel = self._kernel()
        if self.num_hidden <= self.num_visible:
            # log Z = logsumexp_h [h.c + sum_i softplus(b_i + (W h)_i)]
            enumerated_bias, other_bias, kernel = hidden_bias, visible_bias, ops.transpose(kernel)
        else:
            # log Z = logsumexp_v [v.b + sum_j softplus(c_j + (v W)_j)] = logsumexp_v [-F(v)]
            enumerated_bias, other_bias = visible_bias, hidden_bias
        batch = visible_bias.shape[0] or 1
        other_units = other_bias.shape[-1]
        chunk = max(1, min(2**num_units, _ENUMERATION_CHUNK_ELEMENTS // (batch * other_units)))
        partial = []
        for start in range(0, 2**num_units, chunk):
            codes = np.arange(start, min(start + chunk, 2**num_units))
            states = ops.convert_to_tensor(
                ((codes[:, None] >> np.arange(num_units)) & 1).astype(self.compute_dtype)
            )  # [states, units]
            scores = ops.matmul(enumerated_bias, ops.transpose(states)) + ops.sum(
                ops.softplus(ops.matmul(states, kernel)[None, :, :] + other_bias[:, None, :]), axis=-1
            )  # [batch, states]
            partial.append(ops.logsumexp(scores, axis=-1))
        return ops.logsumexp(ops.stack(partial, axis=-1), axis=-1)

    def _log_partition_ais(self, visible_bias, hidden_bias, num_chains: int, num_temperatures: int):
        """AIS from the W = 0 model with the same visible bias: `[batch]`.

        With `f_beta(v) = v.b + sum_j softplus(beta (c_j + (v W)_j))`, `f_0` is the unnormalised
        log-density of independent `Bernoulli(sigmoid(b))` units times `2**num_hidden`, whose
        `log Z_0 = sum_i softplus(b_i) + num_hidden log 2`, and `f_1(v) = -F(v)`.

        Batches of more than `AIS_CHUNK_ROWS // num_chains` partition functions (or of unknown
        size) run in chunks of at most that many, one after the other (`_in_row_chunks`), so that
        the working memory stays bounded whatever the batch (each chunk draws from its own stream
        of the call's seed).
        """
        seed = self.seed_generator.next()
        return _in_row_chunks(
            lambda i, visible, hidden: self._ais_chunk(
                visible, hidden, num_chains, num_temperatures, seed if i is None else backend.fold_seed(seed, i)
            ),
            (visible_bias, hidden_bias),
            max(1, AIS_CHUNK_ROWS // num_chains),
            (),
            self.compute_dtype,
        )

    def _ais_chunk(self, visible_bias, hidden_bias, num_chains: int, num_temperatures: int, seed):
        """`_log_partition_ais` of one chunk of partition functions, from the random stream `seed`."""
        batch = ops.shape(visible_bias)[0]
        log_z0 = ops.sum(ops.softplus(visible_bias), axis=-1) + self.num_hidden * math.log(2.0)
        kernel = self._kernel()
        visible_bias = ops.repeat(visible_bias, num_chains, axis=0)  # [batch * chains, V]
        hidden_bias = ops.repeat(hidden_bias, num_chains, axis=0)
        dtype = self.compute_dtype
        betas = ops.linspace(0.0, 1.0, num_temperatures + 1, dtype=dtype)

        def step(k, state):
            v, log_w = state
            beta_prev, beta = ops.take(betas, k - 1), ops.take(betas, k)
            pre = ops.matmul(v, kernel) + hidden_bias
            log_w = log_w + ops.sum(ops.softplus(beta * pre) - ops.softplus(beta_prev * pre), axis=-1)
            # A Gibbs step that leaves p_beta(v) invariant.
            h = self._bernoulli(ops.sigmoid(beta * pre), seed, 2 * k)
            v = self._bernoulli(
                ops.sigmoid(visible_bias + beta * ops.matmul(h, ops.transpose(kernel))), seed, 2 * k + 1
            )
            return v, log_w

        v0 = self._bernoulli(ops.sigmoid(visible_bias), seed, 0)
        _, log_w = ops.fori_loop(1, num_temperatures + 1, step, (v0, ops.zeros(ops.shape(v0)[:1], dtype=dtype)))
        log_w = ops.reshape(log_w, (batch, num_chains))
        return log_z0 + ops.logsumexp(log_w, axis=-1) - math.log(num_chains)


_CONDITIONAL_BLOCK_ELEMENTS = 1024
"""`RBMLayer.conditional_logits` works on blocks of units of about this many `unit x hidden` pairs."""


def _in_row_chunks(fn, tensors, per_chunk: int, trailing: tuple, dtype):
    """`fn(i, *chunk)` over chunks of at most `per_chunk` rows of `tensors` (same leading size),
    one after the other in a compiled loop, concatenated: `[rows, *trailing]`.

    A batch of static size up to `per_chunk` is one call `fn(None, *tensors)`. Otherwise the rows
    are padded (with zeros) to `chunks` equal chunks of at most `per_chunk` rows and chunk `i`
    (a scalar tensor) is `fn(i, ...)`; the padding rows' outputs are dropped. Bounds the working
    memory of per-row work that has no gradient (AIS, exact conditionals) on every backend.
    """
    rows = tensors[0].shape[0]
    if rows is not None and rows <= per_chunk:
        return fn(None, *tensors)
    rows = ops.shape(tensors[0])[0]
    chunks = ops.maximum((rows + per_chunk - 1) // per_chunk, 1)  # one (empty) chunk for no rows
    size = (rows + chunks - 1) // chunks  # balanced: at most `per_chunk` rows, little padding
    padding = chunks * size - rows
    chunked = [
        ops.reshape(ops.pad(t, [[0, padding]] + [[0, 0]] * (len(t.shape) - 1)), (chunks, size, *t.shape[1:]))
        for t in tensors
    ]

    def step(i, out):
        part = fn(i, *[ops.take(t, i, axis=0) for t in chunked])
        return ops.slice_update(out, (i, 0, *[0] * len(trailing)), part[None])

    out = backend.serial_fori_loop(0, chunks, step, ops.zeros((chunks, size, *trailing), dtype=dtype))
    return ops.reshape(out, (-1, *trailing))[:rows]


def _weighted_mean(values, sample_weight):
    """The mean of `values` `[batch]`, weighted by `sample_weight` `[batch]` or `None`; 0 when all weights are 0."""
    if sample_weight is None:
        return ops.mean(values)
    sample_weight = ops.cast(sample_weight, values.dtype)
    total = ops.sum(sample_weight)
    return ops.sum(sample_weight * values) / ops.where(total > 0, total, ops.ones_like(total))


class _CDTrainer(keras.Model):
    """Trains one RBM with `fit`: the CD-k surrogate is the only loss; the output, the mean-field
    reconstruction of the batch `[batch, num_visible]`, feeds the metrics."""

    def __init__(self, rbm: RBMLayer) -> None:
        super().__init__(name=f"{rbm.name}_cd_trainer", dtype=rbm.dtype_policy)
        self.rbm = rbm

    def call(self, inputs):
        self.add_loss(self.rbm.cd_loss(inputs))
        return self.rbm.visible_probs(self.rbm.hidden_probs(inputs))
