"""Generators: an LSTM stack conditioning frame estimators (RNN-NADE, RNN-RBM, RNN-MultiNADE)."""

from multinn.generators.rnn_estimator import RNNEstimator
from multinn.generators.rnn_multi_nade import RNNMultiNADE
from multinn.generators.rnn_nade import RNNNADE
from multinn.generators.rnn_rbm import RNNRBM

__all__ = ["RNNEstimator", "RNNMultiNADE", "RNNNADE", "RNNRBM"]
