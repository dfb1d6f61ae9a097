"""V4L2 pixel formats to raw mosaics: Bayer (plain and MIPI-packed) as is, YUYV/MJPEG as a stand-in.

A stand-in frame is decoded, linearised with the sRGB curve and mosaicked into a 10-bit RGGB
frame (black level 64, as the IMX989), so that the whole raw pipeline runs on a webcam.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BAYER = {  # V4L2 pixel format name -> (CFA, bits, packing)
    f"S{c}{b}{p}": (c, b, p)
    for c in ("RGGB", "BGGR", "GRBG", "GBRG")
    for b, p in ((8, ""), (10, ""), (12, ""), (14, ""), (16, ""), (10, "P"), (12, "P"))
}
STAND_IN = ("YUYV", "MJPEG")
#: Stand-in frames: 10-bit with the IMX989's black level.
STAND_IN_BITS, STAND_IN_BLACK = 10, 64


def _srgb_lut10() -> np.ndarray:
    v = np.arange(256) / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    top = (1 << STAND_IN_BITS) - 1
    return np.round(STAND_IN_BLACK + lin * (top - STAND_IN_BLACK)).astype(np.uint16)


_LUT10 = _srgb_lut10()


def unpack_raw10p(buf: Any, width: int, height: int, stride: int) -> np.ndarray:
    """MIPI RAW10 (V4L2 ``pRAA`` etc.): 4 pixels in 5 bytes -> (H, W) uint16.

    Bytes 0..3 hold the high 8 bits of pixels 0..3; byte 4 holds their low 2 bits, pixel k
    in bits 2k..2k+1.
    """
    rows = np.frombuffer(buf, np.uint8, count=stride * height).reshape(height, stride)
    g = rows[:, : width * 5 // 4].reshape(height, width // 4, 5).astype(np.uint16)
    low = g[:, :, 4:5]
    out = (g[:, :, :4] << 2) | ((low >> np.array([0, 2, 4, 6], np.uint16)) & 3)
    return out.reshape(height, width)


def unpack_raw12p(buf: Any, width: int, height: int, stride: int) -> np.ndarray:
    """MIPI RAW12: 2 pixels in 3 bytes (high bytes, then both low nibbles) -> (H, W) uint16."""
    rows = np.frombuffer(buf, np.uint8, count=stride * height).reshape(height, stride)
    g = rows[:, : width * 3 // 2].reshape(height, width // 2, 3).astype(np.uint16)
    out = np.empty((height, width // 2, 2), np.uint16)
    out[:, :, 0] = (g[:, :, 0] << 4) | (g[:, :, 2] & 0xF)
    out[:, :, 1] = (g[:, :, 1] << 4) | (g[:, :, 2] >> 4)
    return out.reshape(height, width)


def mosaic_rggb10(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) sRGB-encoded uint8 -> (H', W') 10-bit RGGB mosaic of linear light (even sides)."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    out = np.empty((h, w), np.uint16)
    out[0::2, 0::2] = _LUT10[rgb[0:h:2, 0:w:2, 0]]
    out[0::2, 1::2] = _LUT10[rgb[0:h:2, 1:w:2, 1]]
    out[1::2, 0::2] = _LUT10[rgb[1:h:2, 0:w:2, 1]]
    out[1::2, 1::2] = _LUT10[rgb[1:h:2, 1:w:2, 2]]
    return out


def decode(
    buf: Any, fmt: str, width: int, height: int, stride: int
) -> tuple[np.ndarray, str, int, bool]:
    """A V4L2 buffer -> (mosaic uint16, CFA, bits, stand_in); ``ValueError`` if undecodable."""
    if fmt in BAYER:
        cfa, bits, packing = BAYER[fmt]
        if packing == "P":
            unpack = unpack_raw10p if bits == 10 else unpack_raw12p
            return unpack(buf, width, height, stride), cfa, bits, False
        if bits == 8:
            rows = np.frombuffer(buf, np.uint8, count=stride * height).reshape(height, stride)
            return rows[:, :width].astype(np.uint16), cfa, 8, False
        rows = np.frombuffer(buf, "<u2", count=stride // 2 * height).reshape(height, -1)
        return rows[:, :width].copy(), cfa, bits, False
    import cv2

    if fmt == "YUYV":
        yuyv = np.frombuffer(buf, np.uint8, count=stride * height).reshape(height, stride)
        yuyv = np.ascontiguousarray(yuyv[:, : width * 2]).reshape(height, width, 2)
        rgb = cv2.cvtColor(yuyv, cv2.COLOR_YUV2RGB_YUYV)
    elif fmt == "MJPEG":
        bgr = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError("corrupt MJPEG frame")
        rgb = bgr[..., ::-1]
    else:
        raise ValueError(f"pixel format {fmt} is not supported")
    return mosaic_rggb10(rgb), "RGGB", STAND_IN_BITS, True


def format_rank(name: str) -> int:
    """Preference among offered formats: raw Bayer, deepest first; then YUYV, MJPEG."""
    if name in BAYER:
        return 100 + BAYER[name][1] * 2 + (0 if BAYER[name][2] else 1)
    return {"YUYV": 20, "MJPEG": 10}.get(name, -1)


def default_stride(f: dict[str, Any]) -> int:
    name, w = f["format"], f["width"]
    if name in BAYER:
        _, bits, packing = BAYER[name]
        return w * bits // 8 if packing else w * (1 if bits == 8 else 2)
    return w * 2
