"""Metrics: frame-level precision / recall / F1 / accuracy (Keras)."""

from multinn.metrics.frame_metrics import FrameMetrics

__all__ = ["FrameMetrics"]
