import importlib.util
import sys
import wave

import mido
import numpy as np
import pytest

import multinn
from multinn.audio import MAX_TAIL_SECONDS, SILENCE, default_soundfont, render_audio, render_midi
from multinn.data import PianorollSpec, TrackSpec, write_midi
from multinn.errors import MidiError, MultinnError, SpecError

AUDIO_EXTRA = all(importlib.util.find_spec(name) for name in ("midirenderer", "scipy"))
needs_audio = pytest.mark.skipif(
    not AUDIO_EXTRA, reason="rendering audio needs the audio extra (pip install 'multinn[audio]')"
)

SPEC = PianorollSpec(4, 36, 84, (TrackSpec("Choir", 52), TrackSpec("Drums", 0, is_drum=True)), 4)
"""At 120 bpm a step lasts 0.125 s, a beat 0.5 s, a bar 2 s."""

CHOIR_TAIL = 1.5
"""Allowance for a release tail. Measured with TimGM6mb: the choir (program 52) chord C4 + E4 falls
below `SILENCE` 1.21-1.32 s after its note-off (a single string note takes 1.4 s)."""

LOUD = 0.005
"""RMS (full scale 1) that a sounding chord or drum hit clearly exceeds (they measure 0.02-0.07)."""


def read_wav(path):
    """A 16-bit stereo WAV file as floats `[frames, 2]` in [-1, 1], and its sample rate."""
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (2, 2)
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
        return frames.astype(np.float64) / 32768, reader.getframerate()


def rms(audio, rate, start, stop):
    """RMS of `audio` between `start` and `stop` seconds."""
    window = audio[round(start * rate) : round(stop * rate)]
    assert len(window), (start, stop, len(audio) / rate)
    return float(np.sqrt(np.mean(window**2)))


def bars_and_gap():
    """Choir chord C4 + E4 in bar 1 (0-2 s at 120 bpm), silence in bars 2-3, the chord again in bar 4
    (6-8 s) with a snare hit on each of its beats."""
    roll = np.zeros((4 * SPEC.steps_per_bar, SPEC.num_pitches, 2), bool)
    for bar in (0, 3):
        roll[bar * 16 : bar * 16 + 16, [60 - 36, 64 - 36], 0] = True
    roll[48:64:4, 38 - 36, 1] = True  # acoustic snare, one step on each beat
    return roll


def one_note(program=0, is_drum=False, pitch=60, steps=12):
    spec = PianorollSpec(4, 36, 84, (TrackSpec("X", program, is_drum),), 4)
    roll = np.zeros((16, spec.num_pitches), bool)
    roll[:steps, pitch - 36] = True
    return roll, spec


@needs_audio
def test_notes_sound_in_their_bars_and_the_gap_is_silent(tmp_path):
    result = render_audio(bars_and_gap(), SPEC, tmp_path / "piece.wav", tempo=120)
    audio, rate = read_wav(result.path)
    assert rate == result.sample_rate == 44100
    assert result.midi_duration == pytest.approx(8.0)  # 64 steps of a 16th at 120 bpm
    assert len(audio) / rate == pytest.approx(result.duration, abs=1 / rate)
    assert result.tail == pytest.approx(result.duration - 8.0)
    assert 0 < result.tail <= CHOIR_TAIL  # the last chord's release
    for start in (0.0, 6.0):  # bars 1 and 4
        for beat in range(4):
            assert rms(audio, rate, start + beat / 2 + 0.05, start + beat / 2 + 0.45) > LOUD
    assert rms(audio, rate, 2.0, 2.0 + CHOIR_TAIL) > SILENCE  # the release of bar 1's chord
    assert np.abs(audio[round((2.0 + CHOIR_TAIL) * rate) : round(6.0 * rate)]).max() < SILENCE  # 5 silent beats
    onset = np.flatnonzero(np.abs(audio[round(3.5 * rate) :]).max(axis=1) > 10 * SILENCE)[0] / rate + 3.5
    assert onset == pytest.approx(6.0, abs=0.03)  # bar 4 starts on time


