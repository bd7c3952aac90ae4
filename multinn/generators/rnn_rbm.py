"""RNN-RBM: an LSTM stack conditioning an RBM (Boulanger-Lewandowski et al. 2012)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from multinn.generators.rnn_estimator import RNNEstimator
from multinn.layers.rbm_layer import RBMLayer
from multinn.utils.checks import check_positive_int


@keras.saving.register_keras_serializable(package="multinn")
class RNNRBM(RNNEstimator):
    """RNN-RBM: at each step, Dense heads map the RNN output to the RBM's visible and hidden biases.

    Trained with the contrastive-divergence surrogate (its gradient is the CD-k update, flowing
    into the heads and the RNN through the conditional biases). Its likelihood comes from
    annealed importance sampling of each step's partition function, never from a reconstruction
    error; each step's partition function is enumerated exactly instead when that costs less than
    the AIS budget (`rbm_layer.exact_is_cheaper`: up to 15 units at 32 chains x 500 temperatures,
    never above `rbm_layer.EXACT_MAX_UNITS`; see `likelihood_is_exact`). `pretrain_on_frames`
    is the original's generator pre-training: the RBM alone on all frames (`RBMLayer.pretrain`:
    visible bias from the data frequencies, then CD-k), then the heads start from its biases.

    Args:
        input_dim: Features read per step.
        num_visible: Units of a frame.
        num_hidden: RBM hidden units.
        rnn_units: LSTM layer sizes.
        dropout: Dropout rate on LSTM outputs.
        cd_steps: Gibbs steps of the CD-k negative phase.
        gibbs_steps: Gibbs steps when sampling a frame (25 in the original).
        ais_chains: AIS chains per partition function when scoring.
        ais_temperatures: AIS intermediate distributions when scoring.
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
        cd_steps: int = 1,
        gibbs_steps: int = 25,
        ais_chains: int = 32,
        ais_temperatures: int = 500,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(input_dim, rnn_units, dropout, seed, **kwargs)
        self.num_visible = check_positive_int(num_visible, "num_visible")
        self.num_hidden = check_positive_int(num_hidden, "num_hidden")
        self.cd_steps = check_positive_int(cd_steps, "cd_steps")
        self.gibbs_steps = check_positive_int(gibbs_steps, "gibbs_steps")
        self.ais_chains = check_positive_int(ais_chains, "ais_chains")
        self.ais_temperatures = check_positive_int(ais_temperatures, "ais_temperatures")
        self.rbm = RBMLayer(
            self.num_visible, self.num_hidden, cd_steps=self.cd_steps, seed=self._seed_offset(0), name="rbm"
        )
        self.estimators = [self.rbm]
        self.heads = [
            [
                keras.layers.Dense(self.num_visible, name="visible_bias"),
                keras.layers.Dense(self.num_hidden, name="hidden_bias"),
            ]
        ]
        self.build_rnn()

    @property
    def likelihood_is_exact(self) -> bool:
        """Whether `frame_log_prob` enumerates each step's partition function (else AIS estimates it)."""
        return self.rbm.log_prob_is_exact(True, self.ais_chains, self.ais_temperatures)

    def frame_log_prob(self, outputs, frames):
        ((visible, hidden),) = self.biases(outputs)
        # `method=None`: exact when cheaper than AIS (`likelihood_is_exact`), a partition function per frame.
        log_p = self.rbm.log_prob(
            frames, visible, hidden, num_chains=self.ais_chains, num_temperatures=self.ais_temperatures
        )
        return log_p[:, None]

    def frame_scores(self, outputs, frames, likelihood: bool = True, predictions: bool = True) -> dict:
        """With `predictions`, `probs`: each note's exact conditional given the frame's other
        notes, `p(v_d = 1 | v_-d)` under the step's RBM (`RBMLayer.conditional_logits`), the RBM's
        teacher-forced prediction as NADE's `p(x_d | x_<d)` is a NADE's (`n x D x H` softplus
        terms: several times a CD-1 step's work, so training steps leave them out) and
        `pseudo_log_prob` `[n, 1]`, the frame's pseudo-log-likelihood `sum_d log p(v_d | v_-d)`
        (Besag 1975: a deterministic monitor of the fit, never the likelihood); with `likelihood`,
        the frame's log-likelihood (`frame_log_prob`)."""
        ((visible, hidden),) = self.biases(outputs)
        scores = {}
        if predictions:
            logits = self.rbm.conditional_logits(frames, visible, hidden)
            # log sigmoid(+-logit): log p of each unit's observed value.
            signed = ops.where(ops.cast(frames, logits.dtype) > 0.5, logits, -logits)
            pseudo = ops.sum(ops.log_sigmoid(signed), axis=-1)
            scores["probs"] = ops.sigmoid(logits)
            scores["pseudo_log_prob"] = pseudo[:, None]
        if likelihood:
            scores["log_prob"] = self.frame_log_prob(outputs, frames)
        return scores

    def frame_loss_terms(self, outputs, frames, scores: dict):
        """The CD-k surrogate of each frame, `[n]` (`RBMLayer.cd_terms`; their weighted mean is `RBMLayer.cd_loss`)."""
        ((visible, hidden),) = self.biases(outputs)
        return self.rbm.cd_terms(frames, visible, hidden)

    def sample_frame(self, outputs, temperature=1.0, seed=None, clamp=None, clamp_mask=None):
        """A frame from `gibbs_steps` Gibbs steps; clamped units stay clamped in every step, so the
        free units come from their conditional given them (exact as the chain mixes)."""
        ((visible, hidden),) = self.biases(outputs)
        return self.rbm.sample(
            visible,
            hidden,
            steps=self.gibbs_steps,
            temperature=temperature,
            seed=seed,
            clamp=clamp,
            clamp_mask=clamp_mask,
        )

    def sample_part(self, index, outputs, temperature=1.0, seed=None, clamp=None, clamp_mask=None):
        if index != 0:
            raise ValueError(f"an RNN-RBM has one estimator (index 0), got index {index}")
        return self.sample_frame(outputs, temperature, seed, clamp, clamp_mask)

    def pretrain_on_frames(
        self,
        frames: np.ndarray,
        epochs: int = 5,
        batch_size: int = 100,
        learning_rate: float = 0.01,
        momentum: float = 0.5,
        verbose: int = 0,
    ) -> dict:
        """Generator pre-training: fit the RBM alone on all frames with CD-k, then start the heads there.

        The RBM is trained by `RBMLayer.pretrain` (visible bias from the frame frequencies, then
        SGD with momentum on the CD-k surrogate through `keras.Model.fit`). Then the heads' biases
        are set to the RBM's and their kernels scaled by 0.01, so that the RNN-RBM starts as the
        pre-trained RBM, whatever the RNN outputs.

        Args:
            frames: Binary frames `[num_frames, num_visible]`.
            epochs: Passes over the frames.
            batch_size: Frames per CD update.
            learning_rate: SGD learning rate.
            momentum: SGD momentum.
            verbose: `fit`'s verbosity.

        Returns:
            The `History.history` dict of the RBM's `fit`, for monitoring: per epoch, `"loss"` (the
            CD surrogate) and `"reconstruction_error"` (mean squared error per unit of the
            mean-field reconstruction).
        """
        history = self.rbm.pretrain(frames, epochs, batch_size, learning_rate, momentum, verbose)
        visible_head, hidden_head = self.heads[0]
        # Copies: on JAX an assigned variable would share the RBM's buffer, and a jitted training
        # step, which donates every variable's buffer, would donate that buffer twice.
        visible_head.bias.assign(ops.convert_to_numpy(self.rbm.visible_bias))
        hidden_head.bias.assign(ops.convert_to_numpy(self.rbm.hidden_bias))
        for head in (visible_head, hidden_head):
            head.kernel.assign(head.kernel * 0.01)
        return history

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_visible": self.num_visible,
                "num_hidden": self.num_hidden,
                "cd_steps": self.cd_steps,
                "gibbs_steps": self.gibbs_steps,
                "ais_chains": self.ais_chains,
                "ais_temperatures": self.ais_temperatures,
            }
        )
        return config
