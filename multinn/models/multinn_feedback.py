"""`MultINNFeedback`: Jamming plus a feedback module that every track's generator hears."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from multinn.models.feedback_module import FeedbackModule
from multinn.models.multinn import shift_right
from multinn.models.multinn_jamming import MultINNJamming
from multinn.utils.checks import check_units


@keras.saving.register_keras_serializable(package="multinn")
class MultINNFeedback(MultINNJamming):
    """Feedback mode: per-track encoders and generators, plus a `FeedbackModule` (Dense or RNN)
    that reads all tracks' codes of the previous step and feeds its output to every generator
    next to the track's own code.

    Args:
        spec: The data's `PianorollSpec`.
        feedback: `"dense"` or `"rnn"`.
        feedback_units: Layer sizes of the feedback module.
        **kwargs: See `MultINN`.
    """

    mode = "feedback"

    def __init__(self, spec, feedback: str = "dense", feedback_units: Sequence[int] = (64,), **kwargs):
        self.feedback_units = check_units(feedback_units, "feedback_units")
        self.feedback_kind = feedback
        super().__init__(spec, **kwargs)
        codes = self._encoded_size(self.num_pitches) * self.num_tracks
        self.feedback = FeedbackModule(codes, feedback, self.feedback_units, name="feedback")

    def _generator_input_dim(self) -> int:
        return self._encoded_size(self.num_pitches) + self.feedback_units[-1]

    def _rnn_outputs(self, pianoroll, training):
        codes = [shift_right(c) for c in self._track_codes(pianoroll)]
        feedback = self.feedback(ops.concatenate(codes, axis=-1), training=training)
        return [
            gen.rnn_outputs(ops.concatenate([code, feedback], axis=-1), training=training)
            for gen, code in zip(self.track_generators, codes, strict=True)
        ]

    def _initial_states(self, batch_size):
        return [self.feedback.initial_state(batch_size), super()._initial_states(batch_size)]

    def _step(self, previous, states):
        feedback_state, track_states = states
        codes = self._track_codes(previous)
        feedback, feedback_state = self.feedback.step(ops.concatenate(codes, axis=-1), feedback_state)
        outputs, new_states = [], []
        for gen, code, state in zip(self.track_generators, codes, track_states, strict=True):
            out, state = gen.step(ops.concatenate([code, feedback], axis=-1), state)
            outputs.append(out)
            new_states.append(state)
        return outputs, [feedback_state, new_states]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"feedback": self.feedback_kind, "feedback_units": list(self.feedback_units)})
        return config
