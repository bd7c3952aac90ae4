"""Audio rendering benchmark: 16 bars of the default preset's four voices rendered to WAV.

The piece is 16 bars (256 steps) of the bach-satb layout (4 steps per beat, 4 beats per bar,
Soprano/Alto/Tenor/Bass, all program 52, "Choir Aahs"), written at 100 bpm: 38.4 s of music.
`--source data` (default) takes the first test chorale of `../shared/data/jsb/Jsb16thSeparated.json`
that is at least 16 bars long; `--source model` generates it with
`multinn.load_pretrained("bach-satb-composer").generate(256, seed=0)` (imports TensorFlow).

Timed, best of `--repeat`, with the default SoundFont (TimGM6mb.sf2): `render_audio` end to end
at 48,000 Hz (the synthesizer's own rate), 44,100 Hz and 22,050 Hz; and its parts: `write_midi`,
the synthesizer alone (`midirenderer.render_wave_from`, SoundFont parsing included), the same for
a one-step file (the fixed cost: parsing the 6 MB SoundFont), and the resampling to 44,100 Hz.

Usage: python benchmarks/audio.py [--source data|model] [--data-dir ../shared/data/jsb] [--repeat 3]
Prints a table; numbers go in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import wave
from pathlib import Path

from metrics import best_seconds  # benchmarks/metrics.py, beside this script
from rich.console import Console
from rich.table import Table

BARS, TEMPO = 16, 100.0


def piece(source: str, data_dir: Path):
    """A `[256, 49, 4]` bach-satb roll and its spec."""
    if source == "model":
        import multinn

        model = multinn.load_pretrained("bach-satb-composer")
        return model.generate(BARS * model.spec.steps_per_bar, seed=0)[0], model.spec
    from multinn import datasets

    test = datasets.load("bach-satb", split="test", path=data_dir / "Jsb16thSeparated.json")
    steps = BARS * test.spec.steps_per_bar
    return next(roll for roll in test if len(roll) >= steps)[:steps], test.spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=("data", "model"), default="data")
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jsb"
    parser.add_argument("--data-dir", type=Path, default=default)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ["MULTINN_HOME"] = tempfile.mkdtemp(prefix="multinn-bench-")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import midirenderer
    import numpy as np

    from multinn.audio import NATIVE_SAMPLE_RATE, _resample, default_soundfont, render_audio
    from multinn.data import write_midi

    roll, spec = piece(args.source, args.data_dir)
    work = Path(tempfile.mkdtemp(prefix="multinn-audio-bench-"))
    soundfont = default_soundfont()
    render_audio(roll, spec, work / "warm-up.wav", tempo=TEMPO)  # imports and file caches

    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    table = Table(title=f"multinn audio rendering ({machine})")
    for column in ("what", "audio", "time", "speed"):
        table.add_column(column, justify="left" if column == "what" else "right")

    def row(what: str, seconds: float, audio: float | None) -> None:
        speed = f"{audio / seconds:,.0f}x real time" if audio else ""
        table.add_row(what, f"{audio:.1f} s" if audio else "", f"{seconds * 1000:,.0f} ms", speed)

    music = len(roll) / spec.steps_per_beat * 60 / TEMPO
    for rate in (NATIVE_SAMPLE_RATE, 44100, 22050):
        elapsed, result = best_seconds(
            lambda rate=rate: render_audio(roll, spec, work / f"{rate}.wav", tempo=TEMPO, sample_rate=rate), args.repeat
        )
        row(f"render_audio, {rate:,} Hz ({result.tail:.2f} s tail)", elapsed, result.duration)

    elapsed, _ = best_seconds(lambda: write_midi(roll, work / "piece.mid", spec, tempo=TEMPO), args.repeat)
    row("  write_midi", elapsed, None)
    sf2, midi = soundfont.read_bytes(), (work / "piece.mid").read_bytes()
    elapsed, wav = best_seconds(lambda: midirenderer.render_wave_from(sf2, midi), args.repeat)
    row("  synthesizer (midirenderer, 48 kHz)", elapsed, music)
    write_midi(roll[:1], work / "step.mid", spec, tempo=TEMPO)
    step = (work / "step.mid").read_bytes()
    elapsed, _ = best_seconds(lambda: midirenderer.render_wave_from(sf2, step), args.repeat)
    row("  SoundFont parsing (a one-step file)", elapsed, None)
    with wave.open(io.BytesIO(wav)) as reader:
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
    elapsed, _ = best_seconds(lambda: _resample(frames, NATIVE_SAMPLE_RATE, 44100), args.repeat)
    row("  resampling 48,000 -> 44,100 Hz", elapsed, len(frames) / NATIVE_SAMPLE_RATE)

    console = Console(soft_wrap=True)
    console.print(table)
    console.print(
        f"piece: {args.source}, {len(roll)} steps = {BARS} bars at {TEMPO:g} bpm ({music:.1f} s), "
        f"{int(roll.sum())} active cells"
    )
    console.print(f"SoundFont: {soundfont} ({soundfont.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
