"""V4L2Source through a fake kernel under linuxpy: formats, unpacking, stand-in, faults."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("linuxpy")
cv2 = pytest.importorskip("cv2")

from tests.sources.fakev4l2 import (  # noqa: E402
    PERIOD_NS,
    T0_NS,
    FakeCamera,
    FakeKernel,
    pack_raw10p,
    pack_raw12p,
)
from viewfinder.sources.base import SourceError  # noqa: E402
from viewfinder.sources.v4l2 import (  # noqa: E402
    V4L2Source,
    cli_devices,
    unpack_raw10p,
    unpack_raw12p,
)

W, H = 64, 48


def mosaic(seq: int, bits: int, w: int = W, h: int = H) -> np.ndarray:
    """The test scene for frame ``seq``: random values of ``bits`` bits."""
    return np.random.default_rng(seq).integers(0, 2**bits, (h, w), dtype=np.uint16)


def rgb_scene(w: int = W, h: int = H) -> np.ndarray:
    """Flat colour blocks (sRGB uint8): red left half, grey right half."""
    img = np.empty((h, w, 3), np.uint8)
    img[:, : w // 2] = (200, 40, 30)
    img[:, w // 2 :] = (128, 128, 128)
    return img


BITS = {"8": 8, "10": 10, "12": 12, "14": 14, "16": 16, "10P": 10, "12P": 12}


def payload(fmt: str, w: int, h: int, stride: int, seq: int) -> bytes:
    """What a camera would send for ``fmt`` (built from the format definitions)."""
    if fmt == "YUYV":
        yuyv = cv2.cvtColor(rgb_scene(w, h), cv2.COLOR_RGB2YUV_YUYV).reshape(h, w * 2)
        return np.pad(yuyv, ((0, 0), (0, stride - 2 * w))).tobytes()
    if fmt == "MJPEG":
        ok, jpg = cv2.imencode(".jpg", rgb_scene(w, h)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 98])
        return jpg.tobytes()
    suffix = fmt[5:]
    m = mosaic(seq, BITS[suffix], w, h)
    if suffix == "10P":
        return pack_raw10p(m, stride)
    if suffix == "12P":
        return pack_raw12p(m, stride)
    if suffix == "8":
        return np.pad(m.astype(np.uint8), ((0, 0), (0, stride - w))).tobytes()
    return np.pad(m.astype("<u2"), ((0, 0), (0, (stride - 2 * w) // 2))).tobytes()


@pytest.fixture
def kernel():
    with FakeKernel() as k:
        yield k


def camera(kernel, formats, path="/dev/video0", **kw) -> FakeCamera:
    if isinstance(formats, str):
        formats = {formats: [(W, H), (32, 24)]}
    return kernel.add(FakeCamera(path, formats, payload, **kw))


def wait_for(cond, timeout=3.0) -> None:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.005)


# -- pure unpacking -------------------------------------------------------------------------


@pytest.mark.parametrize("pad", [0, 12])
def test_unpack_packed_formats_match_definition(pad):
    m10, m12 = mosaic(1, 10, 16, 4), mosaic(2, 12, 16, 4)
    s10, s12 = 20 + pad, 24 + pad
    np.testing.assert_array_equal(unpack_raw10p(pack_raw10p(m10, s10), 16, 4, s10), m10)
    np.testing.assert_array_equal(unpack_raw12p(pack_raw12p(m12, s12), 16, 4, s12), m12)
    # one group by hand: pixels 0x3FF, 0x001, 0x2AA, 0x155
    group = bytes([0xFF, 0x00, 0xAA, 0x55, 0b01_10_01_11])
    np.testing.assert_array_equal(unpack_raw10p(group, 4, 1, 5), [[0x3FF, 0x001, 0x2AA, 0x155]])


# -- formats straight through ---------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,cfa",
    [
        ("SRGGB8", "RGGB"),
        ("SBGGR10", "BGGR"),
        ("SGRBG12", "GRBG"),
        ("SGBRG16", "GBRG"),
        ("SRGGB10P", "RGGB"),
        ("SGBRG10P", "GBRG"),
        ("SBGGR12P", "BGGR"),
    ],
)
def test_bayer_formats_bit_exact(kernel, fmt, cfa):
    cam = camera(kernel, fmt, pad=8)  # padded rows: bytesperline is honoured
    with V4L2Source(0) as src:
        assert src.format["format"] == fmt and (src.format["width"], src.format["height"]) == (W, H)
        assert cam.wait_streaming()
        cam.emit(3)
        for seq in range(3):
            f = src.read(timeout=3)
            np.testing.assert_array_equal(f.data, mosaic(seq, BITS[fmt[5:]]))
            assert f.cfa == cfa and f.bits == BITS[fmt[5:]] and f.seq == seq
            assert f.timestamp_ns == T0_NS + seq * PERIOD_NS  # the driver's clock
            assert f.meta["stand_in"] is False and f.meta["pixel_format"] == fmt


def test_prefers_raw_over_yuyv_and_picks_size(kernel):
    camera(kernel, {"MJPEG": [(W, H)], "YUYV": [(W, H), (32, 24)], "SGRBG10": [(32, 24), (W, H)]})
    with V4L2Source("/dev/video0") as src:
        assert src.format["format"] == "SGRBG10" and src.format["width"] == W
    with V4L2Source(0, size=(32, 24), fmt="YUYV") as src:
        assert src.format["format"] == "YUYV" and src.format["width"] == 32
        assert src.format["fps"] == 30


def test_frame_rate_is_asked_for(kernel):
    cam = camera(kernel, "SRGGB12", fps=(30, 15))
    with V4L2Source(0, fps=15) as src:
        assert cam.fps == 15 and src.format["fps"] == 15


@pytest.mark.parametrize("fmt,tol", [("YUYV", 12), ("MJPEG", 25)])
def test_stand_in_is_linear_10bit_rggb(kernel, fmt, tol):
    cam = camera(kernel, fmt)
    with V4L2Source(0) as src:
        cam.wait_streaming()
        cam.emit(1)
        f = src.read(timeout=3)
    assert f.meta["stand_in"] is True and f.meta["pixel_format"] == fmt
    assert f.cfa == "RGGB" and f.bits == 10 and f.black_level == 64 and f.white_level == 1023

    def expect(v8: int) -> float:  # sRGB decode, then 10 bits above black
        v = v8 / 255
        lin = v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
        return 64 + lin * (1023 - 64)

    red = f.data[8:40, 4:28]  # inside the red block, away from chroma edges
    grey = f.data[8:40, 36:60]
    assert abs(red[0::2, 0::2].mean() - expect(200)) < tol  # R sites
    assert abs(red[1::2, 1::2].mean() - expect(30)) < tol  # B sites
    assert abs(red[0::2, 1::2].mean() - expect(40)) < tol  # G sites
    for site in (grey[0::2, 0::2], grey[0::2, 1::2], grey[1::2, 1::2]):
        assert abs(site.mean() - expect(128)) < tol


def test_corrupt_mjpeg_frame_is_skipped_and_counted(kernel):
    def broken_second(fmt, w, h, stride, seq):
        return b"\xff\xd8 truncated" if seq == 1 else payload(fmt, w, h, stride, seq)

    cam = kernel.add(FakeCamera("/dev/video0", {"MJPEG": [(W, H)]}, broken_second))
    with V4L2Source(0) as src:
        cam.wait_streaming()
        cam.emit(3)
        assert [src.read(timeout=3).meta["driver_sequence"] for _ in range(2)] == [0, 2]
        assert src.corrupt == 1 and src.captured == 2


# -- drops ----------------------------------------------------------------------------------


def test_ring_drops_oldest_and_counts_driver_gaps(kernel):
    cam = camera(kernel, "SRGGB10")
    with V4L2Source(0, ring=3) as src:
        cam.wait_streaming()
        for i in range(10):  # nobody reads: the ring keeps the newest 3
            assert cam.emit(1) == 1  # a free driver buffer each time: no driver drop
            wait_for(lambda i=i: src.captured == i + 1)
        assert src.ring.dropped == 7
        assert [src.read(timeout=1).seq for _ in range(3)] == [7, 8, 9]
        cam.emit(1, skip=4)  # the driver lost 4 frames before this one
        f = src.read(timeout=3)
        assert src.driver_dropped == 4 and f.meta["driver_sequence"] == 14
        np.testing.assert_array_equal(f.data, mosaic(14, 10))


# -- faults ---------------------------------------------------------------------------------


def test_missing_device_lists_present(kernel):
    camera(kernel, "SRGGB10", path="/dev/video2")
    camera(kernel, "YUYV", path="/dev/video5")
    with pytest.raises(SourceError) as err:
        V4L2Source(7)
    msg = str(err.value)
    assert "/dev/video7" in msg and "/dev/video2, /dev/video5" in msg and "\n" not in msg


def test_missing_device_when_none(kernel):
    with pytest.raises(SourceError, match=r"no V4L2 device /dev/video0 \(devices present: none"):
        V4L2Source(0)


def test_busy_device_says_so(kernel):
    cam = camera(kernel, "SRGGB10")
    cam.busy = True
    with pytest.raises(SourceError, match="/dev/video0 is busy"):
        V4L2Source(0)


def test_format_not_offered_lists_offered(kernel):
    camera(kernel, {"YUYV": [(W, H)], "MJPEG": [(W, H)]})
    with pytest.raises(SourceError, match="does not offer format 'SRGGB10'.*YUYV, MJPEG"):
        V4L2Source(0, fmt="SRGGB10")
    with pytest.raises(SourceError, match=r"does not offer 640x480 in YUYV; sizes: 64x48"):
        V4L2Source(0, fmt="YUYV", size=(640, 480))


def test_unplug_and_reconnect(kernel):
    cam = camera(kernel, "SBGGR10")
    with V4L2Source(0, reconnect_interval=0.02) as src:
        cam.wait_streaming()
        cam.emit(2)
        assert [src.read(timeout=3).seq for _ in range(2)] == [0, 1]
        cam.unplug()
        wait_for(lambda: src.status == "camera disconnected")
        assert src.disconnects == 1 and "/dev/video0" in src.error
        with pytest.raises(SourceError, match="camera disconnected"):
            src.read(timeout=0.1)
        time.sleep(0.1)  # it keeps trying while the node is gone
        assert src.status == "camera disconnected" and "no V4L2 device" in src.error
        cam.plug()
        wait_for(lambda: src.status == "streaming")
        assert cam.wait_streaming() and src.reconnects == 1
        cam.emit(1)
        f = src.read(timeout=3)
        assert f.seq == 2  # our numbering goes on; the driver restarted at 0
        np.testing.assert_array_equal(f.data, mosaic(0, 10))
    assert src.status == "closed"


def test_controls(kernel):
    cam = camera(kernel, "SRGGB10")
    with V4L2Source(0) as src:
        ctrls = src.controls()
        assert ctrls["exposure"]["min"] == 1 and ctrls["exposure"]["max"] == 5000
        assert ctrls["gain"]["value"] == 32
        assert cam.control_values[0x9A0901] == 3  # aperture priority (auto)
        assert src.set_control("exposure", 300) == 300 and cam.control_values[0x9A0902] == 300
        assert cam.control_values[0x9A0901] == 1  # switched to manual first
        assert src.set_control("gain", 999) == 255  # clipped to the device's range
    cam2 = camera(kernel, "SRGGB10", path="/dev/video1", controls={})
    with V4L2Source(1) as src:
        assert src.controls() == {}
        with pytest.raises(ValueError, match="no 'gain' control"):
            src.set_control("gain", 1)
    assert cam2.control_values == {}


# -- command line ---------------------------------------------------------------------------


def test_cli_devices_lists_formats_sizes_rates(kernel, capsys):
    camera(kernel, {"SRGGB10P": [(W, H)], "YUYV": [(W, H), (32, 24)]}, fps=(30, 15))
    assert cli_devices(None) == 0
    out = capsys.readouterr().out
    assert "/dev/video0: Fake USB Camera (fakeuvc" in out
    assert "SRGGB10P" in out and "YUYV" in out
    assert "64x48 @ 15, 30 fps" in out and "32x24 @ 15, 30 fps" in out


def test_cli_missing_device_one_line_error(kernel, capsys, tmp_path):
    from viewfinder.cli import main

    camera(kernel, "SRGGB10", path="/dev/video1")
    assert main(["capture", "--source", "v4l2:/dev/video4", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no V4L2 device /dev/video4" in err and "/dev/video1" in err


def test_cli_capture_from_camera(kernel, capsys, tmp_path):
    import threading

    rawpy = pytest.importorskip("rawpy")
    from viewfinder.cli import main

    cam = camera(kernel, "SGRBG10P")
    stop = threading.Event()

    def sensor():
        cam.wait_streaming()
        while not stop.is_set():
            cam.emit(1)
            time.sleep(0.005)

    t = threading.Thread(target=sensor, daemon=True)
    t.start()
    try:
        assert main(["capture", "--source", "v4l2:0", "--count", "4", "--out", str(tmp_path)]) == 0
    finally:
        stop.set()
        t.join()
    files = sorted(tmp_path.glob("*.dng"))
    assert len(files) == 4
    with rawpy.imread(str(files[0])) as raw:
        seq = int(files[0].stem.split("_")[1])
        assert raw.raw_image_visible.shape == (H, W)
        assert "".join(raw.color_desc.decode()[i] for i in raw.raw_pattern.reshape(-1)) == "GRBG"
        assert raw.raw_image_visible.max() <= 1023 and seq == 0


UVC_AUTOS = {
    0x9A0901: ("Auto Exposure", 0, 3, 3),  # 1 manual, 3 aperture priority
    0x9A0902: ("Exposure Time, Absolute", 1, 5000, 156),
    0x98090C: ("White Balance, Automatic", 0, 1, 1),
}


def test_the_cameras_own_auto_modes_switch_off_and_on(kernel):
    cam = camera(kernel, "YUYV", controls=dict(UVC_AUTOS))
    with V4L2Source(0) as src:
        assert src.auto_modes() == {"auto exposure": True, "auto white balance": True}
        assert src.set_auto_mode("auto white balance", False) is False
        assert cam.control_values[0x98090C] == 0
        assert src.set_auto_mode("auto exposure", False) is False
        assert cam.control_values[0x9A0901] == 1  # manual
        assert src.auto_modes() == {"auto exposure": False, "auto white balance": False}
        assert src.set_auto_mode("auto exposure", True) is True
        assert cam.control_values[0x9A0901] == 3  # aperture priority, as UVC cameras offer
        assert src.set_auto_mode("auto white balance", True) is True
        assert cam.control_values[0x98090C] == 1
        src.set_control("exposure", 300)  # a manual exposure turns the camera's AE off
        assert src.auto_modes()["auto exposure"] is False
        with pytest.raises(ValueError, match="has no auto gain mode"):
            src.set_auto_mode("auto gain", True)


def test_a_camera_without_auto_modes_has_none_to_show(kernel):
    camera(kernel, "SRGGB10", controls={0x980913: ("Gain", 0, 255, 32)})
    with V4L2Source(0) as src:
        assert src.auto_modes() == {}
