"""Distribution estimators over one binary frame, and per-track frame encoders (Keras 3 layers).

- `NADELayer`: exact autoregressive density, exact sampling.
- `RBMLayer`: restricted Boltzmann machine; CD-k / PCD training, Gibbs sampling, exact or AIS
  partition function.
- `DBNEncoder`: a stack of RBMs as a deterministic (mean-field) frame encoder, greedily pre-trained.
- `PassEncoder`: the identity, with the encoder interface.
"""

from multinn.layers.dbn_encoder import DBNEncoder
from multinn.layers.nade_layer import NADELayer
from multinn.layers.pass_encoder import PassEncoder
from multinn.layers.rbm_layer import RBMLayer

__all__ = ["DBNEncoder", "NADELayer", "PassEncoder", "RBMLayer"]