@needs_audio
def test_tempo_scales_the_duration_and_the_onsets(tmp_path):
    results = {tempo: render_audio(bars_and_gap(), SPEC, tmp_path / f"{tempo}.wav", tempo=tempo) for tempo in (60, 240)}
    for tempo, result in results.items():
        bar = 4 * 60 / tempo
        assert result.midi_duration == pytest.approx(4 * bar)
        assert 0 < result.tail <= CHOIR_TAIL
        audio, rate = read_wav(result.path)
        start = bar + CHOIR_TAIL  # bar 1's release is over
        onset = np.flatnonzero(np.abs(audio[round(start * rate) :]).max(axis=1) > 10 * SILENCE)[0] / rate + start
        assert onset == pytest.approx(3 * bar, abs=0.03)
    assert results[60].midi_duration == pytest.approx(4 * results[240].midi_duration)


@needs_audio
def test_each_track_sounds_with_its_program_and_drums_with_the_kit(tmp_path):
    # write_midi gives each track its own channel and program, drums channel 10 without a program change
    write_midi(bars_and_gap(), tmp_path / "piece.mid", SPEC)
    tracks = mido.MidiFile(tmp_path / "piece.mid").tracks[1:]
    assert [[(m.channel, m.program) for m in t if m.type == "program_change"] for t in tracks] == [[(0, 52)], []]
    assert {m.channel for m in tracks[1] if m.type == "note_on"} == {9}

    def render(roll, spec, name):
        return read_wav(render_audio(roll, spec, tmp_path / f"{name}.wav", sample_rate=48000).path)[0]

    def spectrum(audio):
        magnitude = np.abs(np.fft.rfft(audio[:48000].mean(axis=1)))
        return magnitude / np.linalg.norm(magnitude)

    choir, flute, piano = (render(*one_note(program), f"p{program}") for program in (52, 73, 0))
    assert spectrum(choir) @ spectrum(flute) < 0.8  # different timbres of the same note
    assert spectrum(choir) @ spectrum(piano) < 0.8
    np.testing.assert_array_equal(render(*one_note(52), "again"), choir)  # rendering is deterministic

    snare = render(*one_note(is_drum=True, pitch=38, steps=1), "snare")
    assert rms(snare, 48000, 0.0, 0.25) > LOUD  # a drum hit is audible
    assert spectrum(snare) @ spectrum(render(*one_note(0, pitch=38, steps=1), "low-d")) < 0.5  # a drum, not a D2
    np.testing.assert_array_equal(render(*one_note(40, is_drum=True, pitch=38, steps=1), "kit"), snare)

    # the mixture is the sum of its tracks rendered alone (to a few LSB of 16 bits): nothing is lost or remapped
    mix = render(bars_and_gap(), SPEC, "mix")
    alone = [render(bars_and_gap() * np.eye(2, dtype=bool)[k], SPEC, f"alone{k}") for k in (0, 1)]
    length = max(len(mix), *map(len, alone))
    total = sum(
        np.pad(a, ((0, length - len(a)), (0, 0))) for a in [*alone, -np.pad(mix, ((0, length - len(mix)), (0, 0)))]
    )
    assert np.abs(total).max() <= 8 / 32768
    assert min(rms(a, 48000, 6.0, 8.0) for a in alone) > LOUD  # both tracks are heard in bar 4


@needs_audio
def test_sample_rates_and_render_midi_of_any_file(tmp_path):
    roll, spec = one_note(52)
    native = render_audio(roll[..., None], spec, tmp_path / "48k.wav", sample_rate=48000)
    low = render_audio(roll, spec, tmp_path / "22k.wav", sample_rate=22050)  # a one-track roll may be 2-D
    assert (native.sample_rate, low.sample_rate) == (48000, 22050)
    assert read_wav(low.path)[1] == 22050
    assert low.duration == pytest.approx(native.duration, abs=1e-3)
    a, _ = read_wav(native.path)
    b, _ = read_wav(low.path)
    assert rms(b, 22050, 0.1, 1.4) == pytest.approx(rms(a, 48000, 0.1, 1.4), rel=0.05)  # the same loudness

    # a type-0 file written by another program: one track, program change on channel 1, 90 bpm
    midi = mido.MidiFile(type=0, ticks_per_beat=96)
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90)),
                mido.Message("program_change", channel=1, program=40),
                mido.Message("note_on", channel=1, note=69, velocity=80),
                mido.Message("note_off", channel=1, note=69, time=96 * 3),
            ]
        )
    )
    midi.save(tmp_path / "violin.mid")
    result = render_midi(tmp_path / "violin.mid", tmp_path / "violin.wav", soundfont=default_soundfont())
    assert result.midi_duration == pytest.approx(2.0)  # 3 beats at 90 bpm
    audio, rate = read_wav(result.path)
    assert rms(audio, rate, 0.1, 1.9) > LOUD
    assert 0 < result.tail <= MAX_TAIL_SECONDS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["22k.wav", "48k.wav", "violin.mid", "violin.wav"]


