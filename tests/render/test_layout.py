"""Pure helpers of the live view: shader lookup, letterbox, framelines, sizes (no GL)."""

from __future__ import annotations

import pytest

from viewfinder.app import _view_size, parse_size
from viewfinder.render.shaders import ShaderError, load_shader, shader_dirs, shader_path
from viewfinder.render.view import frameline_rects, letterbox


def test_shaders_are_found_in_the_checkout_or_the_package():
    dirs = shader_dirs()
    assert dirs[0].parts[-2:] == ("viewfinder", "shaders")
    assert dirs[1].name == "shaders" and dirs[1].parent == dirs[0].parent.parent
    assert shader_path("view.frag").is_file()
    text = load_shader("view.frag")
    assert "#pragma include" not in text and "vec3 false_colour" not in text
    assert "int luma8(vec3 rgb)" in text  # spliced from overlay_common.glsl
    with pytest.raises(ShaderError, match="nope.frag"):
        shader_path("nope.frag")


@pytest.mark.parametrize(
    ("image", "area", "expect"),
    [
        ((1920, 1080), (0, 0, 1280, 720), (0, 0, 1280, 720)),
        ((1440, 1080), (0, 0, 1280, 720), (160, 0, 960, 720)),  # pillarbox
        ((1920, 800), (0, 0, 1000, 1000), (0, 291, 1000, 417)),  # letterbox
        ((100, 100), (10, 20, 50, 80), (10, 35, 50, 50)),
    ],
)
def test_letterbox_keeps_the_aspect_and_centres(image, area, expect):
    got = letterbox(image, area)
    assert got == expect
    assert abs(got[2] / got[3] - image[0] / image[1]) < 0.01


def test_letterbox_refuses_empty_sizes():
    with pytest.raises(ValueError, match="positive"):
        letterbox((0, 10), (0, 0, 10, 10))


def test_framelines_are_the_field_of_longer_lenses():
    rects = frameline_rects(35.0, [21, 28, 35, 50, 90, 50.0])
    assert [f for f, _ in rects] == [50.0, 90.0]
    f, (u0, v0, u1, v1) = rects[0]
    assert u1 - u0 == pytest.approx(35 / 50) and v1 - v0 == pytest.approx(35 / 50)
    assert (u0 + u1) / 2 == pytest.approx(0.5) and (v0 + v1) / 2 == pytest.approx(0.5)
    assert frameline_rects(0.0, [50]) == []


def test_sizes_parse_and_refuse_garbage():
    assert parse_size("1920x1080", "--size") == (1920, 1080)
    assert parse_size(None, "--size") is None
    # one wording for every size option, naming the option, the range and the value
    for text, what in (("12", "--view"), ("2x2", "--view"), ("1x1", "--size"), ("axb", "--size")):
        lo = "320x240" if what == "--view" else "4x4"
        with pytest.raises(ValueError) as err:
            parse_size(text, what)
        expect = f"{what} must be WIDTHxHEIGHT from {lo} to 65536x65536, e.g. 1920x1080"
        assert str(err.value) == f"{expect}, got {text!r}"
    assert _view_size((1920, 1080), (920, 720)) == (920, 516)
    assert _view_size((640, 480), (920, 720)) == (640, 480)  # never enlarged
