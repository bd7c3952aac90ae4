"""RNN-NADE: an LSTM stack conditioning one NADE (Boulanger-Lewandowski et al. 2012)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from multinn.generators.rnn_multi_nade import RNNMultiNADE


@keras.saving.register_keras_serializable(package="multinn")
class RNNNADE(RNNMultiNADE):
    """RNN-NADE (Boulanger-Lewandowski et al. 2012): an LSTM stack conditioning one NADE.

    Args:
        input_dim: Features read per step.
        num_visible: Units of a frame.
        num_hidden: NADE hidden units.
        rnn_units: LSTM layer sizes.
        dropout: Dropout rate on LSTM outputs.
        nade_implementation: `"loop"` or `"vectorized"` (see `NADELayer`).
        nade_hand_gradient: the NADE's `hand_gradient` (see `NADELayer`).
        seed: Seed of dropout and sampling.
        **kwargs: `context_dim` (see `RNNEstimator`) and base `keras.layers.Layer` arguments.
    """

    def __init__(
        self,
        input_dim: int,
        num_visible: int,
        num_hidden: int = 128,
        rnn_units: Sequence[int] = (128,),
        dropout: float = 0.0,
        nade_implementation: str = "loop",
        nade_hand_gradient: bool = True,
        seed: int | None = None,
        **kwargs,
    ):
        if isinstance(num_visible, (list, tuple)):
            (num_visible,) = num_visible
        if isinstance(num_hidden, (list, tuple)):
            (num_hidden,) = num_hidden
        super().__init__(
            input_dim,
            [num_visible],
            num_hidden,
            rnn_units,
            dropout,
            nade_implementation=nade_implementation,
            nade_hand_gradient=nade_hand_gradient,
            seed=seed,
            **kwargs,
        )
