"""`MultINNJamming`: per-track encoders and generators that never communicate."""

from __future__ import annotations

import keras
from keras import ops

from multinn.backend import fold_seed
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

    def _sample_step(self, previous, states, temperature, seed=None, clamp=None, clamp_mask=None):
        # The tracks of a frame are independent given the past: fixed tracks are set by the loop.
        units, new_states = [], []
        for k, (gen, codes, state) in enumerate(
            zip(self.track_generators, self._track_codes(previous), states, strict=True)
        ):
            outputs, state = gen.step(codes, state)
            units.append(gen.sample_frame(outputs, temperature, seed=None if seed is None else fold_seed(seed, k)))
            new_states.append(state)
        return ops.concatenate(units, axis=-1), new_states
