"""Sample evaluation: the musical metrics of a model's samples against those of a data split.

Likelihood says how well a model fits; these numbers say whether its samples *sound like the
data*: each musical metric (`multinn.metrics.musical`) is computed per track on generated
pieces and on the real pieces, and their relative gap is reported. `compare_metrics` is plain
NumPy; `evaluate_samples` also generates (and imports TensorFlow).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from multinn.data.pianoroll_spec import PianorollSpec

DEFAULT_SAMPLE_BARS = 16
"""Length of each generated sample when none is given: 16 bars, as `multinn sample`."""


def relative_gap(sample_value: float, data_value: float) -> float:
    """`(samples - data) / |data|`: 0 when both are equal (both 0 included), NaN when undefined
    (either is NaN, or the data value is 0 and the samples' is not)."""
    if math.isnan(sample_value) or math.isnan(data_value):
        return math.nan
    if sample_value == data_value:
        return 0.0
    if data_value == 0:
        return math.nan
    return (sample_value - data_value) / abs(data_value)


def _number(value: Any) -> float | None:
    """JSON-safe float: NaN and infinities become `None`."""
    value = float(value)
    return value if math.isfinite(value) else None


def compare_metrics(samples: Any, data: Any, spec: PianorollSpec) -> dict[str, Any]:
    """Musical metrics of `samples` and of `data`, per track, and their relative gaps.

    Args:
        samples: Generated rolls `[batch, time, pitch, track]` or a list of pieces
            `[time, pitch, track]`.
        data: Real pieces in the same forms (e.g. a `PianorollDataset`: a sequence of pieces).
        spec: The rolls' `PianorollSpec` (bar length, lowest pitch, drum tracks).

    Returns:
        A JSON-serialisable dict:
        `{"tracks": {track: {metric: {"samples", "data", "gap"}}},
        "tonal_distance": {"<a>/<b>": {"samples", "data", "gap"}}, "mean_abs_gap": float | None}`.
        Metrics undefined for a track (drum pattern of a pitched track, pitch classes of drums)
        are left out; undefined values are `None`. `mean_abs_gap` averages `|gap|` over every
        defined entry (tonal distances included): one number to rank models by, lower is closer
        to the data.
    """
    from multinn.metrics.musical import musical_metrics

    def pieces(rolls):
        return rolls if isinstance(rolls, np.ndarray) else list(rolls)  # e.g. a PianorollDataset

    ours, theirs = musical_metrics(pieces(samples), spec), musical_metrics(pieces(data), spec)
    report: dict[str, Any] = {"tracks": {}, "tonal_distance": {}}
    gaps = []

    def entry(a: float, b: float) -> dict[str, float | None]:
        gap = relative_gap(float(a), float(b))
        if not math.isnan(gap):
            gaps.append(abs(gap))
        return {"samples": _number(a), "data": _number(b), "gap": _number(gap)}

    for k, track in enumerate(spec.track_names):
        rows = {}
        for key, values in ours.items():
            if key == "tonal_distance":
                continue
            a, b = float(values[k]), float(theirs[key][k])
            if math.isnan(a) and math.isnan(b):
                continue  # not defined for this kind of track
            rows[key] = entry(a, b)
        report["tracks"][track] = rows
    td_ours, td_theirs = ours["tonal_distance"], theirs["tonal_distance"]
    for i in range(spec.num_tracks):
        for j in range(i + 1, spec.num_tracks):
            a, b = float(td_ours[i, j]), float(td_theirs[i, j])
            if math.isnan(a) and math.isnan(b):
                continue
            report["tonal_distance"][f"{spec.track_names[i]}/{spec.track_names[j]}"] = entry(a, b)
    report["mean_abs_gap"] = _number(np.mean(gaps)) if gaps else None
    return report


def evaluate_samples(
    model,
    data: Sequence[np.ndarray],
    num_samples: int = 64,
    num_steps: int | None = None,
    temperature: float = 1.0,
    seed: int | None = 0,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Generate `num_samples` pieces from `model` and compare their musical metrics with `data`.

    Args:
        model: A `multinn.models.MultINN` model (e.g. from `multinn.load_pretrained`).
        data: Real pieces in the model's spec, e.g. `multinn.datasets.load("bach-satb", split="test")`.
        num_samples: Pieces to generate.
        num_steps: Steps per sample; `None`: 16 bars.
        temperature: Sampling temperature (see `MultINN.generate`).
        seed: Seed of generation (`None`: random); batches use `seed`, `seed + 1`, ...
        batch_size: Samples generated per compiled call.

    Returns:
        `compare_metrics`'s dict plus `"num_samples"`, `"num_steps"`, `"temperature"`, `"seed"`
        and `"data_pieces"`.

    Raises:
        SpecError: The data's spec differs from the model's.
    """
    spec = model.spec
    data_spec = getattr(data, "spec", None)
    if data_spec is not None:
        spec.check_compatible(data_spec, what="evaluation data")
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}`: expected a positive integer, got {value!r}")
    steps = DEFAULT_SAMPLE_BARS * spec.steps_per_bar if num_steps is None else int(num_steps)
    chunks = []
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        chunk_seed = None if seed is None else int(seed) + start // batch_size
        chunks.append(model.generate(steps, batch_size=count, temperature=temperature, seed=chunk_seed))
    samples = np.concatenate(chunks)
    report = compare_metrics(samples, data, spec)
    report.update(
        num_samples=int(num_samples), num_steps=steps, temperature=float(temperature), seed=seed, data_pieces=len(data)
    )
    return report
