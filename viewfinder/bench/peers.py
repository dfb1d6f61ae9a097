"""Peers of ``viewfinder bench``: other implementations of the same work, run in the same
process so that the ratios hold on a noisy machine, and the memory roofline.

CPU: OpenCV's Bayer conversions (``cvtColor``, bilinear and edge-aware on 16-bit data, VNG on
8-bit data only) and colour-demosaicing (bilinear, Malvar 2004; pure NumPy, seconds a frame),
and a host memcpy of a large buffer as the CPU's copy bandwidth.

GPU (CuPy with a device): NVIDIA NPP's Bayer-to-RGB, ``nppiCFAToRGB_16u_C1C3R_Ctx`` from the
``nvidia-npp`` wheel through ctypes (:class:`NppCfaToRgb`); a plain one-thread-a-pixel CuPy
bilinear (:class:`DeviceBilinear`, a ``RawKernel`` so that the same source also runs, and is
tested, on ``cudasim``); and the device-to-device memcpy bandwidth (:func:`device_copy_bandwidth`),
the memory roofline every figure is also given against.

NPP facts used here, read from the 13.2 wheel's ``nppdefs.h`` / ``nppi_color_conversion.h``
(and checked without a GPU: with bad arguments the call returns NPP's argument errors, so the
argument order and the by-value structs below are what the library reads):

- ``NppStatus nppiCFAToRGB_16u_C1C3R_Ctx(const Npp16u *pSrc, int nSrcStep, NppiSize oSrcSize,
  NppiRect oSrcROI, Npp16u *pDst, int nDstStep, NppiBayerGridPosition eGrid,
  NppiInterpolationMode eInterpolation, NppStreamContext nppStreamCtx)``; steps in bytes;
  ``eInterpolation`` must be ``NPPI_INTER_UNDEFINED`` (0); the ROI must lie inside the size.
- ``NppiBayerGridPosition``: BGGR 0, RGGB 1, GBRG 2, GRBG 3 (the names as this project's CFA
  names: the top-left 2x2 block row by row).
- ``NppStreamContext`` (48 bytes): stream, device id, SM count, max threads per SM, max threads
  per block, shared memory per block (size_t), compute capability major and minor, stream
  flags, and a 32-bit workspace handle (0) that CUDA 12's NPP calls ``nReserved0``.
- Status: 0 is success, negative values are errors, positive ones warnings.
- CUDA 13's NPP has only the ``_Ctx`` entry points (the ones without a context are gone).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------------------------
# CPU peers


def cpu_demosaic_peers(raw: np.ndarray, colour: bool) -> list[tuple[str, Callable[[], Any], str]]:
    """``[(name, fn, note)]``: the CPU demosaicing peers of an RGGB uint16 mosaic ``raw``.

    ``colour``: include colour-demosaicing (seconds a frame; left out at large sizes). A peer
    whose package is missing is left out (the caller notes it)."""
    import cv2

    raw8 = (raw >> 2).astype(np.uint8)  # VNG takes 8-bit data only
    peers: list[tuple[str, Callable[[], Any], str]] = [
        ("opencv bilinear", lambda: cv2.cvtColor(raw, cv2.COLOR_BayerRGGB2RGB), "u16 -> u16 RGB"),
        ("opencv EA", lambda: cv2.cvtColor(raw, cv2.COLOR_BayerRGGB2RGB_EA), "u16 -> u16 RGB"),
        (
            "opencv VNG",
            lambda: cv2.cvtColor(raw8, cv2.COLOR_BayerRGGB2RGB_VNG),
            "u8 -> u8 RGB (VNG is 8-bit only)",
        ),
    ]
    if colour and colour_demosaicing() is not None:
        cd = colour_demosaicing()
        norm = raw.astype(np.float32) / 1023
        peers += [
            (
                "colour-demosaicing bilinear",
                lambda: cd.demosaicing_CFA_Bayer_bilinear(norm, "RGGB"),
                "float -> float RGB",
            ),
            (
                "colour-demosaicing Malvar2004",
                lambda: cd.demosaicing_CFA_Bayer_Malvar2004(norm, "RGGB"),
                "float -> float RGB",
            ),
        ]
    return peers


def colour_demosaicing() -> ModuleType | None:
    """colour-demosaicing when installed (a dev dependency), its import warnings silenced."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import colour_demosaicing as cd
    except Exception:
        return None
    return cd


