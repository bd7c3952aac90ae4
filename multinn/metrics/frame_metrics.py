"""Frame-level precision, recall, F1 and accuracy of thresholded note predictions (a Keras metric)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="multinn")
class FrameMetrics(keras.metrics.Metric):
    """Counts true positives, false positives and false negatives of notes over real steps.

    A note `(t, pitch, track)` is predicted on when its probability is at least `threshold`.
    Over everything seen since the last reset:

    - `frame_precision = TP / (TP + FP)`, `frame_recall = TP / (TP + FN)` (the original MultINN set
      recall to precision; this one is right),
    - `frame_f1 = 2 TP / (2 TP + FP + FN)`,
    - `frame_accuracy = TP / (TP + FP + FN)` (Bay et al. 2009, the accuracy of music transcription).

    Each is 0 when its denominator is 0. `result()` returns the four as a dict.

    Args:
        threshold: Probability at which a note counts as predicted.
        name: Metric name.
    """

    def __init__(self, threshold: float = 0.5, name: str = "frame", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = float(threshold)
        self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")
        self.false_positives = self.add_variable(shape=(), initializer="zeros", name="false_positives")
        self.false_negatives = self.add_variable(shape=(), initializer="zeros", name="false_negatives")

    def update_state(self, y_true, y_pred, mask=None):
        """Args: `y_true` binary `[batch, time, ...]`; `y_pred` probabilities, same shape; `mask` `[batch, time]`."""
        truth = ops.cast(y_true, "float32")
        predicted = ops.cast(ops.greater_equal(y_pred, self.threshold), "float32")
        if mask is not None:
            weight = ops.cast(mask, "float32")
            weight = ops.reshape(weight, (*ops.shape(weight), *([1] * (len(truth.shape) - len(weight.shape)))))
            truth, predicted = truth * weight, predicted * weight
        self.true_positives.assign_add(ops.sum(truth * predicted))
        self.false_positives.assign_add(ops.sum((1.0 - truth) * predicted))
        self.false_negatives.assign_add(ops.sum(truth * (1.0 - predicted)))

    def result(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        ratio = lambda a, b: ops.where(b > 0, a / ops.maximum(b, 1e-12), 0.0)  # noqa: E731
        return {
            "frame_accuracy": ratio(tp, tp + fp + fn),
            "frame_precision": ratio(tp, tp + fp),
            "frame_recall": ratio(tp, tp + fn),
            "frame_f1": ratio(2.0 * tp, 2.0 * tp + fp + fn),
        }

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}
