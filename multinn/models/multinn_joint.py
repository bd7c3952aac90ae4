"""`MultINNJoint`: one encoder and one generator over all tracks concatenated."""

from __future__ import annotations

import keras

from multinn.models.multinn import MultINN, shift_right


@keras.saving.register_keras_serializable(package="multinn")
class MultINNJoint(MultINN):
    """Joint mode: the tracks of a frame are one vector `[pitch * track]` (pitch-major) for one
    encoder and one generator. On one track with a NADE this is the classic RNN-NADE.

    Args:
        spec: The data's `PianorollSpec`.
        **kwargs: See `MultINN` (`encoder`, `encoder_units`, `generator`, `rnn_units`, ...).
    """

    mode = "joint"
    layout = "pitch_major"

    def __init__(self, spec, **kwargs):
        super().__init__(spec, **kwargs)
        units = self.num_pitches * self.num_tracks
        self.encoder = self._make_encoder(units, "encoder")
        self.generator = self._make_generator(self._encoded_size(units), units, "generator")
        self.built = True

    @property
    def encoders(self) -> list:
        return [self.encoder]

    @property
    def generators(self) -> list:
        return [self.generator]

    def _encoder_inputs(self, frames, index):
        return frames.reshape(len(frames), -1)

    def _rnn_outputs(self, pianoroll, training):
        inputs = shift_right(self.encoder.encode(self.to_units(pianoroll)))
        return [self.generator.rnn_outputs(inputs, training=training)]

    def _initial_states(self, batch_size):
        return self.generator.initial_state(batch_size)

    def _sample_step(self, previous, states, temperature, seed=None):
        outputs, states = self.generator.step(self.encoder.encode(self.to_units(previous)), states)
        return self.generator.sample_frame(outputs, temperature, seed=seed), states