def host_copy(nbytes: int) -> tuple[Callable[[], Any], int]:
    """A host memcpy of ``nbytes`` (``numpy.copyto``, one thread) and the bytes it moves (read
    plus write): the CPU's copy bandwidth, its roofline."""
    src = np.ones(nbytes, np.uint8)
    dst = np.empty_like(src)
    return (lambda: np.copyto(dst, src)), 2 * nbytes


# ---------------------------------------------------------------------------------------------
# GPU: device-to-device copy bandwidth


def device_copy(cp: ModuleType, nbytes: int) -> tuple[Callable[[], Any], int]:
    """A device-to-device memcpy of ``nbytes`` on the current stream (``cudaMemcpyAsync``
    through CuPy's ``MemoryPointer.copy_from_device_async``) and the bytes it moves (read plus
    write). Use a buffer well above the L2 cache (50 MB on an H100/H200), or it measures L2."""
    src = cp.ones(nbytes, cp.uint8)
    dst = cp.empty_like(src)

    def run() -> None:
        dst.data.copy_from_device_async(src.data, nbytes)

    return run, 2 * nbytes


# ---------------------------------------------------------------------------------------------
# GPU: a plain bilinear demosaic, one thread a pixel

BILINEAR_SOURCE = r"""
// Plain bilinear demosaic of a Bayer mosaic: one thread a pixel, no shared memory, borders
// mirrored (index -1 reads 1, index n reads n - 2: the CFA parity is kept). The peer
// reference of viewfinder's own kernels; rx, ry: column and row of the red site in the
// top-left 2x2 block (RGGB: 0, 0). Output: (h, w, 3) float32 in DN.
__device__ __forceinline__ int vf_peer_mirror(int i, int n) {
    return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i);
}

__device__ __forceinline__ float vf_peer_at(const unsigned short* raw, int w, int h, int y, int x) {
    return (float)raw[(long long)vf_peer_mirror(y, h) * w + vf_peer_mirror(x, w)];
}

extern "C" __global__ void vf_peer_bilinear(const unsigned short* raw, float* rgb, int w, int h,
                                            int rx, int ry) {
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    const float c = vf_peer_at(raw, w, h, y, x);
    const float cross = 0.25f * (vf_peer_at(raw, w, h, y - 1, x) + vf_peer_at(raw, w, h, y + 1, x) +
                                 vf_peer_at(raw, w, h, y, x - 1) + vf_peer_at(raw, w, h, y, x + 1));
    const float diag = 0.25f * (vf_peer_at(raw, w, h, y - 1, x - 1) +
                                vf_peer_at(raw, w, h, y - 1, x + 1) +
                                vf_peer_at(raw, w, h, y + 1, x - 1) +
                                vf_peer_at(raw, w, h, y + 1, x + 1));
    const float horiz = 0.5f * (vf_peer_at(raw, w, h, y, x - 1) + vf_peer_at(raw, w, h, y, x + 1));
    const float vert = 0.5f * (vf_peer_at(raw, w, h, y - 1, x) + vf_peer_at(raw, w, h, y + 1, x));
    const bool red_row = (y & 1) == ry;
    const bool red_col = (x & 1) == rx;
    float r, g, b;
    if (red_row && red_col) {          // R site
        r = c; g = cross; b = diag;
    } else if (!red_row && !red_col) { // B site
        r = diag; g = cross; b = c;
    } else if (red_row) {              // G on a red row: red left and right, blue above and below
        r = horiz; g = c; b = vert;
    } else {                           // G on a blue row: red above and below
        r = vert; g = c; b = horiz;
    }
    float* o = rgb + ((long long)y * w + x) * 3;
    o[0] = r;
    o[1] = g;
    o[2] = b;
}
"""

#: Column and row of the red site of each CFA name.
RED_SITE = {"RGGB": (0, 0), "GRBG": (1, 0), "GBRG": (0, 1), "BGGR": (1, 1)}


