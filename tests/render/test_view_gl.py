"""The view shader against definitions: exact image, peaking, false colour, zebra, letterbox."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.render.view import PEAK_COLOURS, Overlays, ViewRenderer
from viewfinder.stages.falsecolor import false_colour_lut
from viewfinder.stages.zebra import luma8

pytestmark = pytest.mark.gl
CLEAR = (20, 20, 20)


def _draw(ctx, renderer, arrays, ov, rect, t=0.0):
    from OpenGL import GL

    renderer.upload(arrays)
    fw, fh = ctx.framebuffer_size()
    ctx.bind()
    GL.glViewport(0, 0, fw, fh)
    GL.glClearColor(*(c / 255 for c in CLEAR), 1.0)
    GL.glClear(GL.GL_COLOR_BUFFER_BIT)
    renderer.draw(rect, (fw, fh), ov, t)
    return ctx.read_pixels()


@pytest.fixture(scope="module")
def renderer(gl_context):
    r = ViewRenderer(interop=False)
    yield r
    r.delete()


@pytest.fixture
def picture():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (120, 160, 4), dtype=np.uint8)
    img[..., 3] = 255
    return img


def _plain():
    return Overlays(peaking=False, zebra=False, false_colour=False, framelines=False)


def test_image_is_drawn_exactly_and_letterboxed(gl_context, renderer, picture):
    rect = (30, 50, 160, 120)  # 1:1, so sampling at texel centres is exact
    px = _draw(gl_context, renderer, {"image": picture}, _plain(), rect)
    x, y, w, h = rect
    np.testing.assert_array_equal(px[y : y + h, x : x + w, :3], picture[..., :3])
    outside = px.copy()
    outside[y : y + h, x : x + w] = 0
    mask = np.ones(px.shape[:2], bool)
    mask[y : y + h, x : x + w] = False
    assert (outside[mask][:, :3] == CLEAR).all()
    assert renderer.path == "pbo"


def test_one_to_one_draw_samples_nearest_and_equals_linear(gl_context, renderer, picture):
    """Drawn 1:1 the image texture samples nearest (cheaper on llvmpipe) with the pixels
    linear sampling gives there; drawn scaled it interpolates again."""
    from OpenGL import GL

    def image_filter():
        GL.glBindTexture(GL.GL_TEXTURE_2D, renderer.image.texture)
        return GL.glGetTexParameteriv(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER)

    rect = (30, 50, 160, 120)
    x, y, w, h = rect
    px = _draw(gl_context, renderer, {"image": picture}, _plain(), rect)
    assert image_filter() == GL.GL_NEAREST
    renderer.image.set_filter(nearest=False)  # what the viewer drew before: linear
    renderer.draw(rect, gl_context.framebuffer_size(), _plain(), 0.0)
    linear = gl_context.read_pixels()
    np.testing.assert_array_equal(px[y : y + h, x : x + w], linear[y : y + h, x : x + w])
    big = (30, 50, 320, 240)  # 2x: linear sampling blends neighbouring texels
    px2 = _draw(gl_context, renderer, {"image": picture}, _plain(), big)
    assert image_filter() == GL.GL_LINEAR
    shown = px2[50 : 50 + 240, 30 : 30 + 320, :3].reshape(-1, 3)
    colours = {tuple(c) for c in picture[..., :3].reshape(-1, 3)}
    blended = sum(tuple(c) not in colours for c in shown[::97])
    assert blended > len(shown[::97]) // 2, blended


def test_peaking_colour_exactly_on_marked_pixels(gl_context, renderer, picture):
    peak = np.zeros(picture.shape[:2], np.uint8)
    peak[40:60, 20:100] = 3
    peak[80:90, 10:30] = 1
    ov = _plain()
    ov.peaking, ov.peak_colour = True, "green"
    rect = (0, 0, 160, 120)
    px = _draw(gl_context, renderer, {"image": picture, "peaking": peak}, ov, rect)[:120, :160]
    colour = np.round(np.array(PEAK_COLOURS["green"]) * 255)
    full = px[40:60, 20:100, :3].astype(int)
    assert np.abs(full - colour).max() <= 1  # level 3: opaque
    unmarked = peak == 0
    np.testing.assert_array_equal(px[unmarked][:, :3], picture[unmarked][:, :3])
    weak = px[80:90, 10:30, :3].astype(float)
    expect = picture[80:90, 10:30, :3] * (1 - 0.6333) + colour * 0.6333
    assert np.abs(weak - expect).max() <= 1.5
    ov.peaking = False  # the switch takes the colour away
    px = _draw(gl_context, renderer, {"image": picture, "peaking": peak}, ov, rect)[:120, :160]
    np.testing.assert_array_equal(px[..., :3], picture[..., :3])


def test_false_colour_matches_the_stage_table(gl_context, renderer, picture):
    ov = _plain()
    ov.false_colour = True
    rect = (0, 0, 160, 120)
    px = _draw(gl_context, renderer, {"image": picture}, ov, rect)[:120, :160]
    expect = false_colour_lut()[luma8(picture[..., :3])][..., :3]
    np.testing.assert_array_equal(px[..., :3], expect)


def test_zebra_stripes_only_on_flagged_pixels_and_they_move(gl_context, renderer, picture):
    flags = np.zeros(picture.shape[:2], np.uint8)
    flags[20:100, 40:140] = 1  # over: black stripes
    ov = _plain()
    ov.zebra, ov.zebra_period_px, ov.zebra_speed_px_s = True, 6.0, 30.0
    rect = (0, 0, 160, 120)
    arrays = {"image": picture, "zebra": flags}
    a = _draw(gl_context, renderer, arrays, ov, rect, t=0.0)[:120, :160, :3]
    b = _draw(gl_context, renderer, arrays, ov, rect, t=0.1)[:120, :160, :3]
    outside = flags == 0
    np.testing.assert_array_equal(a[outside], picture[..., :3][outside])
    striped = (a[flags == 1] == 0).all(axis=1).mean()
    assert 0.4 < striped < 0.6  # half of the flagged pixels lie on a stripe
    assert (a != b).any(axis=2)[flags == 1].mean() > 0.3  # 3 px of motion in 0.1 s


def test_magnifier_inset_enlarges_the_chosen_point(gl_context, renderer):
    img = np.zeros((120, 160, 4), np.uint8)
    img[..., 3] = 255
    img[25:35, 35:45, 0] = 255  # a red square around (40, 30)
    ov = _plain()
    ov.magnifier, ov.magnifier_centre, ov.magnifier_zoom = True, (40 / 160, 30 / 120), 4.0
    px = _draw(gl_context, renderer, {"image": img}, ov, (0, 0, 320, 240))
    side = int(240 * 0.38)
    inset = px[12 : 12 + side, 320 - side - 12 : 320 - 12, 0]  # top right of the view
    # the 10 px square at 4x over the 320 px view (2x) covers far more than at 1:1
    assert (inset > 200).mean() > 0.2
