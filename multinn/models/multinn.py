"""`MultINN`: the base Keras model of the four MultINN modes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from multinn.choices import ENCODERS, GENERATORS
from multinn.data.pianoroll_dataset import PianorollDataset
from multinn.data.pianoroll_spec import PianorollSpec
from multinn.errors import GenerationError, SpecError
from multinn.generators import RNNNADE, RNNRBM, RNNMultiNADE
from multinn.layers import DBNEncoder, NADELayer, PassEncoder, RBMLayer
from multinn.metrics.frame_metrics import FrameMetrics
from multinn.utils.checks import check_positive_int, check_temperature, check_units

GENERATION_BYTES_PER_UNIT = 21
"""Bytes the generation loop holds per pitch, track, step and sequence: float32 clamp, padded
primer, the loop's frame buffer and its copy out of the compiled call (4 bytes each), the bool
result, and a margin of 4 for the backend's copies."""
GENERATION_MEMORY_SHARE = 0.5
"""The share of the memory available at the call that one generation may ask for."""
FLOAT32_LAYERS = (NADELayer, RBMLayer, DBNEncoder)
"""Layers that compute in float32 under any dtype policy: the estimators (likelihoods, losses) and DBN encoders."""


def make_generate_function(
    model: MultINN, batch_size: int, total: int, primer_steps: int, jit_compile: bool, order=None
):
    """The compiled generation loop of `model` for one batch size, length and primer length
    (keras-hub's `make_generate_function`): `fn(primer, clamp, clamp_mask, temperature, seed)`,
    compiled by `multinn.backend.compile_function` (a TensorFlow function, XLA with `jit_compile`, on
    TensorFlow; `jax.jit` on JAX). `order`: with in-frame conditioning, `(track order, number of
    fixed tracks)` (see `MultINN._sample_step`)."""
    from multinn.backend import compile_function

    def generate(primer, clamp, clamp_mask, temperature, seed):
        return model._generate_loop(
            primer, clamp, clamp_mask, temperature, seed, batch_size, total, primer_steps, order
        )

    return compile_function(model, generate, jit_compile)


def metric_name(track: str) -> str:
    """`nll_<track>` key for a track name: lower case, non-alphanumerics as `_`."""
    return "nll_" + re.sub(r"[^0-9a-z]+", "_", track.lower()).strip("_")


def shift_right(sequence):
    """`[batch, time, features]` -> the same, delayed one step (zeros first): step t sees t-1."""
    return ops.pad(sequence, ((0, 0), (1, 0), (0, 0)))[:, :-1]


