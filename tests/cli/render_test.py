import importlib.util
import re
import subprocess
import sys
import wave

import mido
import numpy as np
import pytest

from multinn.audio import MAX_TAIL_SECONDS, default_soundfont
from multinn.data import PianorollSpec, TrackSpec, write_midi
from tests.cli.conftest import assert_user_error, invoke

AUDIO_EXTRA = all(importlib.util.find_spec(name) for name in ("midirenderer", "scipy"))
needs_audio = pytest.mark.skipif(
    not AUDIO_EXTRA, reason="rendering audio needs the audio extra (pip install 'multinn[audio]')"
)
MISSING_EXTRA = "needs the audio extra: pip install 'multinn[audio]'"


def wav_facts(path):
    """(seconds, sample rate, RMS in full-scale units) of a 16-bit WAV file."""
    with wave.open(str(path)) as reader:
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2") / 32768
        return reader.getnframes() / reader.getframerate(), reader.getframerate(), float(np.sqrt(np.mean(frames**2)))


@pytest.fixture
def song(tmp_path):
    """A 2-bar MIDI file (4 s at 120 bpm): a piano melody and a drum track."""
    spec = PianorollSpec(4, 36, 84, (TrackSpec("Piano", 0), TrackSpec("Drums", 0, is_drum=True)), 4)
    roll = np.zeros((32, spec.num_pitches, 2), bool)
    for i, pitch in enumerate((60, 62, 64, 65, 67, 65, 64, 62)):
        roll[4 * i : 4 * i + 3, pitch - 36, 0] = True
    roll[::4, 36 - 36, 1] = True
    write_midi(roll, tmp_path / "song.mid", spec, tempo=120)
    return tmp_path / "song.mid"


@needs_audio
def test_render_writes_a_wav_and_says_so(tmp_path, song):
    result = invoke("render", song, tmp_path / "song.wav")
    assert result.exit_code == 0, result.output
    seconds, rate, loudness = wav_facts(tmp_path / "song.wav")
    assert result.stdout.strip() == f"wrote {tmp_path / 'song.wav'} ({seconds:.1f} s, 44100 Hz)"
    assert rate == 44100 and 4.0 < seconds <= 4.0 + MAX_TAIL_SECONDS and loudness > 0.005

    result = invoke(
        "render", song, tmp_path / "out" / "low.wav", "--sample-rate", "22050", "--soundfont", default_soundfont()
    )
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"wrote .*low\.wav \(\d+\.\d s, 22050 Hz\)", result.stdout.strip())
    assert wav_facts(tmp_path / "out" / "low.wav")[:2] == pytest.approx((seconds, 22050), abs=1e-3)


@needs_audio
def test_render_user_errors_are_one_line(tmp_path, song):
    (tmp_path / "bad.sf2").write_bytes(b"not a soundfont")
    (tmp_path / "bad.mid").write_bytes(b"MThd")
    assert_user_error(invoke("render", tmp_path / "missing.mid", tmp_path / "x.wav"), "missing.mid: no such file")
    assert_user_error(invoke("render", tmp_path / "bad.mid", tmp_path / "x.wav"), "not a readable MIDI file")
    assert_user_error(
        invoke("render", song, tmp_path / "x.wav", "--soundfont", tmp_path / "missing.sf2"),
        "missing.sf2: no such SoundFont file",
    )
    assert_user_error(
        invoke("render", song, tmp_path / "x.wav", "--soundfont", tmp_path / "bad.sf2"),
        "bad.sf2: not a SoundFont 2 file",
    )
    assert invoke("render", song, tmp_path / "x.wav", "--sample-rate", "100").exit_code == 2  # a usage error
    assert not (tmp_path / "x.wav").exists()


def test_missing_extra_is_one_line_before_any_work(tmp_path, song, monkeypatch):
    import multinn.cli.sample

    def no_model(source):
        raise AssertionError(f"the model {source} was loaded before the audio extra was checked")

    monkeypatch.setattr(multinn.cli.sample, "load_model", no_model)
    monkeypatch.setitem(sys.modules, "midirenderer", None)  # import midirenderer -> ImportError
    assert_user_error(invoke("render", song, tmp_path / "x.wav"), f"multinn render {MISSING_EXTRA}")
    assert_user_error(
        invoke("sample", "--audio", tmp_path / "s.wav", "--out", tmp_path / "s.mid"), f"--audio {MISSING_EXTRA}"
    )
    assert not list(tmp_path.glob("*.wav")) and not (tmp_path / "s.mid").exists()


def test_render_help_does_not_import_tensorflow_or_the_synthesizer():
    code = (
        "import sys\nfrom multinn.cli import main\n"
        "try:\n    main(['render', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'numpy', 'midirenderer', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert "--sample-rate" in out and "IN.mid OUT.wav" in out


@needs_audio
def test_sample_audio_numbered_and_all_or_nothing(tmp_path):
    result = invoke(
        "sample",
        "--num",
        "2",
        "--beats",
        "8",
        "--seed",
        "0",
        "--tempo",
        "120",
        "--out",
        tmp_path / "s.mid",
        "--audio",
        tmp_path / "s.wav",
    )
    assert result.exit_code == 0, result.output
    assert f"audio: {tmp_path / 's-1.wav'}, {tmp_path / 's-2.wav'}" in result.stdout
    for i in (1, 2):
        midi = mido.MidiFile(tmp_path / f"s-{i}.mid")
        assert midi.length == pytest.approx(4.0)  # 8 beats at --tempo 120
        assert [m.program for t in midi.tracks for m in t if m.type == "program_change"] == [52] * 4
        seconds, rate, _ = wav_facts(tmp_path / f"s-{i}.wav")
        assert rate == 44100 and 4.0 <= seconds <= 4.0 + MAX_TAIL_SECONDS  # the MIDI's length plus the release
    assert not (tmp_path / "s.wav").exists()

    other = tmp_path / "other"
    (other / "t-2.wav").mkdir(parents=True)  # the second WAV cannot be written: nothing is
    result = invoke(
        "sample", "--num", "2", "--beats", "4", "--seed", "1", "--out", other / "t.mid", "--audio", other / "t.wav"
    )
    assert_user_error(result, "t-2.wav: it is a directory")
    assert [p.name for p in other.iterdir()] == ["t-2.wav"]
    assert list((other / "t-2.wav").iterdir()) == []
