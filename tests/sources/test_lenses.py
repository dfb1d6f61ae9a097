"""The lens catalogue, user lens files and `viewfinder lenses`."""

from __future__ import annotations

import argparse

import pytest

from viewfinder.cli import main
from viewfinder.sources.lenses import builtin_catalogue, cli_lenses, load_lenses

LEICA = {
    "summilux-35": ("Summilux-M 35 f/1.4 ASPH", 35, 1.4, 16, 0.7),
    "summicron-50": ("Summicron-M 50 f/2", 50, 2.0, 16, 0.7),
    "noctilux-50": ("Noctilux-M 50 f/0.95 ASPH", 50, 0.95, 16, 1.0),
    "elmarit-28": ("Elmarit-M 28 f/2.8 ASPH", 28, 2.8, 22, 0.7),
    "apo-summicron-90": ("APO-Summicron-M 90 f/2 ASPH", 90, 2.0, 16, 1.0),
    "super-elmar-21": ("Super-Elmar-M 21 f/3.4 ASPH", 21, 3.4, 16, 0.7),
}

GOOD = """
[[lens]]
id = "test-40"
name = "Test 40 f/2"
mount = "m"
focal_mm = 40
apertures = [2, 2.8, 4, 5.6, 8, 11, 16]
min_focus_m = 0.8
vignetting_ev = 1.5
image_circle_mm = 43.3
six_bit = "101010"
"""


def test_catalogue_has_the_builtin_and_six_leica_lenses():
    lenses = {lens.id: lens for lens in builtin_catalogue()}
    builtin = lenses["builtin"]
    assert (builtin.focal_mm, builtin.apertures, builtin.autofocus, builtin.mount) == (
        8.7,
        (1.9,),
        True,
        "builtin",
    )
    for lens_id, (name, focal, widest, smallest, min_focus) in LEICA.items():
        lens = lenses[lens_id]
        assert (
            lens.name,
            lens.focal_mm,
            lens.max_aperture,
            lens.min_aperture,
            lens.min_focus_m,
            lens.mount,
        ) == (name, focal, widest, smallest, min_focus, "m")
        assert lens.vignetting_ev > 0 and lens.image_circle_mm == pytest.approx(43.3)
        assert list(lens.apertures) == sorted(lens.apertures)


def test_lens_checks_name_the_range():
    lens = load_lenses()["summilux-35"]
    assert lens.check_aperture(2.8) == 2.8
    with pytest.raises(ValueError, match=r"outside the range .* f/1.4 to f/16"):
        lens.check_aperture(1.2)
    with pytest.raises(ValueError, match=r"minimum focus distance .* \(0.7 m\)"):
        lens.check_focus(0.5)
    assert lens.check_focus(float("inf")) == float("inf")
    with pytest.raises(ValueError, match="fixed aperture f/1.9"):
        load_lenses()["builtin"].check_aperture(2.8)


def test_user_file_adds_lenses(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    lenses = load_lenses(path)
    assert len(lenses) == 8
    assert lenses["test-40"].six_bit == "101010"
    assert lenses["test-40"].apertures[0] == 2.0


@pytest.mark.parametrize(
    "text, line, field",
    [
        (GOOD.replace("focal_mm = 40", 'focal_mm = "40"'), 6, "focal_mm"),
        (GOOD.replace('mount = "m"', 'mount = "l39"'), 5, "mount"),
        (GOOD.replace("[2, 2.8, 4", "[2.8, 2, 4"), 7, "apertures"),
        (GOOD.replace("min_focus_m = 0.8", "min_focus_m = -1"), 8, "min_focus_m"),
        (GOOD.replace('six_bit = "101010"', 'six_bit = "12"'), 11, "six_bit"),
        (GOOD.replace('six_bit = "101010"', "colour = 1"), 11, "colour"),
        (GOOD + GOOD.replace("focal_mm = 40", "focal_mm = 41"), 14, "id"),  # duplicate id
        (GOOD.replace('id = "test-40"', 'id = "summilux-35"'), 3, "id"),  # clashes
    ],
)
def test_malformed_file_names_file_line_and_field(tmp_path, text, line, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_lenses(path)
    message = str(info.value)
    assert str(path) in message
    assert f"line {line}:" in message
    assert repr(field) in message


def test_missing_field_and_toml_syntax_errors(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("min_focus_m = 0.8\n", ""))
    with pytest.raises(
        ValueError,
        match=r"bad.toml: line 2: lens #1: missing field "
        r"'min_focus_m'",
    ):
        load_lenses(path)
    path.write_text(GOOD.replace("focal_mm = 40", "focal_mm = = 40"))
    with pytest.raises(ValueError, match=r"bad.toml: malformed TOML: .*line 6"):
        load_lenses(path)
    with pytest.raises(ValueError, match="cannot read lens file"):
        load_lenses(tmp_path / "nope.toml")


def test_cli_lists_one_lens_a_line_id_first(capsys, tmp_path):
    assert cli_lenses(argparse.Namespace(file=None)) == 0
    lines = capsys.readouterr().out.splitlines()
    ids = [line.split()[0] for line in lines]
    assert ids == ["builtin", *LEICA]
    assert "Summilux-M 35 f/1.4 ASPH" in lines[1] and "f/1.4-16" in lines[1]
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    assert main(["lenses", "--file", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and lines[-1].startswith("test-40 ")


def test_cli_bad_file_is_one_line_error(capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("focal_mm = 40", "focal_mm = [40]"))
    assert main(["lenses", "--file", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 6" in err[0] and "'focal_mm'" in err[0]
