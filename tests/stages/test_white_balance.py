"""White balance of files: as shot when recorded, else grey edge; the colour-matrix fallback."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.frame import mosaic
from viewfinder.stages.white_balance import (
    AS_SHOT,
    AUTO,
    estimate_white_balance,
    white_balance_label,
)

CAST = np.array([0.45, 1.0, 0.62])  # a camera's raw response to white light (R, G, B)


def _photos() -> list[np.ndarray]:
    from skimage import data

    pics = [getattr(data, n)() for n in ("astronaut", "coffee", "chelsea", "rocket")]
    pics.append(data.stereo_motorcycle()[0])
    return [p[: p.shape[0] // 2 * 2, : p.shape[1] // 2 * 2, :3] for p in pics]


def _raw(pic: np.ndarray, cast=CAST, black=64, white=1023, cfa="RGGB") -> np.ndarray:
    lin = (pic.astype(np.float64) / 255.0) ** 2.2 * cast * 0.9
    return np.round(black + mosaic(lin, cfa) * (white - black)).astype(np.uint16)


def _angle(gains, cast=CAST) -> float:
    light = 1.0 / np.asarray(gains)
    a, b = light / np.linalg.norm(light), cast / np.linalg.norm(cast)
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def test_grey_edge_finds_the_light_better_than_grey_world():
    errors, grey_world = [], []
    for pic in _photos():
        raw = _raw(pic)
        errors.append(_angle(estimate_white_balance(raw, "RGGB", 64, 1023)))
        lin = (raw.astype(float) - 64).reshape(raw.shape[0] // 2, 2, raw.shape[1] // 2, 2)
        mean = np.array([lin[:, 0, :, 0].mean(), lin[:, 0, :, 1].mean(), lin[:, 1, :, 1].mean()])
        grey_world.append(_angle(mean[1] / mean))
    assert np.median(errors) < 6.0, errors
    assert np.median(errors) < 0.6 * np.median(grey_world), (errors, grey_world)


def test_clipped_and_black_blocks_do_not_count():
    pic = _photos()[0].copy()
    raw = _raw(pic)
    base = estimate_white_balance(raw, "RGGB", 64, 1023)
    clipped = raw.copy()
    clipped[:200, :300][0::2, 0::2] = 1023  # a blown red area: a flat clipped red channel
    clipped[:200, :300][1::2, 1::2] = 1023
    clipped[:200, :300][0::2, 1::2] = 1023
    clipped[:200, :300][1::2, 0::2] = 1023
    assert _angle(estimate_white_balance(clipped, "RGGB", 64, 1023)) < _angle(base) + 1.5
    assert estimate_white_balance(np.full((64, 64), 1023, np.uint16), "RGGB", 64, 1023) is None
    assert estimate_white_balance(np.full((64, 64), 64, np.uint16), "RGGB", 64, 1023) is None


@pytest.mark.parametrize("cfa", ["RGGB", "GBRG"])
def test_per_site_blacks_and_cfa_are_honoured(cfa):
    pic = _photos()[1]
    raw = _raw(pic, cfa=cfa).astype(np.int32)
    g = estimate_white_balance(raw.astype(np.uint16), cfa, 64, 1023)
    assert _angle(g) < 8
    # the B sites with their own black (104 DN; white stays 1023), told per site: the same
    # answer (each site is normalised over its own range, as the pipeline does)
    from viewfinder.frame import cfa_site_offsets

    by, bx = cfa_site_offsets(cfa)[3]
    b = raw[by::2, bx::2]
    raw[by::2, bx::2] = np.round(104 + (b - 64) * (1023 - 104) / (1023 - 64))
    g2 = estimate_white_balance(raw.astype(np.uint16), cfa, (64, 64, 64, 104), 1023)
    assert g2 == pytest.approx(g, rel=0.03)


def _dng(path, raw: np.ndarray, neutral=None, matrix=None) -> None:
    tifffile = pytest.importorskip("tifffile")
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (33421, "H", 2, (2, 2), True),
        (33422, "B", 4, (0, 1, 1, 2), True),
        (50710, "B", 3, (0, 1, 2), True),
        (50714, "I", 1, 64, True),
        (50717, "I", 1, 1023, True),
        (50708, "s", 0, "wb test", True),
    ]
    if neutral is not None:
        tags.append((50728, "2I", 3, sum(((round(n * 1e6), 1_000_000) for n in neutral), ()), True))
    if matrix is not None:
        vals = sum(((round(v * 1e4), 10_000) for v in np.ravel(matrix)), ())
        tags += [(50721, "2i", 9, vals, True), (50778, "H", 1, 21, True)]
    tifffile.imwrite(path, raw, photometric="cfa", extratags=tags, metadata=None)


def test_file_without_as_shot_wb_gets_auto_and_says_so(tmp_path):
    pytest.importorskip("rawpy")
    from viewfinder.sources.rawfile import read_raw_file

    raw = _raw(_photos()[0])
    _dng(tmp_path / "auto.dng", raw)
    f = read_raw_file(tmp_path / "auto.dng")
    assert f.meta["white_balance_source"] == AUTO
    assert _angle(f.meta["white_balance"]) < 8
    label = white_balance_label(f.meta)
    assert label.startswith("white balance: auto: no as-shot WB in file (grey edge)")
    _dng(tmp_path / "shot.dng", raw, neutral=CAST)  # AsShotNeutral: the camera's white
    g = read_raw_file(tmp_path / "shot.dng")
    assert g.meta["white_balance_source"] == AS_SHOT
    np.testing.assert_allclose(g.meta["white_balance"], 1.0 / CAST, rtol=1e-4)
    assert white_balance_label(g.meta).startswith("white balance: as shot (R 2.22, B 1.61)")
    assert white_balance_label(g.meta, (2.0, 1.0, 1.5)) == "white balance: user (R 2.00, B 1.50)"


def _chroma(rgb: np.ndarray) -> float:
    return float(np.mean(rgb.max(axis=-1) - rgb.min(axis=-1)))


def test_file_without_matrix_gets_the_documented_fallback_not_a_flat_picture(tmp_path):
    pytest.importorskip("rawpy")
    from viewfinder.pipeline import Pipeline
    from viewfinder.settings import Settings
    from viewfinder.sources.rawfile import FALLBACK_COLOR_MATRIX, MATRIX_FALLBACK, read_raw_file

    # a camera whose filters overlap (as real ones do): raw = crosstalk @ scene, white
    # balanced. Shown with no matrix the picture is desaturated.
    pic = _photos()[2]
    _dng(tmp_path / "nomatrix.dng", _raw(pic, cast=np.ones(3)), neutral=(1, 1, 1))
    f = read_raw_file(tmp_path / "nomatrix.dng")
    assert f.meta["color_matrix_source"] == MATRIX_FALLBACK
    np.testing.assert_allclose(f.meta["color_matrix"], FALLBACK_COLOR_MATRIX)
    np.testing.assert_allclose(FALLBACK_COLOR_MATRIX.sum(axis=1), 1.0)  # grey stays grey
    pipe = Pipeline(Settings(view_size=(256, 192)), backend="numpy")
    with_fallback = pipe.process(f).display
    flat = Pipeline(Settings(view_size=(256, 192), color_matrix=np.eye(3)), backend="numpy")
    assert _chroma(with_fallback) > 1.15 * _chroma(flat.process(f).display)
    m = np.array([[1.6, -0.4, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]])
    xyz_to_cam = np.linalg.inv(m) @ np.linalg.inv(
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    )
    _dng(tmp_path / "m.dng", _raw(pic, cast=np.ones(3)), neutral=(1, 1, 1), matrix=xyz_to_cam)
    g = read_raw_file(tmp_path / "m.dng")
    assert g.meta["color_matrix_source"] == "file"
    np.testing.assert_allclose(g.meta["color_matrix"], m / m.sum(1, keepdims=True), atol=0.03)