class MultINN(keras.Model):
    """Base of the MultINN modes: a Keras model over piano-rolls `[batch, time, pitch, track]`.

    Subclasses wire encoders, generators and (Feedback) a feedback module; this class owns what
    the modes share: the spec, the training and test steps (loss, `nll` in nats per step,
    `nll_<track>`, frame accuracy / precision / recall / F1, global-norm clipping, masks),
    `log_prob`, compiled `generate`, the training stages and the config.

    Train with `fit` on `(pianoroll, mask)` batches from `multinn.data.make_tf_dataset` (a
    plain pianoroll batch counts every step as real). `nll` follows DESIGN.md: nats per time step,
    summed over pitches and tracks, averaged over real steps. RBM generators also report
    `pseudo_nll`, minus the pseudo-log-likelihood `sum_d log p(v_d | v_-d)` per step. When their
    likelihood is an AIS estimate (`likelihood_is_estimated`), `fit` validates on `pseudo_nll`
    alone, a deterministic and cheap signal, unless `validate_with_ais` is set; `evaluate` and
    `log_prob` always estimate the likelihood. `monitor` names what early stopping should watch.

    Args:
        spec: The `PianorollSpec` (or its dict) of the data.
        encoder: `"pass"` (identity) or `"dbn"` (a DBN per encoded unit, see `encoder_units`).
        encoder_units: DBN hidden sizes after the input, e.g. `[64, 32]` (`"dbn"` only).
        generator: `"nade"` or `"rbm"` estimators.
        rnn_units: LSTM sizes of each generator.
        num_hidden: Hidden units of each estimator.
        dropout: Dropout on LSTM outputs.
        clip_norm: Global-norm gradient clipping (`None`: off); with several replicas, of the
            global (all-reduced) gradient.
        generator_options: Extra generator arguments (e.g. `{"cd_steps": 5}` for RBMs).
        seed: Seed of dropout and sampling (generation can also be seeded per call).
        in_frame: In-frame conditioning (Composer, Jamming, Feedback): each track's estimator also
            hears the current frame of the tracks before it in a track order, through its heads
            (a learned bias of the estimator from those tracks' notes and from which tracks they
            are). The likelihood stays exact: each step is the product over tracks, in the order,
            of `p(x_t^k | x_<t, x_t^{tracks before k})`. Training draws a random order for every
            frame (`teacher_forced`); evaluation and `log_prob` use the spec's track order unless
            given `track_order`; `generate` puts the fixed tracks first, so that the free ones are
            drawn from their exact conditional given them. Works with NADE and RBM estimators
            (RBM: each track's partition function depends on the earlier tracks, and AIS or
            enumeration estimates it per frame as always). Joint has no such option: its one
            estimator already models the whole frame.
        in_frame_units: With `in_frame`, the context first goes through one tanh Dense layer of
            this many units, shared by all tracks (a nonlinear bias from the earlier tracks' notes,
            with fewer weights than the raw context's `(P + 1) * K` features per head); `None`:
            the heads read the raw context (a linear bias).
        **kwargs: `keras.Model` arguments (`name`, `dtype`). `dtype` is the dtype policy of the
            whole model (default: the global one, `keras.mixed_precision.set_dtype_policy`):
            `"float32"`, `"mixed_float16"` (GPUs; `compile` adds loss scaling) or
            `"mixed_bfloat16"`. Under a mixed policy the LSTMs, Dense heads, feedback module and
            pass encoders compute in 16 bits, while the estimators (`NADELayer`, `RBMLayer`) and
            DBN encoders compute in float32, so log-probabilities, losses and metrics are float32.
            Weights are float32 in every policy; a saved model reloads with its policy.

    Distributed training: create and compile the model inside `strategy.scope()` of a
    TensorFlow distribution strategy (see `multinn.distribute`); the batches `fit` gets are global
    batches, split over the replicas, and a step equals the single-device step on the global
    batch (`train_step`).
    """

    mode = ""
    clamps_in_frame = False
    """Whether generation clamps fixed tracks inside the frame (Joint); the other modes' tracks are
    independent within a frame given the past, so setting a fixed track needs no clamping."""

    def __init__(
        self,
        spec: PianorollSpec | Mapping[str, Any],
        encoder: str = "pass",
        encoder_units: Sequence[int] = (),
        generator: str = "nade",
        rnn_units: Sequence[int] = (128,),
        num_hidden: int = 128,
        dropout: float = 0.0,
        clip_norm: float | None = 5.0,
        generator_options: Mapping[str, Any] | None = None,
        seed: int | None = None,
        in_frame: bool = False,
        in_frame_units: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if self.dtype_policy.variable_dtype != "float32":
            raise ValueError(
                "`dtype`: MultINN models keep float32 weights; expected 'float32', 'mixed_float16' or "
                f"'mixed_bfloat16', got {self.dtype_policy.name!r}"
            )
        self.spec = spec if isinstance(spec, PianorollSpec) else PianorollSpec.from_dict(spec)
        if encoder not in ENCODERS:
            raise ValueError(f"`encoder`: expected one of {ENCODERS}, got {encoder!r}")
        if generator not in GENERATORS:
            raise ValueError(f"`generator`: expected one of {GENERATORS}, got {generator!r}")
        if encoder == "dbn" and not encoder_units:
            raise ValueError("`encoder_units`: a DBN encoder needs at least one hidden size, got none")
        self.encoder_type = encoder
        self.encoder_units = check_units(encoder_units, "encoder_units") if encoder_units else []
        self.generator_type = generator
        self.rnn_units = check_units(rnn_units, "rnn_units")
        self.num_hidden = check_units(num_hidden, "num_hidden")[0]
        self.dropout = float(dropout)
        if clip_norm is not None and not float(clip_norm) > 0:
            raise ValueError(f"`clip_norm`: expected a positive number or None, got {clip_norm!r}")
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.generator_options = dict(generator_options or {})
        self.seed = seed
        self.num_pitches, self.num_tracks = self.spec.num_pitches, self.spec.num_tracks
        if not isinstance(in_frame, (bool, np.bool_)):
            raise ValueError(f"`in_frame`: expected True or False, got {in_frame!r}")
        if in_frame and self.mode == "joint":
            raise ValueError(
                "`in_frame`: Joint mode has no in-frame option: its one estimator already models the whole "
                "frame (fixed tracks are clamped inside it); use composer, jamming or feedback"
            )
        self.in_frame = bool(in_frame)
        if in_frame_units is not None and not self.in_frame:
            raise ValueError("`in_frame_units` needs `in_frame=True`")
        self.in_frame_units = None if in_frame_units is None else check_units(in_frame_units, "in_frame_units")[0]
        self.context_encoder = None
        if self.in_frame:  # the random track orders of training
            self.order_seed_generator = keras.random.SeedGenerator(None if seed is None else seed + 77)
        if self.in_frame_units:
            self.context_encoder = keras.layers.Dense(self.in_frame_units, activation="tanh", name="context_encoder")
            self.context_encoder.build((None, (self.num_pitches + 1) * self.num_tracks))
        self._seed_count = 0
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.pseudo_nll_tracker = keras.metrics.Mean(name="pseudo_nll")
        self.track_trackers = [keras.metrics.Mean(name=metric_name(t.name)) for t in self.spec.tracks]
        self.frame_metrics = FrameMetrics(name="frame")
        self._returns_step_outputs = False  # see `step_outputs`
        self._skips_estimated_likelihood = False  # see `fit`
        self.validate_with_ais = False
        self._generate_functions: dict = {}

    # ------------------------------------------------------------------ construction helpers
    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if "_dtype_policy" in self.__dict__:  # set by keras.Layer.__init__
            self._share_dtype_policy(value)

    def _share_dtype_policy(self, value) -> None:
        """Every layer given to the model computes in the model's dtype policy, except `FLOAT32_LAYERS`."""
        if isinstance(value, keras.layers.Layer):
            value = [value]
        if not isinstance(value, (list, tuple)):
            return
        for layer in value:
            if isinstance(layer, keras.layers.Layer):
                for sublayer in layer._flatten_layers():
                    sublayer.dtype_policy = "float32" if isinstance(sublayer, FLOAT32_LAYERS) else self.dtype_policy

    def _next_seed(self) -> int | None:
        self._seed_count += 1
        return None if self.seed is None else self.seed + 1000 * self._seed_count

    def _make_encoder(self, num_inputs: int, name: str):
        if self.encoder_type == "pass":
            return PassEncoder(name=name)
        return DBNEncoder([num_inputs, *self.encoder_units], seed=self._next_seed(), name=name)

    def _encoded_size(self, num_inputs: int) -> int:
        return num_inputs if self.encoder_type == "pass" else self.encoder_units[-1]

    @property
    def context_dim(self) -> int:
        """Features of each track's in-frame context (`in_frame`) that its heads read: the notes of
        the tracks before it `[P * K]` and which tracks those are `[K]`, or their encoding
        (`in_frame_units`); 0 without in-frame conditioning."""
        if not self.in_frame:
            return 0
        return self.in_frame_units or (self.num_pitches + 1) * self.num_tracks

    def _make_generator(self, input_dim: int, num_visible: int | Sequence[int], name: str):
        common = dict(
            rnn_units=self.rnn_units,
            dropout=self.dropout,
            seed=self._next_seed(),
            context_dim=self.context_dim,
            name=name,
        )
        if not isinstance(num_visible, int):
            return RNNMultiNADE(input_dim, list(num_visible), self.num_hidden, **common, **self.generator_options)
        if self.generator_type == "rbm":
            return RNNRBM(input_dim, num_visible, self.num_hidden, **common, **self.generator_options)
        return RNNNADE(input_dim, num_visible, self.num_hidden, **common, **self.generator_options)

    @property
    def encoders(self) -> list:
        """The model's frame encoders."""
        raise NotImplementedError

    @property
    def generators(self) -> list:
        """The model's generators."""
        raise NotImplementedError

    # ------------------------------------------------------------------ mode interface
    # A frame [P, K] is laid out as one vector of units, the generators' frames concatenated in
    # generator order: "pitch_major" (Joint: unit p * K + k) or "track_major" (unit k * P + p).
    layout = "track_major"

    def to_units(self, x):
        """`[..., pitch, track]` -> `[..., units]` in the model's layout."""
        shape = ops.shape(x)
        if self.layout == "pitch_major":
            return ops.reshape(x, (*shape[:-2], self.num_pitches * self.num_tracks))
        axes = list(range(len(x.shape)))
        return ops.reshape(
            ops.transpose(x, (*axes[:-2], axes[-1], axes[-2])), (*shape[:-2], self.num_pitches * self.num_tracks)
        )

    def from_units(self, units):
        """`[..., units]` -> `[..., pitch, track]` (inverse of `to_units`)."""
        shape = ops.shape(units)[:-1]
        if self.layout == "pitch_major":
            return ops.reshape(units, (*shape, self.num_pitches, self.num_tracks))
        x = ops.reshape(units, (*shape, self.num_tracks, self.num_pitches))
        axes = list(range(len(x.shape)))
        return ops.transpose(x, (*axes[:-2], axes[-1], axes[-2]))

    def unit_tracks(self) -> np.ndarray:
        """Track index of every unit: int `[P * K]`."""
        units = np.arange(self.num_pitches * self.num_tracks)
        return units % self.num_tracks if self.layout == "pitch_major" else units // self.num_pitches

    def _rnn_outputs(self, pianoroll, training: bool) -> list:
        """Teacher-forced pass: one `[B, T, rnn_units[-1]]` output per generator (step t sees frames < t)."""
        raise NotImplementedError

    def _initial_states(self, batch_size):
        raise NotImplementedError

    def _step(self, previous, states):
        """One step of the mode's recurrence: previous frame `[B, P, K]` -> (one RNN output
        `[B, output_dim]` per generator, new states)."""
        raise NotImplementedError

    def _sample_step(self, previous, states, temperature, seed=None, clamp=None, clamp_mask=None, order=None):
        """One generation step: previous frame `[B, P, K]` -> (units `[B, P * K]` sampled, new states).

        `seed` (`[2]` integers): the step's random stream (generator i of the mode draws from
        `fold_seed(seed, i)`); `None`: the estimators' own `SeedGenerator`s. With
        `clamps_in_frame`, `clamp` `[B, P * K]` and `clamp_mask` `[P * K]` (the model's layout)
        hold the fixed tracks' units of this step, clamped inside the estimator. With `in_frame`,
        `order` is `(track order, number of fixed tracks)`: the fixed tracks (first in the order)
        are taken from `clamp` and the others drawn one after the other in the order, each given
        the current frame of the tracks before it (the other modes' tracks are independent within
        a frame given the past: the loop sets fixed tracks after the step)."""
        from multinn.backend import fold_seed

        outputs, states = self._step(previous, states)
        if self.in_frame:
            return self._sample_in_frame(outputs, temperature, seed, clamp, order), states
        units = []
        clamps = self._split_units(clamp) if clamp is not None and self.clamps_in_frame else None
        masks = self._split_units(clamp_mask) if clamps is not None else None
        for g, (generator, out) in enumerate(zip(self.generators, outputs, strict=True)):
            stream = seed if seed is None or len(self.generators) == 1 else fold_seed(seed, g)
            in_frame = {} if clamps is None else {"clamp": clamps[g], "clamp_mask": masks[g]}
            units.append(generator.sample_frame(out, temperature, seed=stream, **in_frame))
        return (units[0] if len(units) == 1 else ops.concatenate(units, axis=-1)), states

    # ------------------------------------------------------------------ in-frame conditioning
    def _part_tracks(self) -> list[list[int]]:
        """The track of each estimator of each generator: one list per generator."""
        out, start = [], 0
        tracks = self.unit_tracks()
        for generator in self.generators:
            parts = []
            for estimator in generator.estimators:
                block = np.unique(tracks[start : start + estimator.num_visible])
                parts.append(int(block[0]) if len(block) == 1 else -1)
                start += estimator.num_visible
            out.append(parts)
        return out

    def in_frame_context(self, frame, before):
        """The in-frame context of one track: the notes of the tracks before it, `frame` `[..., P, K]`
        with the other tracks zeroed, flattened, then `before` `[..., K]` (1 for the tracks before
        it): `[..., (P + 1) * K]`; with `in_frame_units`, its encoding `[..., in_frame_units]`."""
        shape = ops.shape(frame)
        before = ops.broadcast_to(ops.cast(before, frame.dtype), (*shape[:-2], self.num_tracks))
        notes = frame * ops.expand_dims(before, -2)
        context = ops.concatenate([ops.reshape(notes, (*shape[:-2], self.num_pitches * self.num_tracks)), before], -1)
        return context if self.context_encoder is None else self.context_encoder(context)

    def track_ranks(self, track_order: Sequence[str | int] | None = None) -> np.ndarray:
        """Each track's position in `track_order` (names or indices; the tracks it leaves out
        follow in the spec's order; `None`: the spec's order): float32 `[K]`."""
        order = [] if track_order is None else [self._track(t) for t in track_order]
        if len(set(order)) != len(order):
            raise SpecError(f"track_order {list(track_order)} names a track twice")
        order += [k for k in range(self.num_tracks) if k not in order]
        ranks = np.empty(self.num_tracks, "float32")
        ranks[order] = np.arange(self.num_tracks)
        return ranks

    def _head_inputs(self, rnn_outputs: list, pianoroll, ranks, training: bool) -> list:
        """With `in_frame`: each generator's outputs `[B, T, output_dim]` -> one head input per
        estimator `[B, T, head_input_dim]`, its RNN output and its track's context. `ranks`:
        `[K]` or `[B, T, K]`; `None`: a random order per frame in training, the spec's otherwise."""
        if not self.in_frame:
            return rnn_outputs
        if ranks is None and training:
            ranks = keras.random.uniform(ops.shape(pianoroll)[:2] + (self.num_tracks,), seed=self.order_seed_generator)
        elif ranks is None:
            ranks = ops.arange(self.num_tracks, dtype="float32")
        ranks = ops.cast(ranks, "float32")
        contexts = [self.in_frame_context(pianoroll, ranks < ranks[..., k : k + 1]) for k in range(self.num_tracks)]
        return [
            [ops.concatenate([out, ops.cast(contexts[k], out.dtype)], axis=-1) for k in parts]
            for out, parts in zip(rnn_outputs, self._part_tracks(), strict=True)
        ]

    def _sample_in_frame(self, outputs: list, temperature, seed, clamp, order):
        """The in-frame sampling of `_sample_step`: `[B, P * K]` units."""
        from multinn.backend import fold_seed

        order, num_fixed = order if order is not None else (tuple(range(self.num_tracks)), 0)
        ranks = self.track_ranks(order)
        if clamp is None:
            clamp = ops.zeros((ops.shape(outputs[0])[0], self.num_pitches * self.num_tracks), "float32")
        frame = self.from_units(ops.cast(clamp, "float32"))
        fixed = np.zeros(self.num_tracks, "float32")
        fixed[list(order[:num_fixed])] = 1.0
        frame = frame * fixed  # the fixed tracks' notes; the others are drawn below
        where = {k: (g, i) for g, parts in enumerate(self._part_tracks()) for i, k in enumerate(parts)}
        for k in order[num_fixed:]:
            g, i = where[k]
            out = outputs[g]
            context = self.in_frame_context(frame, (ranks < ranks[k]).astype("float32"))
            inputs = ops.concatenate([out, ops.cast(context, out.dtype)], axis=-1)
            stream = None if seed is None else fold_seed(seed, k)
            block = ops.cast(self.generators[g].sample_part(i, inputs, temperature, seed=stream), "float32")
            frame = frame + ops.expand_dims(block, -1) * np.eye(self.num_tracks, dtype="float32")[k]
        return self.to_units(frame)

    def _split_units(self, units) -> list:
        sizes = [g.num_units for g in self.generators]
        if len(sizes) == 1:
            return [units]
        return ops.split(units, [sum(sizes[:i]) for i in range(1, len(sizes))], axis=-1)

    # ------------------------------------------------------------------ scoring
    def _teacher_forced(
        self,
        pianoroll,
        training: bool,
        likelihood: bool,
        predictions: bool = True,
        mask=None,
        jit_compile=False,
        ranks=None,
    ) -> dict:
        """One teacher-forced pass over `[B, T, P, K]`: the outputs of `teacher_forced` (see there).

        `ranks` (`in_frame`): each track's position in the order, `[K]` or `[B, T, K]` (see
        `_head_inputs`).

        With `mask`, RBM generators compute their likelihood (AIS or enumeration, many times the
        rest of the pass) on the real steps alone where the backend allows dynamic shapes
        (`multinn.backend.real_rows`); padded steps get log-likelihood 0."""
        batch, time = ops.shape(pianoroll)[0], ops.shape(pianoroll)[1]
        targets = self._split_units(
            ops.reshape(self.to_units(pianoroll), (batch * time, self.num_pitches * self.num_tracks))
        )
        unit_tracks = np.split(self.unit_tracks(), np.cumsum([g.num_units for g in self.generators])[:-1])
        terms, step_log_p, track_log_p, pseudo_log_p, probs = 0.0, 0.0, 0.0, 0.0, []
        per_step_ok = per_track_ok = pseudo_ok = True
        rnn_outputs = self._head_inputs(self._rnn_outputs(pianoroll, training), pianoroll, ranks, training)
        rows = None
        if likelihood and mask is not None and any(hasattr(g, "likelihood_is_exact") for g in self.generators):
            from multinn.backend import real_rows

            rows = real_rows(ops.reshape(ops.cast(mask, "float32"), (-1,)), jit_compile)
        for generator, outputs, frames, tracks in zip(self.generators, rnn_outputs, targets, unit_tracks, strict=True):
            if isinstance(outputs, list):  # in-frame: one head input per estimator
                flat_out = [ops.reshape(o, (-1, generator.head_input_dim)) for o in outputs]
            else:
                flat_out = ops.reshape(outputs, (-1, generator.output_dim))
            compact = rows is not None and hasattr(generator, "likelihood_is_exact")
            scores = generator.frame_scores(
                flat_out, frames, likelihood=likelihood and not compact, predictions=predictions
            )
            if compact:  # the likelihood of the real rows, scattered back: 0 at padded steps
                real_out = keras.tree.map_structure(lambda o: ops.take(o, rows, axis=0), flat_out)
                real = generator.frame_log_prob(real_out, ops.take(frames, rows, axis=0))
                scores["log_prob"] = ops.scatter(rows[:, None], real, (ops.shape(frames)[0], ops.shape(real)[-1]))
            terms = terms + generator.frame_loss_terms(flat_out, frames, scores)
            probs.append(scores.get("probs"))
            if scores.get("pseudo_log_prob") is not None:
                pseudo_log_p = pseudo_log_p + ops.sum(scores["pseudo_log_prob"], axis=-1)
            else:
                pseudo_ok = False
            onehot = np.eye(self.num_tracks, dtype="float32")[tracks]  # [units, K]
            if scores.get("dim_log_prob") is not None:
                per_track = ops.matmul(scores["dim_log_prob"], onehot)
                track_log_p = track_log_p + per_track
                step_log_p = step_log_p + ops.sum(per_track, axis=-1)
            elif scores.get("log_prob") is not None:
                part = ops.sum(scores["log_prob"], axis=-1)
                step_log_p = step_log_p + part
                if len(set(tracks.tolist())) == 1:
                    track_log_p = track_log_p + part[:, None] * onehot[0][None, :]
                else:
                    per_track_ok = False
            else:
                per_step_ok = per_track_ok = False
        out = {"loss_terms": ops.reshape(terms, (batch, time))}
        if all(p is not None for p in probs):
            probs = ops.concatenate(probs, axis=-1)
            out["probs"] = self.from_units(ops.reshape(probs, (batch, time, self.num_pitches * self.num_tracks)))
        if per_step_ok:
            out["log_prob"] = ops.reshape(step_log_p, (batch, time))
        if per_step_ok and per_track_ok:
            out["track_log_prob"] = ops.reshape(track_log_p, (batch, time, self.num_tracks))
        if pseudo_ok:
            out["pseudo_log_prob"] = ops.reshape(pseudo_log_p, (batch, time))
        return out

    def call(self, pianoroll, training: bool = False):
        """Teacher-forced note probabilities of pieces `[B, T, P, K]` -> `[B, T, P, K]`: each
        note's `p(x_t | x_<t)` (step t sees the frames before t; for RBM generators each note
        given the frame's other notes and `x_<t`). This is what `model(x)` and `predict` return.

        Inside Keras's training and evaluation steps (`step_outputs`) the model returns the
        whole dict of `teacher_forced` instead, which `compute_loss` and `compute_metrics` read
        as `y_pred`.
        """
        if self._returns_step_outputs:
            return self.teacher_forced(pianoroll, training=training)
        return self.teacher_forced(pianoroll, training=training, likelihood=False, predictions=True)["probs"]

    def teacher_forced(
        self,
        pianoroll,
        training: bool = False,
        likelihood: bool | None = None,
        predictions: bool | None = None,
        mask=None,
        track_order: Sequence[str | int] | None = None,
    ) -> dict:
        """All teacher-forced outputs of pieces `[B, T, P, K]` (step t sees the frames before t).

        Args:
            pianoroll: `[batch, time, pitch, track]`.
            training: Dropout on, and (RBM generators) no likelihood unless `likelihood`.
            likelihood: Compute the log-likelihood; default: in training only when it is exact
                (`exact_likelihood`; RBMs estimate it with AIS), in inference always, except in
                `fit`'s validation when it is an AIS estimate (see `fit`).
            predictions: Compute `probs`; default: always, except in training for RBM
                generators, whose exact conditionals cost several CD steps (training steps then
                log no frame metrics; evaluation does).
            mask: `[B, T]`, 1 for real steps, or `None`. Given, RBM generators estimate the
                likelihood of real steps only (log-likelihood 0 at the others) where the backend
                allows (not under `jax.jit` or XLA): padding costs no AIS.
            track_order: With `in_frame`, the order in which the tracks of a frame hear each other
                (names or indices, first first; tracks left out follow in the spec's order).
                `None`: the spec's order, or in training a random order per frame.

        Returns:
            `{"probs": [B, T, P, K]` note probabilities (see `call`; with `predictions`), `"loss_terms": [B, T]` the
            training loss of each step (NLL for NADE, the CD-k surrogate for RBM), and with the
            likelihood `"log_prob": [B, T]` and (when the tracks' terms separate)
            `"track_log_prob": [B, T, K]`, in nats; RBM generators with `probs`:
            `"pseudo_log_prob": [B, T]`, the pseudo-log-likelihood of each step}.
        """
        if likelihood is None:
            likelihood = self.exact_likelihood if training else not self._skips_estimated_likelihood
        if predictions is None:
            predictions = not (training and self.generator_type == "rbm")
        jit_compile = bool(getattr(self, "jit_compile", False))
        ranks = None if track_order is None else self.track_ranks(track_order)
        return self._teacher_forced(
            ops.cast(pianoroll, "float32"), training, likelihood, predictions, mask, jit_compile, ranks
        )

    @contextlib.contextmanager
    def step_outputs(self):
        """Within this context, `model(x)` returns the dict of `teacher_forced`: Keras's training
        and evaluation steps run in it on backends other than TensorFlow, whose trainers call
        `model(x)` for `y_pred`. (TensorFlow's steps, `multinn.backend.tensorflow`, call
        `teacher_forced` themselves: a `MirroredStrategy` runs its replicas' steps in threads,
        which would share this flag.)"""
        previous, self._returns_step_outputs = self._returns_step_outputs, True
        try:
            yield
        finally:
            self._returns_step_outputs = previous

    def unpack_batch(self, data, what: str = "batch"):
        """`(pianoroll, mask)` float32 of a `fit` / `evaluate` batch (a bare pianoroll: every step real)."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = ops.cast(x, "float32")
        self.spec.check_roll(x, batched=True, name=what)
        mask = ops.ones(ops.shape(x)[:2], "float32") if y is None else ops.cast(y, "float32")
        return x, mask

    @staticmethod
    def data_loss(outputs: dict, mask):
        """The training loss of a batch: the mean of `outputs["loss_terms"]` over its real steps."""
        mask = ops.cast(mask, outputs["loss_terms"].dtype)
        return ops.sum(outputs["loss_terms"] * mask) / ops.maximum(ops.sum(mask), 1.0)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The batch's mean loss over real steps (`y` is the mask `[B, T]`; `None`: all real), plus
        the layers' own losses. Each backend's Keras trainer differentiates it."""
        mask = ops.ones(ops.shape(x)[:2], "float32") if y is None else y
        loss = self.data_loss(y_pred, mask)
        return loss + ops.sum(self.losses) if self.losses else loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update and return the metrics of a batch: `loss`, `nll` (nats per real step), `nll_<track>`,
        frame accuracy / precision / recall / F1 (`y` is the mask)."""
        mask = ops.ones(ops.shape(x)[:2], "float32") if y is None else ops.cast(y, "float32")
        return self.update_metrics(self.data_loss(y_pred, mask), y_pred, ops.cast(x, "float32"), mask)

    def update_metrics(self, loss, outputs: dict, pianoroll, mask) -> dict:
        """Record a batch's `loss` and `outputs` (of `call`) in the metrics; their results so far."""
        self.loss_tracker.update_state(loss)
        # Flattened to steps, so that the means are over real steps of the whole split, however
        # the pieces are batched and padded (DESIGN.md's unit).
        weights = ops.reshape(mask, (-1,))
        if "log_prob" in outputs:
            self.nll_tracker.update_state(-ops.reshape(outputs["log_prob"], (-1,)), sample_weight=weights)
        if "track_log_prob" in outputs:
            for k, tracker in enumerate(self.track_trackers):
                tracker.update_state(-ops.reshape(outputs["track_log_prob"][..., k], (-1,)), sample_weight=weights)
        if "pseudo_log_prob" in outputs:
            self.pseudo_nll_tracker.update_state(-ops.reshape(outputs["pseudo_log_prob"], (-1,)), sample_weight=weights)
        if "probs" in outputs:
            self.frame_metrics.update_state(pianoroll, outputs["probs"], mask)
        logs = {"loss": self.loss_tracker.result()}
        if "log_prob" in outputs:
            logs["nll"] = self.nll_tracker.result()
        if "pseudo_log_prob" in outputs:
            logs["pseudo_nll"] = self.pseudo_nll_tracker.result()
        if "track_log_prob" in outputs:
            logs.update({t.name: t.result() for t in self.track_trackers})
        if "probs" in outputs:
            logs.update(self.frame_metrics.result())
        return logs

    @property
    def metrics(self):
        # What the evaluation steps log, so that Keras reads the trackers (reduced over replicas)
        # rather than the last step's logs: `pseudo_nll` for RBMs, no likelihood in `fit`'s
        # validation of an AIS-estimated one (see `fit`).
        likelihood = [] if self._skips_estimated_likelihood else [self.nll_tracker, *self.track_trackers]
        pseudo = [self.pseudo_nll_tracker] if self.generator_type == "rbm" else []
        return [self.loss_tracker, *likelihood, *pseudo, self.frame_metrics]

    @property
    def exact_likelihood(self) -> bool:
        """Whether training steps see the exact likelihood (NADE); RBMs report AIS estimates in evaluation."""
        return self.generator_type == "nade" or self.mode == "composer"

    @property
    def likelihood_is_estimated(self) -> bool:
        """Whether the likelihood (`nll`, `log_prob`) is an AIS estimate: RBM generators whose
        partition functions cost less to estimate than to enumerate (`RNNRBM.likelihood_is_exact`)."""
        return not all(getattr(g, "likelihood_is_exact", True) for g in self.generators)

    @property
    def monitor(self) -> str:
        """The validation metric for early stopping and best checkpoints: `"val_nll"`, or
        `"val_pseudo_nll"` when `fit` validates without the AIS likelihood (see `fit`)."""
        return "val_pseudo_nll" if self.likelihood_is_estimated and not self.validate_with_ais else "val_nll"

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`; when the likelihood is an AIS estimate (`likelihood_is_estimated`)
        and `validate_with_ais` is False (the default), validation leaves it out and logs
        `val_pseudo_nll` and the frame metrics: AIS on every validation frame costs many times an
        epoch's training (32 chains x 500 temperatures of Gibbs steps per frame and track), the
        pseudo-likelihood a few CD steps. `evaluate` and `log_prob` estimate the likelihood as
        always; `monitor` names the metric to stop on."""
        if not (self.likelihood_is_estimated and not self.validate_with_ais):
            return super().fit(*args, **kwargs)
        self._skips_estimated_likelihood, self.test_function = True, None
        try:
            return super().fit(*args, **kwargs)
        finally:
            self._skips_estimated_likelihood, self.test_function = False, None

    def train_step(self, *args):
        """Keras's training step of this backend (its signature: `(data)`, JAX `(state, data)`), on
        `compute_loss` and `compute_metrics`; on TensorFlow `multinn.backend.tensorflow.train_step`,
        which adds what TensorFlow distribution strategies need (a step under a strategy equals the single-device
        step on the global batch)."""
        if keras.backend.backend() == "tensorflow":
            from multinn.backend import tensorflow as backend

            return backend.train_step(self, *args)  # calls `teacher_forced` itself
        with self.step_outputs():
            return super().train_step(*args)

    def test_step(self, *args):
        """Keras's evaluation step of this backend; on TensorFlow `multinn.backend.tensorflow.test_step`."""
        if keras.backend.backend() == "tensorflow":
            from multinn.backend import tensorflow as backend

            return backend.test_step(self, *args)  # calls `teacher_forced` itself
        with self.step_outputs():
            return super().test_step(*args)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras's TensorFlow trainer builds from a first distributed batch, which fails for these
        # models (see multinn.backend.tensorflow.build_optimizer_only); the other trainers have no
        # such step (they build when the step traces), and neither needs one: every weight exists
        # at construction.
        if keras.backend.backend() == "tensorflow" and self._distribute_strategy is not None:
            from multinn.backend import tensorflow as backend

            backend.build_optimizer_only(self)

    def compile(self, optimizer="adam", jit_compile=None, **kwargs):
        """`keras.Model.compile` with a default Adam optimizer (learning rate 1e-3); no loss is needed.

        `jit_compile=None` (default): off on TensorFlow, where XLA makes the NADE loop many times
        slower on CPU (docs/layers.md) and the step runs as a `tf.function`; on on JAX, where
        `jax.jit` is the only compilation (without it every op of a step dispatches eagerly, ~5x
        slower). On backends other than TensorFlow, `clip_norm` becomes the optimizer's
        `global_clipnorm` (unless it has clipping of its own): Keras's trainer clips there.
        """
        if jit_compile is None:
            jit_compile = keras.backend.backend() == "jax"
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        opt = self.optimizer
        if keras.backend.backend() != "tensorflow" and self.clip_norm is not None and opt is not None:
            if opt.clipnorm is None and opt.clipvalue is None and opt.global_clipnorm is None:
                opt.global_clipnorm = self.clip_norm

    def compile_from_config(self, config):
        """Recompile a loaded model (optimizer state included) from its saved compile config.

        The saved `jit_compile` is left out: it is a choice of the backend that trains (a model
        saved on TensorFlow, where it is off, trains jitted on JAX), not a property of the model.
        """
        config = dict(keras.saving.deserialize_keras_object(config))
        config.pop("jit_compile", None)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def log_prob(self, pianoroll, mask=None, batch_size: int = 32, track_order=None):
        """Log-likelihood of whole pieces in nats: `[batch]` (RBM generators: AIS estimate).

        Args:
            pianoroll: `[batch, time, pitch, track]` or one piece `[time, pitch, track]`.
            mask: `[batch, time]`, 1 for real steps; `None`: all real.
            batch_size: Pieces per compiled call.
            track_order: With `in_frame`, the track order of the factorisation (see
                `teacher_forced`); every order gives a normalised likelihood.
        """
        from multinn.backend import compile_function

        x = np.asarray(pianoroll, dtype="float32")
        single = x.ndim == 3
        if single:
            x = x[None]
        self.spec.check_roll(x, batched=True)
        mask = np.ones(x.shape[:2], "float32") if mask is None else np.asarray(mask, "float32").reshape(x.shape[:2])
        if "log_prob" not in self._generate_functions:

            def piece_log_prob(x, m, ranks):
                out = self._teacher_forced(x, False, likelihood=True, mask=m, ranks=ranks)
                return ops.sum(out["log_prob"] * m, axis=-1)

            self._generate_functions["log_prob"] = compile_function(self, piece_log_prob, jit_compile=False)
        fn = self._generate_functions["log_prob"]
        ranks = self.track_ranks(track_order)
        out = np.concatenate(
            [
                ops.convert_to_numpy(fn(x[i : i + batch_size], mask[i : i + batch_size], ranks))
                for i in range(0, len(x), batch_size)
            ]
        )
        return out[0] if single else out

    # ------------------------------------------------------------------ training stages
    def _frames(self, data, max_frames: int | None) -> np.ndarray:
        """All real frames `[n, P, K]` of a `PianorollDataset`, array or `(pianoroll, mask)` dataset."""
        if isinstance(data, PianorollDataset):
            self.spec.check_compatible(data.spec)
            frames = np.concatenate([piece for piece in data], axis=0)
        elif isinstance(data, np.ndarray):
            frames = data.reshape(-1, self.num_pitches, self.num_tracks)
        else:
            chunks = []
            for batch in data:
                x, mask = self.unpack_batch(batch)
                chunks.append(np.asarray(x)[np.asarray(mask) > 0])
            frames = np.concatenate(chunks, axis=0)
        frames = frames.astype("float32")
        if max_frames is not None and len(frames) > max_frames:
            frames = frames[np.random.default_rng(0).choice(len(frames), max_frames, replace=False)]
        return frames

    def pretrain_encoders(
        self, data, epochs: int = 5, freeze: bool = False, max_frames: int | None = 100_000, **kwargs
    ) -> list:
        """Stage 1: greedy CD pre-training of each DBN encoder on the real frames of `data` (no-op for Pass).

        Args:
            data: A `PianorollDataset`, an array `[..., pitch, track]`, or `(pianoroll, mask)` batches.
            epochs: Epochs per RBM of each DBN.
            freeze: Keep the encoders' weights fixed in later stages.
            max_frames: Use at most this many frames (a fixed random subset).
            **kwargs: Passed to `DBNEncoder.pretrain` (`batch_size`, `learning_rate`, `momentum`).

        Returns:
            One list of `History.history` dicts per encoder.
        """
        if self.encoder_type == "pass":
            return []
        frames = self._frames(data, max_frames)
        return [
            encoder.pretrain(self._encoder_inputs(frames, i), epochs=epochs, freeze=freeze, **kwargs)
            for i, encoder in enumerate(self.encoders)
        ]

    def pretrain_generators(
        self,
        data,
        epochs: int = 5,
        batch_size: int = 100,
        learning_rate: float = 0.01,
        max_frames: int | None = 100_000,
    ) -> list:
        """Stage 2: RBM generators fit their RBM on all frames (the original's pre-training); NADE
        generators start their decoder biases at the logit of the note frequencies.

        Returns:
            One `History.history` dict per generator (`RBMLayer.pretrain`'s; `{}` for NADE).
        """
        frames = self._frames(data, max_frames)
        out = []
        for generator, targets in zip(self.generators, self._generator_targets(frames), strict=True):
            if isinstance(generator, RNNRBM):
                out.append(generator.pretrain_on_frames(targets, epochs, batch_size, learning_rate))
            else:
                generator.init_from_frames(targets)
                out.append({})
        return out

    def _encoder_inputs(self, frames: np.ndarray, index: int) -> np.ndarray:
        """Inputs `[n, units]` of encoder `index` for frames `[n, P, K]` (one encoder per track by default)."""
        return frames[..., index]

    def _generator_targets(self, frames: np.ndarray) -> list[np.ndarray]:
        units = np.asarray(self.to_units(frames))
        return np.split(units, np.cumsum([g.num_units for g in self.generators])[:-1], axis=-1)

    # ------------------------------------------------------------------ generation
    def reseed(self, seed: int) -> None:
        """Reset every random stream of the model (sampling, dropout) from one integer seed."""
        index = 0
        for layer in self._flatten_layers(include_self=True):
            for generator in getattr(layer, "_seed_generators", []):
                generator.state.assign(
                    np.array([(seed * 7919 + index * 104729) % (2**31 - 1), 0], dtype=generator.state.dtype)
                )
                index += 1

    def max_generation_steps(self, batch_size: int = 1) -> int:
        """The longest output (primer + new steps) `generate` accepts at `batch_size` now: the
        length whose arrays (`GENERATION_BYTES_PER_UNIT` per pitch, track, step and sequence) fill
        `GENERATION_MEMORY_SHARE` of the memory available."""
        from multinn.utils.io import available_memory

        per_step = GENERATION_BYTES_PER_UNIT * self.num_pitches * self.num_tracks * int(batch_size)
        return int(GENERATION_MEMORY_SHARE * available_memory()) // per_step

    def check_generation(self, total_steps: int, batch_size: int = 1, temperature: float = 1.0) -> None:
        """Raise a `GenerationError` unless `generate` can serve this request: `temperature` a
        finite number >= 0, and `total_steps` (primer + new steps) within `max_generation_steps`."""
        check_temperature(temperature)
        limit = self.max_generation_steps(batch_size)
        if total_steps > limit:
            per_step = GENERATION_BYTES_PER_UNIT * self.num_pitches * self.num_tracks * int(batch_size)
            beats = limit // self.spec.steps_per_beat
            raise GenerationError(
                f"{total_steps:,} steps x {batch_size} sequence(s) would need about "
                f"{total_steps * per_step / 1e9:,.1f} GB; the longest generation this machine can hold now is "
                f"{limit:,} steps ({beats:,} beats) at batch {batch_size} ({per_step:,} bytes per step, within "
                f"{GENERATION_MEMORY_SHARE:.0%} of the available memory)"
            )

    def generate(
        self,
        num_steps: int,
        primer: np.ndarray | None = None,
        batch_size: int = 1,
        temperature: float = 1.0,
        fixed_tracks: Mapping[str | int, np.ndarray] | None = None,
        seed: int | None = None,
        jit_compile: bool | None = None,
        track_order: Sequence[str | int] | None = None,
    ) -> np.ndarray:
        """Generate piano-rolls in one compiled loop.

        Args:
            num_steps: New steps to generate (after the primer).
            primer: `[time, pitch, track]` (or `[batch, time, pitch, track]`) to continue; it is
                returned unchanged at the start of the output.
            batch_size: Sequences to generate (a batched primer must match it).
            temperature: Divides the estimators' logits (NADE); 0 is deterministic thresholding.
            fixed_tracks: `{track name or index: roll}` with rolls `[steps, pitch]` or
                `[batch, steps, pitch]` covering the whole output (primer + new steps): those
                tracks are clamped and the others sampled (accompaniment). The other tracks see
                the fixed tracks' past; in Composer, Jamming and Feedback without `in_frame`
                that is exact conditional sampling (their tracks are independent within a frame
                given the past, so they never hear the fixed tracks' current notes). With
                `in_frame` the fixed tracks go first in the track order and every free track
                also hears their current frame (and that of the free tracks drawn before it):
                exact conditional sampling. Joint clamps them inside the frame too
                (`clamps_in_frame`; what is exact is in `MultINNJoint`).
            seed: Reseed all random streams first, so the same seed gives the same output.
            jit_compile: TensorFlow: compile the loop with XLA (one program for all steps) or as
                a graph loop. `None` picks what measured faster on CPU (docs/benchmarks.md): XLA
                for NADE generators (3-15x faster), the graph for RBM generators (XLA's Gibbs
                chains were 5x slower). JAX always compiles with XLA (`jax.jit`).
            track_order: With `in_frame`, the order in which a frame's tracks are drawn (names or
                indices; the fixed tracks must come first; tracks left out follow in the spec's
                order). `None`: the fixed tracks, then the others, each in the spec's order.

        Returns:
            Bool `[batch, primer steps + num_steps, pitch, track]`.

        Raises:
            GenerationError: `temperature` is not a finite number >= 0, or the output would not
                fit in memory (`max_generation_steps`).
            SpecError: `primer` or `fixed_tracks` do not fit the spec or the length.
        """
        num_steps = check_positive_int(num_steps, "num_steps")
        batch_size = check_positive_int(batch_size, "batch_size")
        P, K = self.num_pitches, self.num_tracks
        primer_steps = np.shape(primer)[-3] if primer is not None and np.ndim(primer) >= 3 else 0
        self.check_generation(primer_steps + int(num_steps), batch_size, temperature)
        if primer is None:
            primer_arr = np.zeros((batch_size, 0, P, K), "float32")
        else:
            primer_arr = np.asarray(primer, "float32")
            if primer_arr.ndim == 3:
                primer_arr = np.broadcast_to(primer_arr[None], (batch_size, *primer_arr.shape))
            self.spec.check_roll(primer_arr, batched=True, name="primer")
            if primer_arr.shape[0] != batch_size:
                raise SpecError(f"primer has batch {primer_arr.shape[0]}, but batch_size is {batch_size}")
        total = primer_arr.shape[1] + int(num_steps)
        clamp = np.zeros((batch_size, total, P, K), "float32")
        clamp_mask = np.zeros((K,), "float32")
        for key, roll in (fixed_tracks or {}).items():
            k = self._track(key)
            roll = np.asarray(roll, "float32")
            if roll.ndim == 3 and roll.shape[-1] == 1 and roll.shape[0] != batch_size:
                roll = roll[..., 0]
            roll = np.broadcast_to(roll, (batch_size, *roll.shape)) if roll.ndim == 2 else roll
            if roll.ndim != 3 or roll.shape[0] != batch_size or roll.shape[2] != P:
                raise SpecError(
                    f"fixed track {key!r} must have shape [steps, {P}] or [{batch_size}, steps, {P}], got {roll.shape}"
                )
            if roll.shape[1] < total:
                raise SpecError(f"fixed track {key!r} has {roll.shape[1]} steps, but {total} steps are generated")
            clamp[..., k] = roll[:, :total]
            clamp_mask[k] = 1.0
        order = self._generation_order(clamp_mask, track_order)
        if seed is not None:
            self.reseed(int(seed))
        if jit_compile is None:
            jit_compile = self.generator_type != "rbm"
        primer_padded = np.zeros((batch_size, total, P, K), "float32")
        primer_padded[:, : primer_arr.shape[1]] = primer_arr
        key = (batch_size, total, primer_arr.shape[1], bool(jit_compile), order)
        if key not in self._generate_functions:
            self._generate_functions[key] = make_generate_function(
                self, batch_size, total, primer_arr.shape[1], bool(jit_compile), order
            )
        # One draw of the first estimator's SeedGenerator seeds every random stream of the call.
        seed_tensor = self.generators[0].estimators[0].seed_generator.next()
        out = self._generate_functions[key](
            primer_padded, clamp, clamp_mask, np.float32(temperature), ops.convert_to_tensor(seed_tensor)
        )
        return ops.convert_to_numpy(out) > 0.5

    def _generation_order(self, clamp_mask: np.ndarray, track_order) -> tuple | None:
        """`(track order, number of fixed tracks)` of an in-frame model's generation (`None` for
        the others): the fixed tracks first."""
        if not self.in_frame:
            if track_order is not None:
                raise SpecError("track_order: only a model with in-frame conditioning (in_frame=True) has one")
            return None
        ranks = self.track_ranks(track_order)
        fixed = [k for k in range(self.num_tracks) if clamp_mask[k]]
        order = tuple(int(k) for k in np.argsort(ranks, kind="stable"))
        if track_order is None:
            order = (*fixed, *(k for k in order if k not in fixed))
        elif set(order[: len(fixed)]) != set(fixed):
            names = [self.spec.tracks[k].name for k in order]
            raise SpecError(
                f"track_order {names}: the fixed tracks ({', '.join(self.spec.tracks[k].name for k in fixed)}) "
                "must come first, so that the free tracks hear them"
            )
        return order, len(fixed)

    def infill(
        self,
        roll: np.ndarray,
        start: int,
        stop: int,
        tracks: Sequence[str | int] | None = None,
        candidates: int = 8,
        temperature: float = 1.0,
        seed: int | None = None,
        return_candidates: bool = False,
    ):
        """Regenerate steps `[start, stop)` of `roll` (of all tracks, or of `tracks`), keeping the rest.

        The span is drawn left to right given the past (and, for the tracks not regenerated, their
        own notes, clamped as `generate`'s `fixed_tracks`), `candidates` times in one batched
        `generate` call; each candidate is then weighed by the likelihood of everything kept from
        `start` on given it (one compiled, batched `teacher_forced` pass: the kept tracks' notes in
        the span and all of the future), and one is drawn in proportion to its weight. This is
        sequential importance resampling of `p(span | rest)`: exact as `candidates` grows for the
        NADE modes, whose proposal is the product of the free units' conditionals and whose
        weights are the kept units' conditionals (Joint: in its pitch-major unit order); with
        RBM generators the kept tracks of the span are not weighed within a frame when one RBM
        holds several tracks (Joint-RBM), only the future steps: an approximation. With
        `candidates=1` it is `generate` with the future ignored.

        Args:
            roll: `[time, pitch, track]`, the piece.
            start: First step to regenerate.
            stop: Step after the last one to regenerate (`start < stop <= time`).
            tracks: Names or indices of the tracks to regenerate; `None`: all.
            candidates: Spans drawn before resampling (`K`).
            temperature: See `generate`.
            seed: Seeds the draws and the resampling.
            return_candidates: Also return the candidates `[K, time, pitch, track]`, their log
                weights `[K]` (nats) and the index of the chosen one.

        Returns:
            The infilled piece, bool `[time, pitch, track]` (with `return_candidates`, a tuple).

        Raises:
            SpecError: `roll` does not fit the spec, the span is not inside it, a track is unknown.
        """
        from multinn.backend import compile_function

        roll = np.asarray(roll, "float32")
        self.spec.check_roll(roll, batched=False, name="roll")
        total = roll.shape[0]
        if not (
            isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer)) and 0 <= start < stop <= total
        ):
            raise SpecError(f"infill span {start}:{stop} must satisfy 0 <= start < stop <= {total} (the roll's steps)")
        candidates = check_positive_int(candidates, "candidates")
        chosen = list(range(self.num_tracks)) if tracks is None else [self._track(t) for t in tracks]
        kept = [k for k in range(self.num_tracks) if k not in chosen]
        drawn = self.generate(
            int(stop - start),
            primer=roll[:start] if start else None,
            batch_size=candidates,
            temperature=temperature,
            fixed_tracks={k: roll[:stop, :, k] for k in kept},
            seed=seed,
        ).astype("float32")
        full = np.concatenate([drawn, np.broadcast_to(roll[stop:], (candidates, *roll[stop:].shape))], axis=1)
        keep = np.zeros((total, self.num_tracks), "float32")  # the cells the weights score
        keep[start:stop, kept] = 1.0
        keep[stop:] = 1.0
        if "infill_weights" not in self._generate_functions:

            def weights(x, keep, ranks):
                out = self._teacher_forced(x, False, likelihood=True, ranks=ranks)
                if "track_log_prob" in out:
                    return ops.sum(out["track_log_prob"] * keep[None], axis=(1, 2))
                future = ops.cast(ops.min(keep, axis=-1) > 0, "float32")  # steps with every track kept
                return ops.sum(out["log_prob"] * future[None], axis=1)

            self._generate_functions["infill_weights"] = compile_function(self, weights, jit_compile=False)
        # In-frame models drew the span with the kept tracks first in the track order: the weights
        # use that order too (the kept tracks' terms do not depend on the drawn ones of their frame).
        ranks = self.track_ranks(kept)
        log_w = self._generate_functions["infill_weights"](full, keep, ranks)
        log_w = ops.convert_to_numpy(log_w).astype(np.float64)
        rng = np.random.default_rng(seed)
        p = np.exp(log_w - log_w.max())
        index = int(rng.choice(candidates, p=p / p.sum()))
        result = full[index] > 0.5
        if return_candidates:
            return result, full > 0.5, log_w, index
        return result

    def _track(self, key: str | int) -> int:
        """A track's index from its name or index."""
        if isinstance(key, str):
            return self.spec.track_index(key)
        k = int(key)
        if not 0 <= k < self.num_tracks:
            raise SpecError(f"track index {key} out of range for {self.num_tracks} tracks")
        return k

    def _generate_loop(
        self,
        primer,
        clamp,
        clamp_mask,
        temperature,
        seed,
        batch_size: int,
        total: int,
        primer_steps: int,
        order=None,
    ):
        """All `total` steps of generation in one `keras.ops.fori_loop`: `[B, total, P, K]` float32.

        `primer` and `clamp` are `[B, total, P, K]` (the primer's steps first, then zeros);
        `clamp_mask` `[K]` marks the fixed tracks; `order` (in-frame models) is `_sample_step`'s.
        Step t draws its random numbers from the stream `fold_seed(seed, t)`, so the loop body
        changes no variable (a requirement of JAX's compiled loops) and a seed fixes the output on
        every backend.
        """
        from multinn.backend import fold_seed

        # The recurrent layers keep their states in the model's compute dtype (16 bits under a
        # mixed policy): the loop variables must keep one dtype.
        states = keras.tree.map_structure(lambda s: ops.cast(s, self.compute_dtype), self._initial_states(batch_size))
        frames = ops.zeros((batch_size, total, self.num_pitches, self.num_tracks), "float32")
        previous = ops.zeros((batch_size, self.num_pitches, self.num_tracks), "float32")
        unit_mask = None
        if self.clamps_in_frame or self.in_frame:
            unit_mask = self.to_units(ops.broadcast_to(clamp_mask, (self.num_pitches, self.num_tracks)))

        def step(t, carry):
            frames, previous, states = carry
            in_frame = {}
            if unit_mask is not None:
                in_frame = {"clamp": self.to_units(ops.take(clamp, t, axis=1)), "clamp_mask": unit_mask}
            units, states = self._sample_step(
                previous, states, temperature, fold_seed(seed, t), **in_frame, order=order
            )
            frame = ops.cast(self.from_units(units), "float32")
            frame = ops.where(t < primer_steps, ops.take(primer, t, axis=1), frame)
            frame = ops.take(clamp, t, axis=1) * clamp_mask + frame * (1.0 - clamp_mask)
            frames = ops.slice_update(frames, (0, t, 0, 0), frame[:, None])
            return frames, frame, states

        return ops.fori_loop(0, total, step, (frames, previous, states))[0]

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "spec": self.spec.to_dict(),
                "encoder": self.encoder_type,
                "encoder_units": list(self.encoder_units),
                "generator": self.generator_type,
                "rnn_units": list(self.rnn_units),
                "num_hidden": self.num_hidden,
                "dropout": self.dropout,
                "clip_norm": self.clip_norm,
                "generator_options": dict(self.generator_options),
                "seed": self.seed,
                "in_frame": self.in_frame,
                "in_frame_units": self.in_frame_units,
            }
        )
        return config