def test_default_soundfont_is_timgm6mb():
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2" and path.parent.name == "pretty_midi"
    assert path.read_bytes()[:4] == b"RIFF"
    assert multinn.render_audio is render_audio and multinn.audio.render_midi is render_midi


@needs_audio
def test_bad_inputs_are_one_line_errors_and_write_nothing(tmp_path):
    roll, spec = one_note()
    (tmp_path / "out.wav").write_bytes(b"old")
    sf2 = default_soundfont().read_bytes()
    (tmp_path / "garbage.sf2").write_bytes(b"RIFF\x04\x00\x00\x00sfbk" + bytes(200))
    (tmp_path / "short.sf2").write_bytes(sf2[:100_000])
    (tmp_path / "v3.sf2").write_bytes(sf2[:32] + b"\x03\x00" + sf2[34:])
    (tmp_path / "song.mid").write_bytes(b"MThd\x00\x00\x00\x06 not really")
    cases = [
        (MultinnError, "no such SoundFont file", dict(soundfont=tmp_path / "missing.sf2")),
        (MultinnError, "not a SoundFont 2 file", dict(soundfont=tmp_path / "song.mid")),
        (MultinnError, "not a usable SoundFont", dict(soundfont=tmp_path / "garbage.sf2")),
        (MultinnError, "truncated SoundFont (100,000 of 5,994,284 bytes)", dict(soundfont=tmp_path / "short.sf2")),
        (MultinnError, "a SoundFont 3 file", dict(soundfont=tmp_path / "v3.sf2")),
        (
            MultinnError,
            "sample_rate must be a whole number of Hz from 8000 to 192000, got 44100.0",
            dict(sample_rate=44100.0),
        ),
    ]
    for error, fragment, kwargs in cases:
        with pytest.raises(error) as info:
            render_audio(roll, spec, tmp_path / "out.wav", **kwargs)
        assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)
    with pytest.raises(MidiError, match="not a readable MIDI file"):
        render_midi(tmp_path / "song.mid", tmp_path / "out.wav")
    with pytest.raises(MidiError, match="missing.mid: no such file"):
        render_midi(tmp_path / "missing.mid", tmp_path / "out.wav")
    with pytest.raises(MidiError, match=r"^cannot render .*out\.wav: the piano-roll must be binary"):
        render_audio(roll * 0.5, spec, tmp_path / "out.wav")
    with pytest.raises(SpecError):
        render_audio(roll[:, :10], spec, tmp_path / "out.wav")
    (tmp_path / "folder.wav").mkdir()
    with pytest.raises(MultinnError, match="cannot write .*folder.wav"):
        render_audio(roll, spec, tmp_path / "folder.wav")
    assert (tmp_path / "out.wav").read_bytes() == b"old"
    names = {"out.wav", "garbage.sf2", "short.sf2", "v3.sf2", "song.mid", "folder.wav"}
    assert {p.name for p in tmp_path.iterdir()} == names  # no temporary file left


def test_missing_extra_is_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "midirenderer", None)  # import midirenderer -> ImportError
    roll, spec = one_note()
    for call in (
        lambda: render_audio(roll, spec, tmp_path / "x.wav"),
        lambda: render_midi(tmp_path / "x.mid", tmp_path / "x.wav"),
    ):
        with pytest.raises(MultinnError) as info:
            call()
        assert str(info.value) == "rendering audio needs the audio extra: pip install 'multinn[audio]'"
    assert list(tmp_path.iterdir()) == []
