"""Orientation on screen: the view, its masks and the clicks follow meta["orientation"]."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.orientation import ORIENTATIONS, display_to_stored, orient_image
from viewfinder.render.view import PEAK_COLOURS, Overlays, ViewRenderer

pytestmark = pytest.mark.gl
CLEAR = (20, 20, 20)


@pytest.fixture(scope="module")
def renderer(gl_context):
    r = ViewRenderer(interop=False)
    yield r
    r.delete()


@pytest.mark.parametrize("o", ORIENTATIONS)
def test_image_and_peaking_mask_are_drawn_turned_exactly(gl_context, renderer, o):
    from OpenGL import GL

    rng = np.random.default_rng(o)
    img = rng.integers(0, 256, (120, 160, 4), dtype=np.uint8)
    img[..., 3] = 255
    mask = np.zeros((120, 160), np.uint8)
    mask[10, 30] = 3  # one strong peaking mark, near the top-left of the stored picture
    renderer.upload({"image": img, "peaking": mask}, orientation=o)
    w, h = renderer.image_size
    assert (w, h) == ((120, 160) if o >= 5 else (160, 120))
    fw, fh = gl_context.framebuffer_size()
    gl_context.bind()
    GL.glViewport(0, 0, fw, fh)
    GL.glClearColor(*(c / 255 for c in CLEAR), 1.0)
    GL.glClear(GL.GL_COLOR_BUFFER_BIT)
    ov = Overlays(peaking=True, zebra=False, false_colour=False, framelines=False)
    rect = (40, 30, w, h)
    renderer.draw(rect, (fw, fh), ov, 0.0)
    px = gl_context.read_pixels()[30 : 30 + h, 40 : 40 + w, :3]
    want = orient_image(img[..., :3], o)
    marked = orient_image(mask, o) > 0
    np.testing.assert_array_equal(px[~marked], want[~marked])
    (i,), (j,) = np.nonzero(marked)
    peak = np.array(PEAK_COLOURS[ov.peak_colour]) * 255
    assert np.abs(px[i, j].astype(float) - peak).max() < 2  # alpha 1 at level 3


def _picture() -> np.ndarray:
    """An sRGB picture with no symmetry: a diagonal ramp, a red block and a letter F."""
    import cv2

    yy, xx = np.mgrid[0:120, 0:160]
    pic = np.stack([xx * 1.2, yy * 1.5, 255 - xx - yy * 0.5], -1).clip(0, 255).astype(np.uint8)
    pic[10:40, 10:50] = (230, 30, 30)
    cv2.putText(pic, "F", (90, 100), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (255, 255, 255), 6)
    return pic


def _write_dng(path, pic: np.ndarray, o: int) -> None:
    tifffile = pytest.importorskip("tifffile")
    lin = (pic.astype(np.float64) / 255.0) ** 2.2
    raw = np.empty(pic.shape[:2], np.uint16)
    for (dy, dx), c in {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2}.items():
        raw[dy::2, dx::2] = np.round(64 + lin[dy::2, dx::2, c] * (1023 - 64))
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (33421, "H", 2, (2, 2), True),
        (33422, "B", 4, (0, 1, 1, 2), True),
        (50710, "B", 3, (0, 1, 2), True),
        (50714, "I", 1, 64, True),  # BlackLevel
        (50717, "I", 1, 1023, True),
        (50708, "s", 0, "orientation test", True),
        (50728, "2I", 3, (1, 1, 1, 1, 1, 1), True),  # AsShotNeutral: no colour cast
        (274, "H", 1, o, True),
    ]
    tifffile.imwrite(path, raw, photometric="cfa", extratags=tags, metadata=None)


@pytest.mark.parametrize("o", ORIENTATIONS)
def test_viewer_shows_an_oriented_file_as_libraw_turns_it(gl_context, tmp_path, o):
    """A DNG tagged ``o`` plays through RawFileSource -> Pipeline -> Viewer; the picture on
    screen matches LibRaw's own turned rendering of the file best of the eight turns, and a
    click on the shown picture puts the magnifier on the same point of the sensor."""
    rawpy = pytest.importorskip("rawpy")
    import cv2

    from viewfinder.pipeline import Pipeline
    from viewfinder.render.viewer import Viewer
    from viewfinder.settings import Settings
    from viewfinder.sources.rawfile import RawFileSource

    path = tmp_path / "o.dng"
    _write_dng(path, _picture(), o)
    kw = {"no_auto_bright": True, "use_camera_wb": True, "output_bps": 8}
    with rawpy.imread(str(path)) as raw:
        turned = raw.postprocess(**kw)  # LibRaw applies the file's orientation
    with rawpy.imread(str(path)) as raw:
        stored = raw.postprocess(user_flip=0, **kw)
    v = Viewer(
        RawFileSource(path, fps=60),
        Pipeline(Settings(view_size=(160, 120)), backend="numpy"),
        gl_context,
        capture_folder=tmp_path / "captures",
    )
    v.overlays.peaking = False  # the picture alone, no panel over it
    v.show_histogram = v.show_panels = False
    try:
        v.run(frames=2, headless=True)
        assert v.orientation == o
        v.render(gl_context.framebuffer_size())
        x, y, w, h = v.image_rect
        assert (w > h) == (o < 5)
        shown = gl_context.read_pixels()[y : y + h, x : x + w, :3].astype(np.float64)

        def corr(k: int) -> float:
            t = turned if k == 0 else orient_image(stored, k)
            if (t.shape[1] > t.shape[0]) != (w > h):
                return -1.0
            t = cv2.resize(np.ascontiguousarray(t), (w, h), interpolation=cv2.INTER_AREA)
            a, b = shown.ravel(), t.astype(np.float64).ravel()
            return float(np.corrcoef(a, b)[0, 1])

        scores = {k: corr(k) for k in ORIENTATIONS}
        assert max(scores, key=scores.get) == o and scores[o] > 0.95, scores
        assert corr(0) > 0.95  # and LibRaw's turned picture itself
        v.overlays.magnifier = True
        v.click(x + 0.2 * w, y + 0.7 * h)
        want = pytest.approx(display_to_stored(0.2, 0.7, o))
        for _ in range(30):  # the processing thread takes settings between frames
            v.step(wait_s=3.0)
            if v.pipeline.settings.magnifier.center == want:
                break
        assert v.pipeline.settings.magnifier.center == want
    finally:
        v.close()
