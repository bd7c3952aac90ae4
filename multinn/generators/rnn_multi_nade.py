"""RNN-MultiNADE: an LSTM stack conditioning one NADE per block of the frame."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from multinn.backend import fold_seed
from multinn.generators.rnn_estimator import RNNEstimator
from multinn.layers.nade_layer import NADELayer
from multinn.utils.checks import check_units


@keras.saving.register_keras_serializable(package="multinn")
class RNNMultiNADE(RNNEstimator):
    """One LSTM stack, one NADE per block of the frame (RNN-MultiNADE, MultINN's Composer).

    At each step the RNN output is mapped by Dense heads to each NADE's encoder bias
    `[num_hidden]` and decoder bias `[num_visible]` (Boulanger-Lewandowski et al. 2012). Blocks are
    independent given the RNN state, so `log p(frame) = sum_k log p_k(block_k)`.

    Args:
        input_dim: Features read per step.
        num_visible: Units of each block, e.g. `[49, 49, 49, 49]` for four tracks.
        num_hidden: NADE hidden units, one number for all blocks or one per block.
        rnn_units: LSTM layer sizes.
        dropout: Dropout rate on LSTM outputs.
        nade_implementation: `"loop"` or `"vectorized"` (see `NADELayer`).
        nade_hand_gradient: the NADEs' `hand_gradient`: `True` differentiates the loop with the
            backend's hand-written kernel (TensorFlow, JAX), `False` with autodiff (see `NADELayer`).
        seed: Seed of dropout and sampling.
        **kwargs: `context_dim` (see `RNNEstimator`) and base `keras.layers.Layer` arguments.
    """

    def __init__(
        self,
        input_dim: int,
        num_visible: Sequence[int],
        num_hidden: int | Sequence[int] = 128,
        rnn_units: Sequence[int] = (128,),
        dropout: float = 0.0,
        nade_implementation: str = "loop",
        nade_hand_gradient: bool = True,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(input_dim, rnn_units, dropout, seed, **kwargs)
        self.num_visible = check_units(num_visible, "num_visible")
        hidden = [num_hidden] * len(self.num_visible) if isinstance(num_hidden, int) else num_hidden
        self.num_hidden = check_units(hidden, "num_hidden")
        if len(self.num_hidden) != len(self.num_visible):
            raise ValueError(f"`num_hidden`: expected {len(self.num_visible)} sizes, got {num_hidden!r}")
        self.nade_implementation = nade_implementation
        self.nade_hand_gradient = nade_hand_gradient
        self.estimators = [
            NADELayer(
                d,
                h,
                implementation=nade_implementation,
                hand_gradient=nade_hand_gradient,
                seed=self._seed_offset(i),
                name=f"nade_{i}",
            )
            for i, (d, h) in enumerate(zip(self.num_visible, self.num_hidden, strict=True))
        ]
        self.heads = [
            [keras.layers.Dense(h, name=f"encoder_bias_{i}"), keras.layers.Dense(d, name=f"decoder_bias_{i}")]
            for i, (d, h) in enumerate(zip(self.num_visible, self.num_hidden, strict=True))
        ]
        self.build_rnn()

    def _logits(self, outputs, frames):
        parts = self.split_frames(frames)
        return ops.concatenate(
            [
                nade.conditional_logits(x, enc, dec)
                for nade, x, (enc, dec) in zip(self.estimators, parts, self.biases(outputs), strict=True)
            ],
            axis=-1,
        )

    def frame_log_prob(self, outputs, frames):
        parts = self.split_frames(frames)
        return ops.stack(
            [
                nade.log_prob(x, enc, dec)
                for nade, x, (enc, dec) in zip(self.estimators, parts, self.biases(outputs), strict=True)
            ],
            axis=-1,
        )

    def frame_scores(self, outputs, frames, likelihood: bool = True, predictions: bool = True) -> dict:
        # One pass gives the probabilities, the likelihood and the loss alike: always all of them.
        logits = self._logits(outputs, frames)
        frames = ops.cast(frames, logits.dtype)
        # log p(x_d | x_<d) = -softplus((1 - 2 x_d) * logit_d): stable for any logit.
        return {"probs": ops.sigmoid(logits), "dim_log_prob": -ops.softplus((1.0 - 2.0 * frames) * logits)}

    def frame_loss_terms(self, outputs, frames, scores: dict):
        """The NLL of each frame in nats, `[n]`."""
        return -ops.sum(scores["dim_log_prob"], axis=-1)

    def sample_frame(self, outputs, temperature=1.0, seed=None, clamp=None, clamp_mask=None):
        """A frame, block by block; clamped units are set inside each NADE's unit loop (see
        `NADELayer.sample`: exact conditional sampling when they precede the free units)."""
        blocks, start = [], 0
        for i, nade in enumerate(self.estimators):
            stop = start + nade.num_visible
            block_clamp = block_mask = None
            if clamp is not None:
                block_clamp, block_mask = clamp[:, start:stop], clamp_mask[..., start:stop]
            stream = None if seed is None else fold_seed(seed, i)
            blocks.append(self.sample_part(i, outputs, temperature, stream, block_clamp, block_mask))
            start = stop
        return ops.concatenate(blocks, axis=-1)

    def sample_part(self, index, outputs, temperature=1.0, seed=None, clamp=None, clamp_mask=None):
        enc, dec = self.part_biases(index, outputs)
        return self.estimators[index].sample(
            enc, dec, temperature=temperature, seed=seed, clamp=clamp, clamp_mask=clamp_mask
        )[0]

    def init_from_frames(self, frames: np.ndarray, epsilon: float = 1e-3) -> None:
        """Set each decoder-bias head's bias to the logit of the unit frequencies in `frames`."""
        start = 0
        for d, (_, decoder_head) in zip(self.num_visible, self.heads, strict=True):
            p = np.clip(np.asarray(frames[:, start : start + d], np.float64).mean(axis=0), epsilon, 1 - epsilon)
            decoder_head.bias.assign(np.log(p / (1 - p)).astype("float32"))
            start += d

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_visible": list(self.num_visible),
                "num_hidden": list(self.num_hidden),
                "nade_implementation": self.nade_implementation,
                "nade_hand_gradient": self.nade_hand_gradient,
            }
        )
        return config
