"""Audio for humans: piano-rolls and MIDI files rendered offline to WAV with a General MIDI SoundFont.

`multinn.render_audio(roll, spec, path)` is this module's `render_audio`; `render_midi` renders
any MIDI file. Both need the audio extra (`pip install "multinn[audio]"`): midirenderer (Python
wheels of the Rust SoundFont synthesizer rustysynth, no system library) and SciPy (resampling);
importing `multinn` never imports them.

Each MIDI channel sounds with its General MIDI program, and channel 10 with the SoundFont's
drum kit (bank 128), which is how `multinn.data.write_midi` writes a spec's tracks. The
synthesizer runs at 48 kHz (`NATIVE_SAMPLE_RATE`); other rates are resampled from it. The WAV
lasts as long as the MIDI file, plus the release tail of the notes still sounding at its end
(at most `MAX_TAIL_SECONDS`, cut where the sound falls below `SILENCE`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from multinn.data.pianoroll_spec import PianorollSpec
from multinn.errors import MidiError, MultinnError

DEFAULT_SOUNDFONT = "TimGM6mb.sf2"
"""The file name of the default SoundFont: Tim Brechbill's 6 MB General MIDI bank, as shipped
inside the pretty_midi wheel (a dependency of pypianoroll); see `default_soundfont`."""

NATIVE_SAMPLE_RATE = 48_000
"""Frames per second midirenderer synthesizes at; another `sample_rate` is resampled from it."""

MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000
"""The sample rates accepted, in Hz."""

MAX_TAIL_SECONDS = 4.0
"""Longest release tail rendered after the MIDI file's end. With TimGM6mb a choir or string note
dies away (-60 dB) within 1.5 s of its note-off, a crash cymbal within 3.3 s."""

SILENCE = 1e-4
"""Level (-80 dB of full scale) below which the release tail counts as silent and is cut."""

AUDIO_EXTRA = "pip install 'multinn[audio]'"


@dataclasses.dataclass(frozen=True)
class RenderedAudio:
    """A WAV file written by `render_midi` or `render_audio`.

    Attributes:
        path: The WAV file (16-bit PCM, stereo).
        duration: Its length in seconds: `midi_duration` plus the release tail.
        sample_rate: Frames per second.
        midi_duration: Length of the MIDI file in seconds, up to its last event (a written roll's
            last step, trailing silence included).
    """

    path: Path
    duration: float
    sample_rate: int
    midi_duration: float

    @property
    def tail(self) -> float:
        """Seconds of release tail after the MIDI file's end."""
        return self.duration - self.midi_duration


def check_installed(what: str = "rendering audio") -> None:
    """Raise a `MultinnError` unless the audio extra (midirenderer, SciPy) can be imported.

    Args:
        what: What needs it, for the message: `"--audio needs the audio extra: pip install ..."`.
    """
    try:
        import midirenderer  # noqa: F401
        import scipy.signal  # noqa: F401
    except ImportError:
        raise MultinnError(f"{what} needs the audio extra: {AUDIO_EXTRA}") from None


def default_soundfont() -> Path:
    """The SoundFont used when none is given: `TimGM6mb.sf2` inside the installed pretty_midi package.

    Raises:
        MultinnError: pretty_midi is not installed, or its wheel has no such file.
    """
    found = importlib.util.find_spec("pretty_midi")
    folders = list(found.submodule_search_locations or []) if found else []
    for folder in folders:
        path = Path(folder) / DEFAULT_SOUNDFONT
        if path.is_file():
            return path
    where = f"pretty_midi ({', '.join(folders)})" if folders else "pretty_midi, which is not installed,"
    raise MultinnError(
        f"the default SoundFont {DEFAULT_SOUNDFONT} comes with {where} and was not found: "
        f"{AUDIO_EXTRA}, or pass a .sf2 file"
    )