class DeviceBilinear:
    """The plain bilinear peer on array module ``xp`` (CuPy, or cudasim in the tests):
    ``DeviceBilinear(xp)(raw, out)`` fills ``out`` (H, W, 3) float32 from ``raw`` (H, W)
    uint16, on the current stream."""

    BLOCK = (32, 8, 1)

    def __init__(self, xp: ModuleType, cfa: str = "RGGB") -> None:
        if cfa not in RED_SITE:
            raise ValueError(f"cfa must be one of {', '.join(RED_SITE)}, got {cfa!r}")
        self.xp = xp
        self.rx, self.ry = RED_SITE[cfa]
        self.kernel = xp.RawKernel(BILINEAR_SOURCE, "vf_peer_bilinear")

    def __call__(self, raw: Any, out: Any) -> Any:
        h, w = raw.shape
        if raw.dtype != np.uint16 or out.shape != (h, w, 3) or out.dtype != np.float32:
            raise ValueError(
                f"bilinear peer: raw (H, W) uint16 and out (H, W, 3) float32, got "
                f"{raw.shape} {raw.dtype} and {out.shape} {out.dtype}"
            )
        if not (raw.flags.c_contiguous and out.flags.c_contiguous):
            raise ValueError("bilinear peer: raw and out must be C-contiguous")
        bx, by, _ = self.BLOCK
        grid = ((w + bx - 1) // bx, (h + by - 1) // by, 1)
        i32 = np.int32
        self.kernel(grid, self.BLOCK, (raw, out, i32(w), i32(h), i32(self.rx), i32(self.ry)))
        return out


def bilinear_reference(raw: np.ndarray, cfa: str = "RGGB") -> np.ndarray:
    """What :class:`DeviceBilinear` computes, in NumPy (mirrored borders): (H, W, 3) float32."""
    rx, ry = RED_SITE[cfa]
    h, w = raw.shape
    p = np.pad(raw.astype(np.float32), 1, mode="reflect")

    def at(dy: int, dx: int) -> np.ndarray:
        return p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    c = at(0, 0)
    cross = 0.25 * (at(-1, 0) + at(1, 0) + at(0, -1) + at(0, 1))
    diag = 0.25 * (at(-1, -1) + at(-1, 1) + at(1, -1) + at(1, 1))
    horiz = 0.5 * (at(0, -1) + at(0, 1))
    vert = 0.5 * (at(-1, 0) + at(1, 0))
    red_row = (np.arange(h)[:, None] & 1) == ry
    red_col = (np.arange(w)[None, :] & 1) == rx
    r_site, b_site = red_row & red_col, ~red_row & ~red_col
    g_red_row, g_blue_row = red_row & ~red_col, ~red_row & red_col
    r = np.select([r_site, b_site, g_red_row, g_blue_row], [c, diag, horiz, vert])
    g = np.where(r_site | b_site, cross, c)
    b = np.select([r_site, b_site, g_red_row, g_blue_row], [diag, c, vert, horiz])
    return np.stack([r, g, b], axis=-1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# GPU: NVIDIA NPP through ctypes

NPPI_BAYER = {"BGGR": 0, "RGGB": 1, "GBRG": 2, "GRBG": 3}
NPPI_INTER_UNDEFINED = 0
#: Some NppStatus codes (nppdefs.h), for the error messages.
NPP_STATUS = {
    -4: "NPP_NO_MEMORY_ERROR",
    -5: "NPP_BAD_ARGUMENT_ERROR",
    -6: "NPP_SIZE_ERROR",
    -8: "NPP_NULL_POINTER_ERROR",
    -11: "NPP_WRONG_INTERSECTION_ROI_ERROR",
    -14: "NPP_NOT_SUPPORTED_MODE_ERROR",
    -23: "NPP_INTERPOLATION_ERROR",
    -1000: "NPP_CUDA_KERNEL_EXECUTION_ERROR",
    -1002: "NPP_ALIGNMENT_ERROR",
}
#: ``VIEWFINDER_NPP_LIB``: a folder holding libnppicc.so* (and libnppc.so*), searched first.
NPP_LIB_ENV = "VIEWFINDER_NPP_LIB"


class NppiSize(ctypes.Structure):
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int)]


class NppiRect(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
    ]


