"""`MultINNJoint`: one encoder and one generator over all tracks concatenated."""

from __future__ import annotations

import keras

from multinn.models.multinn import MultINN, shift_right


@keras.saving.register_keras_serializable(package="multinn")
class MultINNJoint(MultINN):
    """Joint mode: the tracks of a frame are one vector `[pitch * track]` (pitch-major) for one
    encoder and one generator. On one track with a NADE this is the classic RNN-NADE.

    In generation with fixed tracks, their units are clamped inside the generator's frame (the
    NADE's unit loop, the RBM's Gibbs chain), so the free units are drawn given the fixed tracks'
    current frame: exactly from their conditional for an RBM (clamped Gibbs sampling, as the chain
    mixes) and for a NADE when every fixed unit precedes every free unit in the pitch-major unit
    order (`(pitch 0, track 0), (pitch 0, track 1), ..., (pitch 1, track 0), ...`: e.g. one pitch per track, or the
    fixed tracks first at each pitch and no free unit below the fixed ones' lowest pitch). Otherwise a free
    unit sees the fixed units before it, not those after it.

    Args:
        spec: The data's `PianorollSpec`.
        **kwargs: See `MultINN` (`encoder`, `encoder_units`, `generator`, `rnn_units`, ...).
    """

    mode = "joint"
    layout = "pitch_major"
    clamps_in_frame = True

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

    def _step(self, previous, states):
        outputs, states = self.generator.step(self.encoder.encode(self.to_units(previous)), states)
        return [outputs], states