def render_midi(
    midi_path: str | os.PathLike,
    wav_path: str | os.PathLike,
    soundfont: str | os.PathLike | None = None,
    sample_rate: int = 44100,
) -> RenderedAudio:
    """Render a MIDI file to a 16-bit stereo WAV file with a SoundFont, offline and atomically.

    Every channel plays the General MIDI program its program_change events select (bank 0),
    channel 10 the drum kit; tempo changes and velocities are honoured.
    The audio lasts as long as the MIDI file (its last event, end_of_track included), plus the
    release tail of the notes still sounding there (at most `MAX_TAIL_SECONDS`).

    Args:
        midi_path: A Standard MIDI File of type 0 or 1.
        wav_path: The WAV file to write; written through a temporary file beside it, so an error
            never leaves half a file.
        soundfont: A SoundFont 2 file (`.sf2`); `None`: `default_soundfont()` (TimGM6mb).
        sample_rate: Frames per second of the WAV, 8,000 to 192,000; 48,000 is the synthesizer's
            own rate, others are resampled from it (polyphase filter, `scipy.signal.resample_poly`).

    Returns:
        A `RenderedAudio`: the path, duration and sample rate written.

    Raises:
        MidiError: The MIDI file is missing, unreadable, corrupt, of type 2, or 0 seconds long.
        MultinnError: The audio extra is missing, the SoundFont is missing or not a usable
            `.sf2` file, `sample_rate` is out of range, or `wav_path` cannot be written.

    Example:
    ```python
    from multinn.audio import render_midi

    info = render_midi("sample.mid", "sample.wav", sample_rate=48000)
    info.midi_duration, info.tail  # seconds of music, seconds of release after it
    ```
    """
    check_installed()
    sample_rate = _check_sample_rate(sample_rate)
    midi_path, wav_path = Path(midi_path), Path(wav_path)
    midi_bytes, midi_duration = _with_tail(_read_midi_bytes(midi_path), midi_path, MAX_TAIL_SECONDS)
    soundfont_path = default_soundfont() if soundfont is None else Path(soundfont)
    frames = _synthesize(_read_soundfont(soundfont_path), midi_bytes, soundfont_path, midi_path)
    frames = frames[: _end_of_tail(frames, round(midi_duration * NATIVE_SAMPLE_RATE))]
    if sample_rate != NATIVE_SAMPLE_RATE:
        frames = _resample(frames, NATIVE_SAMPLE_RATE, sample_rate)
    _write_wav(frames, sample_rate, wav_path)
    return RenderedAudio(wav_path, len(frames) / sample_rate, sample_rate, midi_duration)


def render_audio(
    roll: Any,
    spec: PianorollSpec,
    path: str | os.PathLike,
    *,
    tempo: float = 120.0,
    soundfont: str | os.PathLike | None = None,
    sample_rate: int = 44100,
) -> RenderedAudio:
    """Render one piece to a WAV file: each track with its spec's program, drum tracks with the drum kit.

    The roll is written as MIDI by `multinn.data.write_midi` (one MIDI track per spec track, drums
    on channel 10; each run of active steps one note of velocity 100) and rendered by
    `render_midi`: the audio lasts `len(roll) / spec.steps_per_beat * 60 / tempo` seconds, plus
    the release tail of the last notes.

    Args:
        roll: One binary piece `[time, pitch, track]` (bool or 0/1), or `[time, pitch]` for a
            one-track spec.
        spec: The roll's `PianorollSpec` (resolution, pitch range, tracks and their programs).
        path: The WAV file to write (16-bit PCM, stereo), atomically.
        tempo: Tempo in quarter-note beats per minute.
        soundfont: A SoundFont 2 file (`.sf2`); `None`: `default_soundfont()` (TimGM6mb).
        sample_rate: Frames per second, 8,000 to 192,000.

    Returns:
        A `RenderedAudio`: the path, duration and sample rate written.

    Raises:
        SpecError: `roll` does not fit `spec`.
        MidiError: `roll` is empty or not binary, or `tempo` is not a positive number.
        MultinnError: The audio extra is missing, the SoundFont is missing or not usable,
            `sample_rate` is out of range, or `path` cannot be written.

    Example:
    ```python
    model = multinn.load_pretrained("bach-satb-composer")
    roll = model.generate(256, seed=0)[0]
    multinn.render_audio(roll, model.spec, "sample.wav", tempo=100)  # 16 bars: 38.4 s + tail
    ```
    """
    from multinn.data import write_midi

    check_installed()
    _check_sample_rate(sample_rate)
    roll = np.asarray(roll)
    if roll.ndim == 2 and spec.num_tracks == 1:
        roll = roll[..., None]
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="multinn-audio-") as folder:
        midi = Path(folder) / f"{path.stem}.mid"
        try:
            write_midi(roll, midi, spec, tempo=tempo)
        except MidiError as exc:
            raise MidiError(str(exc).replace(f"cannot write {midi}", f"cannot render {path}")) from None
        return render_midi(midi, path, soundfont, sample_rate)


def _check_sample_rate(sample_rate: Any) -> int:
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
    ):
        raise MultinnError(
            f"sample_rate must be a whole number of Hz from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}, got {sample_rate!r}"
        )
    return int(sample_rate)


