"""The dual view without GL: where the M lens's bright-line frame falls in the built-in view,
and the two slots of the layout."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.render.dual import brightline_rect, camera_brightline
from viewfinder.render.layout import compute_layout, intersects, split_area


def test_brightline_is_the_ratio_of_the_two_fields_of_view():
    sensor = (13.1, 9.8)
    u0, v0, u1, v1 = brightline_rect(8.7, sensor, 35.0, sensor)
    k = 8.7 / 35.0  # same sensor: the ratio of the focal lengths
    assert (u1 - u0, v1 - v0) == pytest.approx((k, k))
    assert ((u0 + u1) / 2, (v0 + v1) / 2) == pytest.approx((0.5, 0.5))
    # another sensor behind the tele: tan(a/2) = w / 2f on each side
    u0, v0, u1, v1 = brightline_rect(8.7, sensor, 50.0, (36.0, 24.0))
    assert u1 - u0 == pytest.approx((36.0 / 50.0) / (13.1 / 8.7))
    assert v1 - v0 == pytest.approx((24.0 / 50.0) / (9.8 / 8.7))
    assert brightline_rect(8.7, sensor, 8.0, sensor) is None  # wider than the wide
    with pytest.raises(ValueError, match="tele focal length must be > 0 mm"):
        brightline_rect(8.7, sensor, 0.0, sensor)


def _sites_grey(frame) -> np.ndarray:
    """The mosaic's 2x2 blocks averaged: a half-size grey picture, black subtracted."""
    raw = frame.data.astype(np.float64) - frame.black_level
    h, w = raw.shape
    return raw.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def test_the_m_view_is_what_falls_inside_the_brightline_frame():
    """Image evidence: the built-in picture inside the frame, enlarged to the M frame's size,
    matches the M sensor's picture, and a frame moved by 5 % of its size does not (correlation
    0.996 against about 0.6)."""
    import cv2

    from viewfinder.app import mount_lens
    from viewfinder.sources.simulated import SimulatedCamera

    cam = SimulatedCamera(size=(1024, 768), motion=False, noise=False)
    try:
        cam.set_mode("m")
        mount_lens(cam, "summilux-35")
        cam.set_aperture(8.0)  # deep field: both pictures sharp
        m = _sites_grey(cam.read())
        wide = _sites_grey(cam.stream("builtin").read())
        f2, (u0, v0, u1, v1) = camera_brightline(cam)
        assert f2 == 35.0
    finally:
        cam.close()
    h, w = m.shape

    def score(du: float, dv: float) -> float:
        x0, x1 = (u0 + du) * wide.shape[1], (u1 + du) * wide.shape[1]
        y0, y1 = (v0 + dv) * wide.shape[0], (v1 + dv) * wide.shape[0]
        # the crop by an affine warp (sub-pixel edges), enlarged to the M picture's size
        sx, sy = (x1 - x0) / w, (y1 - y0) / h
        mat = np.array([[sx, 0, x0 + 0.5 * sx - 0.5], [0, sy, y0 + 0.5 * sy - 0.5]])
        crop = cv2.warpAffine(wide, mat, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
        a = cv2.GaussianBlur(crop, (0, 0), 2.0)[8:-8, 8:-8]
        b = cv2.GaussianBlur(m, (0, 0), 2.0)[8:-8, 8:-8]
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    k = u1 - u0
    centred = score(0.0, 0.0)
    assert centred > 0.97, centred  # measured 0.996
    for du, dv in ((0.05 * k, 0.0), (0.0, 0.05 * k), (-0.05 * k, 0.0)):
        assert score(du, dv) < centred - 0.15, (du, dv, score(du, dv), centred)  # ~0.61


def test_split_area_puts_the_pictures_where_they_are_largest():
    wide, tall = (0, 0, 1600, 600), (0, 0, 900, 1000)
    a, b = split_area(wide, 4 / 3)
    assert a[1] == b[1] == 0 and a[0] + a[2] < b[0]  # side by side
    a, b = split_area(tall, 4 / 3)
    assert a[0] == b[0] == 0 and a[1] + a[3] < b[1]  # one above the other


@pytest.mark.parametrize("second_first", [True, False])
def test_dual_layout_two_pictures_beside_the_column_never_overlapping(second_first):
    lay = compute_layout(
        (1920, 1080), (1024, 768), second_size=(1024, 768), second_first=second_first
    )
    assert lay.image is not None and lay.second is not None
    assert not intersects(lay.image, lay.second)
    for r in (lay.image, lay.second):
        assert not intersects(r, lay.column)
        assert abs(r[2] / r[3] - 4 / 3) < 0.01
    assert (lay.second[0] < lay.image[0]) == second_first  # the built-in view first
    # before the second stream's first frame: its slot is kept, no picture yet
    lay = compute_layout((1280, 720), (1024, 768), second_size=(0, 0))
    assert lay.second is None and lay.second_slot is not None
    # off: the layout of one picture is unchanged
    one = compute_layout((1280, 720), (1024, 768))
    assert one.slot == one.image_area and one.second is None