class NppStreamContext(ctypes.Structure):
    _fields_ = [
        ("hStream", ctypes.c_void_p),
        ("nCudaDeviceId", ctypes.c_int),
        ("nMultiProcessorCount", ctypes.c_int),
        ("nMaxThreadsPerMultiProcessor", ctypes.c_int),
        ("nMaxThreadsPerBlock", ctypes.c_int),
        ("nSharedMemPerBlock", ctypes.c_size_t),
        ("nCudaDevAttrComputeCapabilityMajor", ctypes.c_int),
        ("nCudaDevAttrComputeCapabilityMinor", ctypes.c_int),
        ("nStreamFlags", ctypes.c_uint),
        ("hWorkspace", ctypes.c_uint32),  # CUDA 12: nReserved0; 0 either way
    ]


def find_npp_library(name: str = "nppicc", cuda_major: int | None = None) -> Path | None:
    """The path of ``lib<name>.so*``: ``$VIEWFINDER_NPP_LIB`` first, then the ``nvidia``
    wheels on ``sys.path`` (``nvidia/cu13/lib`` for ``nvidia-npp``, ``nvidia/npp/lib`` for
    ``nvidia-npp-cu12``), then the CUDA toolkit (``$CUDA_HOME/lib64``, /usr/local/cuda).
    With ``cuda_major``, a library of that major version (``.so.13``) is preferred."""
    dirs: list[Path] = []
    if os.environ.get(NPP_LIB_ENV):
        dirs.append(Path(os.environ[NPP_LIB_ENV]))
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        spec = None
    for base in list(spec.submodule_search_locations or []) if spec else []:
        subs = sorted(Path(base).glob("cu*/lib")) + [Path(base) / "npp" / "lib"]
        dirs += subs
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            dirs.append(Path(home) / "lib64")
    found = [p for d in dirs if d.is_dir() for p in sorted(d.glob(f"lib{name}.so*"))]
    if not found:
        return None
    if cuda_major is not None:
        for p in found:
            if p.name.endswith(f".so.{cuda_major}") or f".so.{cuda_major}." in p.name:
                return p
    return found[0]


def npp_status_text(status: int) -> str:
    return f"{status} ({NPP_STATUS.get(status, 'see nppdefs.h')})"