def _read_midi_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MidiError(f"{path}: no such file") from None
    except OSError as exc:
        raise MidiError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _with_tail(data: bytes, path: Path, seconds: float) -> tuple[bytes, float]:
    """The MIDI file `data` with its end moved `seconds` later (the track that ends last gets a
    later end_of_track), so the synthesizer renders the release tail; and the original length in
    seconds."""
    import mido

    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
        if midi.type == 2:
            raise MidiError(f"{path}: MIDI files of type 2 (independent sequences) cannot be rendered")
        length = midi.length
    except (OSError, EOFError, ValueError, KeyError, IndexError, struct.error) as exc:
        raise MidiError(f"{path}: not a readable MIDI file ({str(exc) or type(exc).__name__})") from None
    if not midi.tracks or length <= 0:
        raise MidiError(f"{path}: nothing to render (the file is 0 seconds long)")
    tempo = 500_000  # microseconds per beat at the end (120 bpm until a set_tempo)
    for message in mido.merge_tracks(midi.tracks):
        if message.type == "set_tempo":
            tempo = message.tempo
    ends = [sum(message.time for message in track) for track in midi.tracks]
    track = midi.tracks[int(np.argmax(ends))]
    extra = math.ceil(seconds * 1e6 / tempo * midi.ticks_per_beat)
    if track and track[-1].type == "end_of_track":
        track[-1] = track[-1].copy(time=track[-1].time + extra)
    else:
        track.append(mido.MetaMessage("end_of_track", time=extra))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue(), float(length)


def _read_soundfont(path: Path) -> bytes:
    """The bytes of a SoundFont 2 file, checked for the RIFF `sfbk` header, its declared size and
    its major version (2; SoundFont 3's compressed samples are not supported)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MultinnError(f"{path}: no such SoundFont file") from None
    except OSError as exc:
        raise MultinnError(f"{path}: cannot read the SoundFont ({exc.strerror or exc})") from None
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise MultinnError(f"{path}: not a SoundFont 2 file (no RIFF 'sfbk' header)")
    declared = struct.unpack_from("<I", data, 4)[0] + 8
    if declared > len(data):
        raise MultinnError(f"{path}: truncated SoundFont ({len(data):,} of {declared:,} bytes)")
    if data[12:16] == b"LIST" and data[20:28] == b"INFOifil" and len(data) >= 34:
        major = struct.unpack_from("<H", data, 32)[0]
        if major != 2:
            raise MultinnError(f"{path}: a SoundFont {major} file; only SoundFont 2 (.sf2) files can be rendered")
    return data


def _synthesize(soundfont: bytes, midi: bytes, soundfont_path: Path, midi_path: Path) -> np.ndarray:
    """midirenderer's rendering as int16 frames `[frames, 2]` at `NATIVE_SAMPLE_RATE`."""
    import wave

    import midirenderer

    try:
        data = midirenderer.render_wave_from(soundfont, midi)
    except (RuntimeError, ValueError) as exc:
        detail = str(exc)
        if detail.startswith("MIDI error: "):
            raise MidiError(f"{midi_path}: cannot render ({detail.removeprefix('MIDI error: ')})") from None
        detail = detail.removeprefix("SoundFont error: ")
        raise MultinnError(f"{soundfont_path}: not a usable SoundFont ({detail})") from None
    with wave.open(io.BytesIO(data)) as reader:
        if (reader.getsampwidth(), reader.getnchannels(), reader.getframerate()) != (2, 2, NATIVE_SAMPLE_RATE):
            raise MultinnError(f"midirenderer returned an unexpected WAV format ({reader.getparams()})")
        frames = reader.readframes(reader.getnframes())
    return np.frombuffer(frames, dtype="<i2").reshape(-1, 2)


def _end_of_tail(frames: np.ndarray, start: int) -> int:
    """The frame after the last one from `start` on that is louder than `SILENCE` (at least `start`)."""
    loud = np.flatnonzero(np.abs(frames[start:].astype(np.int32)).max(axis=1) > SILENCE * 32768)
    return min(len(frames), start + (int(loud[-1]) + 1 if loud.size else 0))


def _resample(frames: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """int16 frames `[frames, channels]` at `rate` -> int16 frames at `new_rate` (polyphase FIR),
    one channel at a time to bound the float copies in memory."""
    from scipy.signal import resample_poly

    divisor = math.gcd(rate, new_rate)
    up, down = new_rate // divisor, rate // divisor
    out = None
    for channel in range(frames.shape[1]):
        mono = resample_poly(frames[:, channel].astype(np.float32), up, down)
        np.clip(np.rint(mono, out=mono), -32768, 32767, out=mono)
        if out is None:
            out = np.empty((len(mono), frames.shape[1]), "<i2")
        out[:, channel] = mono
    return out


def _write_wav(frames: np.ndarray, sample_rate: int, path: Path) -> None:
    import wave

    from multinn.utils.io import atomic_write

    try:
        with atomic_write(path) as f:
            with wave.open(f, "wb") as writer:
                writer.setnchannels(frames.shape[1])
                writer.setsampwidth(2)
                writer.setframerate(sample_rate)
                writer.writeframes(np.ascontiguousarray(frames, dtype="<i2").tobytes())
    except OSError as exc:
        raise MultinnError(f"cannot write {path}: {exc.strerror or exc}") from None
