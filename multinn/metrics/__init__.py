"""Metrics: musical metrics in NumPy, sample evaluation, and frame precision / recall / F1 (Keras).

Importing `multinn.metrics` does not import TensorFlow or Keras: the musical metrics
(`multinn.metrics.musical`) need only NumPy; `FrameMetrics` (a Keras metric) and the sample
evaluation (`compare_metrics`, `evaluate_samples` from `multinn.metrics.sample_metrics`) load on
first use.
"""

from __future__ import annotations

import importlib

from multinn.metrics.musical import (
    METRIC_INFO,
    SCALES,
    default_min_length,
    drum_pattern_rate,
    empty_bar_rate,
    frame_precision_recall_f1,
    in_scale_rate,
    musical_metrics,
    polyphonic_rate,
    qualified_note_rate,
    tonal_distance,
    used_pitch_classes,
    used_pitches,
)
from multinn.metrics.musical import __all__ as _musical_all

_LAZY = {
    "FrameMetrics": "multinn.metrics.frame_metrics",
    "compare_metrics": "multinn.metrics.sample_metrics",
    "evaluate_samples": "multinn.metrics.sample_metrics",
}

__all__ = sorted([*_musical_all, *_LAZY])


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'multinn.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
