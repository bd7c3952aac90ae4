import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="plotting needs matplotlib (pip install 'multinn[plot]')")

import multinn  # noqa: E402
from multinn.data import PianorollSpec, TrackSpec  # noqa: E402
from multinn.errors import MultinnError, SpecError  # noqa: E402
from multinn.plotting import note_name, plot  # noqa: E402

SPEC = PianorollSpec(2, 48, 72, (TrackSpec("Melody", 0), TrackSpec("Drums", 0, is_drum=True)))


def make_roll(steps=16):
    roll = np.zeros((steps, SPEC.num_pitches, 2), bool)
    roll[0:4, 60 - 48, 0] = True  # C4 for two beats
    roll[4:8, 64 - 48, 0] = True  # E4
    roll[::2, 0, 1] = True  # a hit on every beat on the lowest drum key
    return roll


def test_note_names():
    assert [note_name(p) for p in (60, 61, 21, 108, 0)] == ["C4", "C#4", "A0", "C8", "C-1"]


def test_lanes_bars_and_cropped_pitch_range():
    fig = plot(make_roll(), SPEC)
    try:
        axes = fig.axes
        assert len(axes) == 2
        assert axes[0].get_ylabel() == "Melody" and axes[1].get_ylabel() == "Drums (drums)"
        # Used pitches are 48 (drums), 60 and 64: cropped with a tone of margin, within the spec.
        assert axes[0].get_ylim() == (47.5, 66.5)
        assert list(axes[1].get_xticks()) == [0, 8]  # 16 steps of 2 per beat: two 4/4 bars
        image = axes[0].images[0].get_array()
        assert image.shape == (66 - 48 + 1, 16, 4)
        alpha = np.asarray(image[..., 3])
        np.testing.assert_array_equal(np.flatnonzero(alpha[60 - 48]), [0, 1, 2, 3])
        np.testing.assert_array_equal(np.flatnonzero(alpha[64 - 48]), [4, 5, 6, 7])
        assert alpha.sum() == 8
        bar_lines = [line for line in axes[0].lines if line.get_linewidth() == 0.8]
        assert [line.get_xdata()[0] for line in bar_lines] == [0, 8, 16]
    finally:
        from matplotlib import pyplot

        pyplot.close("all")


def test_writes_png_and_svg_atomically(tmp_path):
    out = plot(make_roll(), SPEC, tmp_path / "roll.png", title="test")
    assert out == tmp_path / "roll.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in plot(make_roll(), SPEC, tmp_path / "roll.svg").read_bytes()[:1000]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roll.png", "roll.svg"]  # no temporary files left


def test_top_level_alias_and_one_track_rolls(tmp_path):
    assert multinn.plot is plot
    one = PianorollSpec(4, 60, 71, (TrackSpec("Piano", 0),))
    roll = np.zeros((8, 12), bool)
    roll[:, 0] = True
    assert plot(roll, one, tmp_path / "one.png").is_file()


def test_bad_input(tmp_path):
    with pytest.raises(SpecError, match="roll to plot has 10 pitches"):
        plot(np.zeros((8, 10, 2)), SPEC, tmp_path / "x.png")
    with pytest.raises(SpecError, match=r"must have shape \[time, pitch, track\]"):
        plot(np.zeros((1, 8, SPEC.num_pitches, 2)), SPEC, tmp_path / "x.png")
    with pytest.raises(MultinnError, match="cannot write this picture format"):
        plot(make_roll(), SPEC, tmp_path / "x.nosuchformat")
    assert not list(tmp_path.iterdir())
