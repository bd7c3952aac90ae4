"""`FeedbackModule`: what every track of MultINN's Feedback mode hears of all the others."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from multinn.choices import FEEDBACK_MODULES
from multinn.utils.checks import check_positive_int, check_units

KINDS = FEEDBACK_MODULES


@keras.saving.register_keras_serializable(package="multinn")
class FeedbackModule(keras.layers.Layer):
    """Reads the codes of all tracks' previous frame and returns a feedback vector per step.

    `"dense"`: a stack of tanh Dense layers on the previous step only. `"rnn"`: a stack of LSTM
    layers, so the feedback summarises the whole shared past.

    Args:
        input_dim: Size of all tracks' codes of one step, concatenated.
        kind: `"dense"` or `"rnn"`.
        units: Layer sizes; the feedback vector has `units[-1]` features.
        **kwargs: Base `keras.layers.Layer` arguments.
    """

    def __init__(self, input_dim: int, kind: str = "dense", units: Sequence[int] = (64,), **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"`kind`: expected one of {KINDS}, got {kind!r}")
        self.input_dim = check_positive_int(input_dim, "input_dim")
        self.kind = kind
        self.units = check_units(units, "units")
        if kind == "dense":
            self.stack = [keras.layers.Dense(u, activation="tanh", name=f"dense_{i}") for i, u in enumerate(self.units)]
        else:
            self.stack = [
                keras.layers.LSTM(u, return_sequences=True, name=f"lstm_{i}") for i, u in enumerate(self.units)
            ]
        size = self.input_dim
        for layer in self.stack:
            layer.build((None, None, size) if kind == "rnn" else (None, size))
            size = layer.units

    @property
    def output_dim(self) -> int:
        return self.units[-1]

    def call(self, inputs, training: bool = False):
        """Feedback for a sequence: `[batch, time, input_dim]` -> `[batch, time, units[-1]]`."""
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training) if self.kind == "rnn" else layer(x)
        return x

    def initial_state(self, batch_size) -> list:
        """Zero states (`[]` for the dense kind)."""
        if self.kind == "dense":
            return []
        return [[ops.zeros((batch_size, u)), ops.zeros((batch_size, u))] for u in self.units]

    def step(self, inputs, states):
        """One step: `([batch, input_dim], states) -> ([batch, units[-1]], states)`."""
        if self.kind == "dense":
            return self(inputs), states
        x, new_states = inputs, []
        for lstm, state in zip(self.stack, states, strict=True):
            x, state = lstm.cell(x, state)
            new_states.append(list(state))
        return x, new_states

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"input_dim": self.input_dim, "kind": self.kind, "units": list(self.units)})
        return config
