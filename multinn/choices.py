"""The names of the package's choices, in one TensorFlow-free place: the modes, encoders,
generators and feedback modules of the models, and the distribution strategies, precisions and
input sharding of training. The command line offers exactly these (`multinn train --help` never
imports TensorFlow); the modules that implement them check against them.
"""

MODES = ("joint", "composer", "jamming", "feedback")
"""The four MultINN modes (`multinn.models.MODES` maps each to its class)."""

ENCODERS = ("pass", "dbn")
"""Per-track frame encoders: identity, or a deep belief network."""

GENERATORS = ("nade", "rbm")
"""Distribution estimators of the generators: RNN-NADE, RNN-RBM (Composer mode: RNN-MultiNADE)."""

FEEDBACK_MODULES = ("dense", "rnn")
"""Feedback modules of the Feedback mode."""

STRATEGIES = ("default", "mirrored", "multi-worker")
"""`tf.distribute` strategies: one device, all GPUs of a machine, the workers of `TF_CONFIG`."""

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
"""Dtype policies of training (`auto`: mixed_float16 on a GPU, else mixed_bfloat16)."""

INPUT_SHARDING = ("auto", "files", "data")
"""How a multi-worker run splits its training data."""

AUTO_SHARD_POLICIES = ("auto", "file", "data", "off")
"""`tf.data` auto-shard policies."""
