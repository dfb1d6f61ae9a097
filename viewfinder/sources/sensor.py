"""The IMX989-class sensor: photon-transfer noise model and the per-frame exposure kernel.

Photon-transfer model (per pixel, for a mean of ``n`` photo-electrons during the exposure):

- collected charge ``e = clip(n + sqrt(n) * z1, 0, full_well)`` (shot noise: Poisson, with
  variance ``n``);
- raw value ``DN = round(black + g * e + sigma_r * z2)`` clipped to ``[0, white]``, where the
  conversion gain ``g`` (DN per electron) grows with ISO, ``g = (white - black) / full_well *
  ISO / base_ISO`` (at base ISO the full well lands on the white level), and the read noise in
  DN is ``sigma_r = sqrt((g * r_pre)**2 + r_post**2)`` (``r_pre`` in electrons before the
  analogue gain, ``r_post`` in DN after it);
- so below clipping a flat patch of mean signal ``S = mean - black`` (DN) has the variance
  ``var = g * S + sigma_r**2 + 1/12`` (DN^2; the last term is the rounding to integers).

Speed: the shot noise is drawn as a Gaussian with the Poisson variance, not as a Poisson
sample. The two agree in mean and variance (what the photon-transfer curve and focus peaking
use); the Gaussian is slightly wrong in shape below about 20 electrons. On the CPU the normal
deviates come from a bank drawn once per output size and read at random offsets per frame
(drawing 2 x 2 M normals per frame costs more than the whole 60 fps budget); successive frames
are therefore shifted copies of one noise field, which no viewer or statistic here can see. The
bank holds int8 codes (24 per sigma, normalised to exactly zero mean and unit variance): memory
traffic, not arithmetic, is what the CPU kernel costs. The GPU kernel (``kernels/sim.cu``)
draws fresh counter-based normals (a 32-bit hash and Box-Muller) per pixel instead.

Smaller output sizes (2x2 binning, or any size for CPU use) are modelled as a sensor of the same
area with larger pixels: photon counts and full well scale with the pixel area ``a`` (in native
pixels), the read noise in electrons with ``sqrt(a)`` (the charge of ``a`` pixels summed).

Modules: ``sensor_exposure`` (photon-transfer parameters, the NumPy reference and the Numba
kernels of the exposure, and :class:`FrameRing`, the host frame buffers a sensor reuses once
no consumer holds them), ``sensor_gpu`` (the CuPy glue of ``kernels/sim.cu``); this one holds
the sensor model (:class:`SensorSpec`, :class:`Sensor`) and re-exports the others' public names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..settings import check_range
from .sensor_exposure import (
    SERIAL_BELOW,
    FrameRing,
    NoiseParams,
    _expose_mean_par,
    _expose_mean_ser,
    _expose_par,
    _expose_ser,
    expose_reference,
)
from .sensor_gpu import GpuExposer

__all__ = [
    "IMX989",
    "PHOTONS_PER_LUX_S_M2",
    "SERIAL_BELOW",
    "FrameRing",
    "GpuExposer",
    "NoiseParams",
    "Sensor",
    "SensorSpec",
    "expose_reference",
]


@dataclass(frozen=True)
class SensorSpec:
    """Fixed properties of a sensor model (native pixels)."""

    name: str
    width: int
    height: int
    pixel_um: float
    cfa: str
    bits: int
    black_level: int
    white_level: int
    full_well_e: float
    #: Effective quantum efficiency of the R, G and B sites (colour filter included).
    qe_rgb: tuple[float, float, float]
    base_iso: float
    iso_range: tuple[float, float]
    exposure_range_s: tuple[float, float]
    read_noise_pre_e: float
    read_noise_post_dn: float

    @property
    def width_mm(self) -> float:
        return self.width * self.pixel_um / 1000.0

    @property
    def height_mm(self) -> float:
        return self.height * self.pixel_um / 1000.0


#: Sony IMX989-class 1-inch 50 MP sensor. Full well, QE and read noise are plausible figures
#: for a 1.6 um BSI pixel (Sony does not publish them); with them ISO follows the ISO 12232
#: saturation definition within 10% (78 / ISO lux s saturates the green sites).
IMX989 = SensorSpec(
    name="IMX989",
    width=8192,
    height=6144,
    pixel_um=1.6,
    cfa="RGGB",
    bits=10,
    black_level=64,
    white_level=1023,
    full_well_e=9000.0,
    qe_rgb=(0.42, 0.55, 0.38),
    base_iso=50.0,
    iso_range=(50.0, 6400.0),
    exposure_range_s=(1.0 / 32000.0, 30.0),
    read_noise_pre_e=1.5,
    read_noise_post_dn=0.6,
)

#: Photons per second per m^2 per lux (555 nm: 1 lm = 1/683 W, 3.58e-19 J a photon).
PHOTONS_PER_LUX_S_M2 = 4.09e15


class Sensor:
    """One IMX989-class sensor read out at ``size`` (W, H) output pixels.

    Parameters
    ----------
    spec : SensorSpec
        The sensor model.
    size : (width, height), "full", "binned" or None
        Output size; ``None`` and ``"full"`` are the native size, ``"binned"`` the 2x2 binned
        mode (4096 x 3072). It must be even, no larger than native.
        A different aspect ratio crops the sensor (16:9 keeps the full width, like a video
        mode).
    seed : int
        Seed of the noise bank and of the per-frame offsets.
    """

    #: Offsets per frame are drawn in [0, BANK_SLACK); the bank holds h*w + BANK_SLACK normals
    #: for the largest window h x w exposed so far.
    BANK_SLACK = 1 << 20

    def __init__(
        self, spec: SensorSpec = IMX989, size: tuple[int, int] | str | None = None, seed: int = 0
    ) -> None:
        if size is None or size == "full":
            size = (spec.width, spec.height)
        elif size == "binned":  # 2x2 binning: 4096 x 3072 pixels of 3.2 um
            size = (spec.width // 2, spec.height // 2)
        elif isinstance(size, str):
            raise ValueError(f"sensor output size must be 'full', 'binned' or (w, h), got {size!r}")
        w, h = size
        if (
            not isinstance(w, (int, np.integer))
            or not isinstance(h, (int, np.integer))
            or w < 4
            or h < 4
            or w % 2
            or h % 2
            or w > spec.width
            or h > spec.height
        ):
            raise ValueError(
                f"sensor output size must be even, at least 4x4 and at most "
                f"{spec.width}x{spec.height}, got {size!r}"
            )
        self.spec = spec
        self.width, self.height = int(w), int(h)
        # Pixel pitch of the output: the largest that fits the sensor in both directions, so
        # a different aspect ratio crops the other direction (16:9 keeps the full width).
        self.pixel_um = spec.pixel_um * min(spec.width / self.width, spec.height / self.height)
        self.area = (self.pixel_um / spec.pixel_um) ** 2  # native pixels per output pixel
        self.full_well_e = spec.full_well_e * self.area
        self._rng = np.random.default_rng(seed)
        self._bank: tuple[np.ndarray, float, float] | None = None
        self._frames: FrameRing | None = None

    @property
    def width_mm(self) -> float:
        """Width of the read-out area in mm."""
        return self.width * self.pixel_um / 1000.0

    @property
    def height_mm(self) -> float:
        return self.height * self.pixel_um / 1000.0

    #: Host frame buffers kept per sensor (:meth:`frame_buffer`).
    FRAME_BUFFERS = 6

    def frame_buffer(self) -> np.ndarray:
        """A free (H, W) uint16 output frame from this sensor's ring of host buffers, for
        ``expose(out=...)``: rewritten only once nothing holds it or a view of it (see
        :class:`~viewfinder.sources.sensor_exposure.FrameRing`; the caller serialises this
        with the exposure that writes it)."""
        ring = self._frames
        if ring is None:
            ring = FrameRing((self.height, self.width), np.uint16, self.FRAME_BUFFERS)
            self._frames = ring
        return ring.take()

    def release_frames(self) -> None:
        """Drop the kept frame buffers (frames still held stay valid)."""
        self._frames = None

    def check_exposure(self, time_s: float, iso: float) -> tuple[float, float]:
        """Validated (time_s, iso); ``ValueError`` gives the range."""
        lo, hi = self.spec.exposure_range_s
        t = check_range("exposure time (s)", time_s, lo, hi)
        iso_v = check_range("ISO", iso, *self.spec.iso_range)
        return t, iso_v

    def noise_params(self, iso: float) -> NoiseParams:
        """Photon-transfer parameters of an output pixel at ``iso``."""
        s = self.spec
        iso = check_range("ISO", iso, *s.iso_range)
        gain = (s.white_level - s.black_level) / self.full_well_e * iso / s.base_iso
        read_e = s.read_noise_pre_e * math.sqrt(self.area)
        post = s.read_noise_post_dn
        read_dn = math.sqrt((gain * read_e) ** 2 + post * post)
        return NoiseParams(
            gain_dn_per_e=gain,
            read_noise_dn=read_dn,
            read_noise_e=read_dn / gain,
            full_well_e=self.full_well_e,
            black_level=float(s.black_level),
            white_level=float(s.white_level),
        )

    def electrons_per_lux_s(self) -> np.ndarray:
        """Photo-electrons per output pixel per lux second at the R, G and B sites, (3,)."""
        area_m2 = (self.pixel_um * 1e-6) ** 2
        return PHOTONS_PER_LUX_S_M2 * area_m2 * np.asarray(self.spec.qe_rgb)

    #: int8 codes of the bank per standard deviation (tails clip at 127 / 24 = 5.3 sigma).
    BANK_CODES_PER_SIGMA = 24.0

    def _noise_bank(self, pixels: int) -> tuple[np.ndarray, float, float]:
        """Normal bank for windows of up to ``pixels`` pixels (grown on demand).

        Stored as int8 codes (a quarter of the memory traffic of float32, which is what a
        frame's noise costs); ``z = code * scale + offset`` has exactly zero mean and unit
        variance over the bank. Returns (codes, scale, offset).
        """
        n = pixels + self.BANK_SLACK
        if self._bank is None or self._bank[0].size < n:
            codes, mean, std = _draw_codes(self._rng, n, self.BANK_CODES_PER_SIGMA)
            self._bank = (codes, float(1.0 / std), float(-mean / std))
        return self._bank

    def noise_deviates(self, offset: int, count: int) -> np.ndarray:
        """The ``count`` standard normal deviates at ``offset`` of the bank, float32."""
        if self._bank is None or self._bank[0].size < offset + count:
            self._noise_bank(offset + count)
        codes, scale, shift = self._bank
        z = codes[offset : offset + count].astype(np.float32)
        return z * np.float32(scale) + np.float32(shift)

    def expose(
        self,
        rate_e_s: np.ndarray,
        time_s: float,
        iso: float,
        offset: tuple[int, int] = (0, 0),
        noise: bool = True,
        out: np.ndarray | None = None,
        noise_offsets: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Raw frame (H, W) uint16 DN from a mosaic of mean photo-electron rates.

        Parameters
        ----------
        rate_e_s : (H', W') float32
            Mean photo-electrons per second of each output pixel, already mosaiced to the
            CFA, at least (H + offset_y, W + offset_x).
        time_s, iso : float
            Exposure time (s) and ISO.
        offset : (int, int)
            Top-left corner of the read window in ``rate_e_s`` (even, to keep the CFA).
        noise : bool
            ``False`` gives the noise-free rounded mean (for tests and references).
        out : (h, w) uint16, optional
            Written in place and returned; its shape sets the read window (default the
            output size H x W).
        noise_offsets : (int, int), optional
            Offsets of the shot and read noise in the bank (default: drawn per frame).
        """
        t, iso_v = self.check_exposure(time_s, iso)
        oy, ox = (int(v) for v in offset)
        if rate_e_s.dtype != np.float32 or rate_e_s.ndim != 2:
            raise ValueError(f"rate map must be 2-D float32, got {rate_e_s.dtype} {rate_e_s.shape}")
        h, w = out.shape if out is not None else (self.height, self.width)
        if out is not None and (out.dtype != np.uint16 or h * w > self.height * self.width):
            raise ValueError(
                f"out must be uint16 and no larger than the output size, got "
                f"{out.dtype} {out.shape}"
            )
        if (
            oy < 0
            or ox < 0
            or oy % 2
            or ox % 2
            or rate_e_s.shape[0] < oy + h
            or rate_e_s.shape[1] < ox + w
        ):
            raise ValueError(
                f"read window {w}x{h} at offset {offset} "
                f"does not fit the rate map {rate_e_s.shape} on even offsets"
            )
        if out is None:
            out = np.empty((h, w), np.uint16)
        p = self.noise_params(iso_v)
        if not noise:
            kernel = _expose_mean_ser if h * w < SERIAL_BELOW else _expose_mean_par
            kernel(
                rate_e_s,
                oy,
                ox,
                np.float32(t),
                np.float32(p.gain_dn_per_e),
                np.float32(p.full_well_e),
                np.float32(p.black_level),
                np.float32(p.white_level),
                out,
            )
            return out
        bank, zs, zc = self._noise_bank(h * w)
        if noise_offsets is None:
            o1, o2 = self._rng.integers(0, self.BANK_SLACK, size=2)
            if o1 == o2:  # the two noises must not read the same deviates
                o2 = (o1 + self.BANK_SLACK // 2) % self.BANK_SLACK
        else:
            o1, o2 = noise_offsets
            if not (0 <= o1 < self.BANK_SLACK and 0 <= o2 < self.BANK_SLACK and o1 != o2):
                raise ValueError(
                    f"noise offsets must be distinct in [0, {self.BANK_SLACK}), got {noise_offsets}"
                )
        kernel = _expose_ser if h * w < SERIAL_BELOW else _expose_par
        kernel(
            rate_e_s,
            oy,
            ox,
            np.float32(t),
            np.float32(p.gain_dn_per_e),
            np.float32(p.full_well_e),
            np.float32(p.read_noise_dn),
            np.float32(p.black_level),
            np.float32(p.white_level),
            bank,
            np.float32(zs),
            np.float32(zc),
            int(o1),
            int(o2),
            out,
        )
        return out


#: Elements per chunk of :func:`_draw_codes` (its float32 and index buffers stay in the cache).
_CODE_CHUNK = 1 << 16


def _draw_codes(
    rng: np.random.Generator, n: int, per_sigma: float
) -> tuple[np.ndarray, float, float]:
    """``n`` int8 codes ``clip(rint(per_sigma * z), -127, 127)`` of float32 normals ``z`` drawn
    from ``rng``, with their mean and standard deviation (float64).

    Bit for bit what ``rng.standard_normal(n, dtype=np.float32)`` scaled, rounded and clipped,
    then ``codes.mean(dtype=np.float64)`` and ``codes.std(dtype=np.float64)`` give (test), in
    chunks: the Generator's stream does not depend on how a draw is split (its buffered 32-bit
    half included), and the 200 MB of float32 and 400 MB of float64 temporaries of the whole
    arrays (slow, freshly faulted memory) are never made. The mean is exact (an integer sum);
    the sum of squared deviations follows NumPy's pairwise summation tree over the whole array
    (:func:`_pairwise_sum_sq`), the float64 squares looked up in a 256-entry table.
    """
    codes = np.empty(n, np.int8)
    buf = np.empty(min(n, _CODE_CHUNK), np.float32)
    scale = np.float32(per_sigma)
    total = 0
    for lo in range(0, n, _CODE_CHUNK):
        b = buf[: min(_CODE_CHUNK, n - lo)]
        rng.standard_normal(b.size, dtype=np.float32, out=b)
        np.multiply(b, scale, out=b)
        np.rint(b, out=b)
        np.clip(b, -127, 127, out=b)
        c = codes[lo : lo + b.size]
        np.copyto(c, b, casting="unsafe")
        total += int(np.add.reduce(c, dtype=np.int64))
    mean = float(total) / n  # what codes.mean(dtype=np.float64) gives: the sum is exact
    # (code - mean)**2 in float64, indexed by the code's byte (uint8 view).
    table = np.square(np.arange(256, dtype=np.uint8).view(np.int8).astype(np.float64) - mean)
    ss = _pairwise_sum_sq(codes.view(np.uint8), table)
    return codes, mean, math.sqrt(ss / n)


def _pairwise_sum_sq(u: np.ndarray, table: np.ndarray) -> float:
    """``np.add.reduce(table[u])`` without ``table[u]``: NumPy sums a contiguous float64
    array pairwise over the whole of it (halves rounded down to a multiple of 8 above 128
    elements), so the subtrees up to ``_CODE_CHUNK`` elements are summed by NumPy on a
    cache-sized lookup and joined here in the same order."""
    idx = np.empty(min(u.size, _CODE_CHUNK), np.intp)
    vals = np.empty(idx.size, np.float64)

    def tree(lo: int, m: int) -> float:
        if m <= _CODE_CHUNK:
            i, v = idx[:m], vals[:m]
            np.copyto(i, u[lo : lo + m])
            np.take(table, i, out=v)
            return float(np.add.reduce(v))
        h = m // 2
        h -= h % 8
        return tree(lo, h) + tree(lo + h, m - h)

    return tree(0, u.size)
