"""`MultINNJamming`: per-track encoders and generators that never communicate."""

from __future__ import annotations

import keras

from multinn.models.multinn import MultINN, shift_right


@keras.saving.register_keras_serializable(package="multinn")
class MultINNJamming(MultINN):
    """Jamming mode: one encoder and one generator per track; each track only hears its own past.

    Args:
        spec: The data's `PianorollSpec`.
        **kwargs: See `MultINN`.
    """

    mode = "jamming"

    def __init__(self, spec, **kwargs):
        super().__init__(spec, **kwargs)
        self.track_encoders = [self._make_encoder(self.num_pitches, f"encoder_{k}") for k in range(self.num_tracks)]
        self.track_generators = [
            self._make_generator(self._generator_input_dim(), self.num_pitches, f"generator_{k}")
            for k in range(self.num_tracks)
        ]
        self.built = True

    def _generator_input_dim(self) -> int:
        return self._encoded_size(self.num_pitches)

    @property
    def encoders(self) -> list:
        return list(self.track_encoders)

    @property
    def generators(self) -> list:
        return list(self.track_generators)

    def _track_codes(self, pianoroll) -> list:
        return [enc.encode(pianoroll[..., k]) for k, enc in enumerate(self.track_encoders)]

    def _rnn_outputs(self, pianoroll, training):
        return [
            gen.rnn_outputs(shift_right(codes), training=training)
            for gen, codes in zip(self.track_generators, self._track_codes(pianoroll), strict=True)
        ]

    def _initial_states(self, batch_size):
        return [gen.initial_state(batch_size) for gen in self.track_generators]

    def _step(self, previous, states):
        outputs, new_states = [], []
        for gen, codes, state in zip(self.track_generators, self._track_codes(previous), states, strict=True):
            out, state = gen.step(codes, state)
            outputs.append(out)
            new_states.append(state)
        return outputs, new_states
