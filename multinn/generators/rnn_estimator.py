"""`RNNEstimator`: an LSTM stack whose state conditions one or more frame estimators."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from multinn.utils.checks import check_positive_int, check_units


class RNNEstimator(keras.layers.Layer):
    """Base of RNN-NADE, RNN-RBM and RNN-MultiNADE.

    An LSTM stack reads the input of each step (the encoded previous frame, possibly with
    feedback from other tracks) and a Dense head per estimator maps its output to the
    estimator's conditional biases for the frame of that step. Teacher forcing: `inputs[:, t]`
    must only depend on frames before `t`; the caller shifts. The layer knows nothing about
    tracks: a frame is a binary vector of `sum(num_visible)` units, one block per estimator.

    Subclasses create `self.estimators` (frame estimators) and `self.heads` (one list of Dense
    layers per estimator, mapping the RNN output to the estimator's biases) and implement the
    per-frame methods `frame_log_prob`, `frame_loss`, `frame_predictions`, `sample_frame`.

    Args:
        input_dim: Features read per step.
        rnn_units: LSTM layer sizes, e.g. `[128, 128, 128]`.
        dropout: Dropout rate on the output of every LSTM layer (training only).
        seed: Seed of dropout and of the estimators' samplers.
        context_dim: Features of a context that each estimator's heads read next to the RNN
            output (`head_input_dim = output_dim + context_dim`; 0: none). MultINN's in-frame
            conditioning gives each track's estimator the current frame of the tracks before it
            this way (`MultINN`'s `in_frame`); the per-frame methods then take, instead of the RNN
            outputs, a list of one `[n, head_input_dim]` input per estimator.
        **kwargs: Base `keras.layers.Layer` arguments.
    """

    def __init__(
        self,
        input_dim: int,
        rnn_units: Sequence[int] = (128,),
        dropout: float = 0.0,
        seed: int | None = None,
        context_dim: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dim = check_positive_int(input_dim, "input_dim")
        if not (isinstance(context_dim, int) and context_dim >= 0):
            raise ValueError(f"`context_dim`: expected an integer >= 0, got {context_dim!r}")
        self.context_dim = context_dim
        self.rnn_units = check_units(rnn_units, "rnn_units")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout`: expected a rate in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.seed = seed
        offset = lambda i: None if seed is None else seed + i  # noqa: E731
        self.lstms = [
            keras.layers.LSTM(units, return_sequences=True, name=f"lstm_{i}") for i, units in enumerate(self.rnn_units)
        ]
        self.dropout_layer = keras.layers.Dropout(self.dropout, seed=offset(101), name="dropout")
        self._seed_offset = offset

    # ------------------------------------------------------------------ building
    def build_rnn(self) -> None:
        size = self.input_dim
        for lstm in self.lstms:
            lstm.build((None, None, size))
            size = lstm.units
        for heads in self.heads:
            for head in heads:
                head.build((None, self.head_input_dim))

    @property
    def output_dim(self) -> int:
        return self.rnn_units[-1]

    @property
    def head_input_dim(self) -> int:
        """Features the heads read: the RNN output and the context (`context_dim`)."""
        return self.output_dim + self.context_dim

    @property
    def num_parts(self) -> int:
        return len(self.estimators)

    # ------------------------------------------------------------------ sequence API
    def rnn_outputs(self, inputs, training: bool = False):
        """LSTM stack over a sequence: `[batch, time, input_dim]` -> `[batch, time, rnn_units[-1]]`."""
        x = inputs
        for lstm in self.lstms:
            x = self.dropout_layer(lstm(x, training=training), training=training)
        return x

    def step_log_probs(self, inputs, targets, training: bool = False):
        """Log-likelihood of every step and part: `[batch, time, num_parts]`, nats.

        Args:
            inputs: `[batch, time, input_dim]`, step t built from frames before t.
            targets: binary frames `[batch, time, sum(num_visible)]`.
        """
        outputs = self.rnn_outputs(inputs, training=training)
        batch, time = ops.shape(targets)[0], ops.shape(targets)[1]
        flat_out = ops.reshape(outputs, (-1, self.output_dim))
        flat_frames = ops.reshape(targets, (-1, ops.shape(targets)[-1]))
        log_p = self.frame_log_prob(flat_out, flat_frames)
        return ops.reshape(log_p, (batch, time, self.num_parts))

    def log_prob(self, inputs, targets, mask=None, training: bool = False):
        """Sequence log-likelihood `sum_t log p(x_t | x_<t)` over real steps: `[batch]`, nats.

        Args:
            inputs: `[batch, time, input_dim]`, step t built from frames before t.
            targets: binary frames `[batch, time, sum(num_visible)]`.
            mask: `[batch, time]`, 1 for real steps; `None`: all real.
        """
        per_step = ops.sum(self.step_log_probs(inputs, targets, training=training), axis=-1)
        if mask is not None:
            per_step = per_step * ops.cast(mask, per_step.dtype)
        return ops.sum(per_step, axis=-1)

    # ------------------------------------------------------------------ step API
    def initial_state(self, batch_size):
        """Zero LSTM states: a list of `[h, c]` per layer, each `[batch, units]`."""
        return [[ops.zeros((batch_size, u)), ops.zeros((batch_size, u))] for u in self.rnn_units]

    def step(self, inputs, states, training: bool = False):
        """One step of the LSTM stack: `([batch, input_dim], states) -> ([batch, units], states)`."""
        x, new_states = inputs, []
        for lstm, state in zip(self.lstms, states, strict=True):
            x, state = lstm.cell(x, state, training=training)
            x = self.dropout_layer(x, training=training)
            new_states.append(list(state))
        return x, new_states

    # ------------------------------------------------------------------ per-frame API
    def biases(self, outputs):
        """Conditional biases of each estimator: a list (per estimator) of lists of tensors.

        `outputs`: the RNN outputs `[n, output_dim]`, read by every estimator's heads, or (with a
        `context_dim`) a list of one head input `[n, head_input_dim]` per estimator. The biases
        are cast to the estimator's compute dtype: under a mixed dtype policy the heads compute in
        16 bits, the estimators (and so the likelihood) in float32.
        """
        return [self.part_biases(i, outputs) for i in range(self.num_parts)]

    def part_biases(self, index: int, outputs) -> list:
        """The conditional biases of estimator `index` (see `biases`)."""
        inputs = outputs[index] if isinstance(outputs, (list, tuple)) else outputs
        estimator = self.estimators[index]
        return [ops.cast(head(inputs), estimator.compute_dtype) for head in self.heads[index]]

    def split_frames(self, frames):
        """Split `[n, sum(num_visible)]` into one block per estimator."""
        sizes = [est.num_visible for est in self.estimators]
        if len(sizes) == 1:
            return [frames]
        bounds = [sum(sizes[:i]) for i in range(1, len(sizes))]
        return ops.split(frames, bounds, axis=-1)

    @property
    def num_units(self) -> int:
        """Units of a whole frame, `sum(num_visible)` over the estimators."""
        return sum(est.num_visible for est in self.estimators)

    def frame_log_prob(self, outputs, frames):
        """`log p(frame | RNN output)` per estimator: `[n, num_parts]`, nats (RBM: AIS estimate)."""
        raise NotImplementedError

    def frame_scores(self, outputs, frames, likelihood: bool = True, predictions: bool = True) -> dict:
        """Everything a training or test step needs from one pass over `[n]` frames.

        Args:
            outputs: RNN outputs `[n, output_dim]`.
            frames: binary frames `[n, units]`.
            likelihood: compute the log-likelihood terms.
            predictions: compute `probs`; an estimator whose predictions cost more than its
                loss (RBM) leaves them out when `False`.

        Returns:
            A dict with `probs` `[n, units]` (predicted note probabilities, for frame metrics),
            `dim_log_prob` `[n, units]` (the chain-rule terms of the log-likelihood, when the
            estimator has them) and/or `log_prob` `[n, num_parts]` (when `likelihood` is asked for
            and the estimator has no per-unit terms).
        """
        raise NotImplementedError

    def frame_loss_terms(self, outputs, frames, scores: dict):
        """Training loss of each of `[n]` frames, `[n]`, given `frame_scores` (their weighted mean is `frame_loss`)."""
        raise NotImplementedError

    def frame_loss(self, outputs, frames, weights, scores: dict):
        """Training loss (a scalar) of `[n]` frames: the mean of `frame_loss_terms` weighted by `weights` `[n]`."""
        terms = self.frame_loss_terms(outputs, frames, scores)
        weights = ops.cast(weights, terms.dtype)
        return ops.sum(terms * weights) / ops.maximum(ops.sum(weights), 1.0)

    def sample_frame(self, outputs, temperature=1.0, seed=None, clamp=None, clamp_mask=None):
        """Binary frames `[n, units]` sampled given the RNN outputs `[n, rnn_units[-1]]`.

        `seed` (`[2]` integers): the random stream of the call (estimator i draws from
        `multinn.backend.fold_seed(seed, i)`); `None`: the estimators' `SeedGenerator`s.
        `clamp` `[n, units]` and `clamp_mask` (`[units]` or `[n, units]`, 1 where clamped): units
        held at given values while the others are drawn given them, inside the estimator."""
        raise NotImplementedError

    def sample_part(self, index: int, outputs, temperature=1.0, seed=None, clamp=None, clamp_mask=None):
        """The block `[n, num_visible]` of estimator `index` alone, sampled given `outputs` (see
        `biases`); `seed`, `clamp` and `clamp_mask` as in `sample_frame`, for this block."""
        raise NotImplementedError

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "input_dim": self.input_dim,
                "rnn_units": list(self.rnn_units),
                "dropout": self.dropout,
                "seed": self.seed,
                "context_dim": self.context_dim,
            }
        )
        return config
