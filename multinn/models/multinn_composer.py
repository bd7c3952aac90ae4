"""`MultINNComposer`: per-track encoders, one shared RNN, one NADE per track (RNN-MultiNADE)."""

from __future__ import annotations

import keras
from keras import ops

from multinn.models.multinn import MultINN, shift_right


@keras.saving.register_keras_serializable(package="multinn")
class MultINNComposer(MultINN):
    """Composer mode: every track is encoded on its own, one LSTM stack reads all codes of the
    previous step, and a NADE per track models that track's frame given the shared state
    (`RNNMultiNADE`). Tracks are conditionally independent given the past.

    Args:
        spec: The data's `PianorollSpec`.
        **kwargs: See `MultINN`; `generator` must be `"nade"`.
    """

    mode = "composer"

    def __init__(self, spec, **kwargs):
        if kwargs.get("generator", "nade") != "nade":
            raise ValueError(
                f"Composer mode uses RNN-MultiNADE: `generator` must be 'nade', got {kwargs['generator']!r}"
            )
        super().__init__(spec, **kwargs)
        self.track_encoders = [self._make_encoder(self.num_pitches, f"encoder_{k}") for k in range(self.num_tracks)]
        input_dim = self._encoded_size(self.num_pitches) * self.num_tracks
        self.generator = self._make_generator(input_dim, [self.num_pitches] * self.num_tracks, "generator")
        self.built = True

    @property
    def encoders(self) -> list:
        return list(self.track_encoders)

    @property
    def generators(self) -> list:
        return [self.generator]

    def _codes(self, pianoroll):
        return ops.concatenate([enc.encode(pianoroll[..., k]) for k, enc in enumerate(self.track_encoders)], axis=-1)

    def _rnn_outputs(self, pianoroll, training):
        return [self.generator.rnn_outputs(shift_right(self._codes(pianoroll)), training=training)]

    def _initial_states(self, batch_size):
        return self.generator.initial_state(batch_size)

    def _step(self, previous, states):
        outputs, states = self.generator.step(self._codes(previous), states)
        return [outputs], states