class NppCfaToRgb:
    """NPP's Bayer-to-RGB on CuPy arrays: ``NppCfaToRgb(cp)(raw, out)`` fills ``out`` (H, W,
    3) uint16 from ``raw`` (H, W) uint16 on the current CuPy stream.

    Raises RuntimeError naming the reason when the library cannot be found or loaded, and on
    an error status (negative NppStatus)."""

    FUNCTION = "nppiCFAToRGB_16u_C1C3R_Ctx"

    def __init__(self, cp: ModuleType, cfa: str = "RGGB", path: str | Path | None = None) -> None:
        if cfa not in NPPI_BAYER:
            raise ValueError(f"cfa must be one of {', '.join(NPPI_BAYER)}, got {cfa!r}")
        self.cp = cp
        self.grid = NPPI_BAYER[cfa]
        major = None
        try:
            major = int(cp.cuda.runtime.runtimeGetVersion()) // 1000
        except Exception:
            pass
        lib = Path(path) if path else find_npp_library("nppicc", major)
        if lib is None:
            raise RuntimeError(
                "NPP not found: pip install nvidia-npp (CUDA 13) or nvidia-npp-cu12, or set "
                f"{NPP_LIB_ENV} to the folder of libnppicc.so"
            )
        try:
            # libnppicc needs libnppc (its RPATH is $ORIGIN, so a wheel's copy is found);
            # load it first from the same folder in case a toolkit install has no RPATH
            core = sorted(lib.parent.glob("libnppc.so*"))
            if core:
                ctypes.CDLL(str(core[0]), mode=ctypes.RTLD_GLOBAL)
            self.lib = ctypes.CDLL(str(lib))
            fn = getattr(self.lib, self.FUNCTION)
        except (OSError, AttributeError) as exc:
            raise RuntimeError(f"NPP at {lib} does not load: {exc}") from None
        fn.restype = ctypes.c_int
        fn.argtypes = [
            ctypes.c_void_p,  # const Npp16u *pSrc
            ctypes.c_int,  # nSrcStep (bytes)
            NppiSize,  # oSrcSize
            NppiRect,  # oSrcROI
            ctypes.c_void_p,  # Npp16u *pDst
            ctypes.c_int,  # nDstStep (bytes)
            ctypes.c_int,  # NppiBayerGridPosition eGrid
            ctypes.c_int,  # NppiInterpolationMode eInterpolation
            NppStreamContext,  # nppStreamCtx, by value
        ]
        self.fn = fn
        self.path = lib
        self._ctx_base: NppStreamContext | None = None

    def context(self) -> NppStreamContext:
        """The stream context of the current CuPy device and stream."""
        cp = self.cp
        if self._ctx_base is None:
            dev = cp.cuda.runtime.getDevice()
            props = cp.cuda.runtime.getDeviceProperties(dev)
            base = NppStreamContext()
            base.nCudaDeviceId = dev
            base.nMultiProcessorCount = props["multiProcessorCount"]
            base.nMaxThreadsPerMultiProcessor = props["maxThreadsPerMultiProcessor"]
            base.nMaxThreadsPerBlock = props["maxThreadsPerBlock"]
            base.nSharedMemPerBlock = props["sharedMemPerBlock"]
            base.nCudaDevAttrComputeCapabilityMajor = props["major"]
            base.nCudaDevAttrComputeCapabilityMinor = props["minor"]
            base.hWorkspace = 0
            self._ctx_base = base
        ctx = NppStreamContext.from_buffer_copy(self._ctx_base)
        stream = cp.cuda.get_current_stream()
        ctx.hStream = stream.ptr or None  # 0: the legacy default stream
        ctx.nStreamFlags = cp.cuda.runtime.streamGetFlags(stream.ptr) if stream.ptr else 0
        return ctx

    def __call__(self, raw: Any, out: Any) -> Any:
        h, w = raw.shape
        if raw.dtype != np.uint16 or out.shape != (h, w, 3) or out.dtype != np.uint16:
            raise ValueError(
                f"NPP peer: raw (H, W) uint16 and out (H, W, 3) uint16, got "
                f"{raw.shape} {raw.dtype} and {out.shape} {out.dtype}"
            )
        if raw.strides[1] != 2 or out.strides[1:] != (6, 2):
            raise ValueError("NPP peer: rows of raw and out must be packed")
        status = self.fn(
            raw.data.ptr,
            raw.strides[0],
            NppiSize(w, h),
            NppiRect(0, 0, w, h),
            out.data.ptr,
            out.strides[0],
            self.grid,
            NPPI_INTER_UNDEFINED,
            self.context(),
        )
        if status < 0:
            raise RuntimeError(f"{self.FUNCTION} returned {npp_status_text(status)}")
        return out


def flat_cfa(h: int, w: int, rgb: tuple[int, int, int], cfa: str = "RGGB") -> np.ndarray:
    """A mosaic of one flat colour ``rgb`` (DN): every demosaic must give back ``rgb`` away
    from the borders, which checks the grid position and the channel order of a peer."""
    rx, ry = RED_SITE[cfa]
    raw = np.full((h, w), rgb[1], np.uint16)
    raw[ry::2, rx::2] = rgb[0]
    raw[1 - ry :: 2, 1 - rx :: 2] = rgb[2]
    return raw


def check_npp(npp: NppCfaToRgb, cp: ModuleType) -> str:
    """Run NPP once on a flat-colour RGGB mosaic and check it gives the colour back in R, G, B
    order away from the borders; returns a note, raises RuntimeError when it does not."""
    rgb = (100, 500, 900)
    raw = cp.asarray(flat_cfa(64, 96, rgb))
    out = cp.zeros((64, 96, 3), cp.uint16)
    npp(raw, out)
    cp.cuda.get_current_stream().synchronize()
    inner = cp.asnumpy(out)[4:-4, 4:-4].reshape(-1, 3)
    want = np.array(rgb, np.uint16)
    if not (inner == want).all():
        got = tuple(int(v) for v in np.median(inner, axis=0))
        raise RuntimeError(f"NPP check failed: a flat RGGB {rgb} came back as {got}")
    return f"{npp.FUNCTION} from {npp.path.name}; flat-colour check passed"
