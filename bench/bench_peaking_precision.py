"""Focus-peaking precision on the simulated motorcycle: do the marks sit where the lens is sharp?

The scene is a real depth photograph (``SimulatedCamera(size, scene="motorcycle")``, Summilux-M
35 at f/1.4, no motion, NumPy backend), whose ``truth()["coc_px"]`` is the thin-lens blur-circle
diameter of every pixel. For each focus (2.25, 2.5 m) and ISO (100, 1600; shutter 1/160 s at
ISO 100, scaled to keep the exposure) the project's own ``peaking(frame) > 0`` is scored
against it:

- ``p_sharp1_r0`` / ``_r2`` / ``_r4``: share of the marks within 0 / 2 / 4 px (Chebyshev: a
  (2r+1) square) of a pixel whose blur circle is under 1 px; ``p_sharp2_r4``: within 4 px of
  one under 2 px (the precision);
- ``coverage1_r4``: share of the under-1-px pixels with a mark within 4 px (the recall);
- ``marked``: fraction of the pixels marked; ``median_coc_marked``: median blur circle (px)
  under the marks;
- ``chance1_r4``: share of all pixels within 4 px of blur under 1 px (what marks thrown at
  random would score on ``p_sharp1_r4``).

And an oracle bound, ``oracle``: the same metrics for the current marks kept only where at
least ``RETENTION`` (90 %) of the fine band survives the lens. The retention needs what no
detector has: the same frame rendered with no lens blur (``scene_depth._signed_coc``
monkeypatched to zeros: same scene grain, same sensor noise seed), both frames stabilised by
the package's own noise model and LUT (``noise_model_for``, ``stabilise_lut``), then
:func:`fine_band` of each, noise floor removed, blurred over sharp. Even this oracle only
filters the current marks (it adds none), so its precision is the ceiling of any "keep the
current marks that are really sharp" refinement using this band.

    python -m bench.bench_peaking_precision [--size 960x720]

Writes ``<date>-<device>-peaking-precision.json`` into bench/results (or
``$VIEWFINDER_BENCH_RESULTS``). About 5 s at 960x720 on 2 cores (8 renders, 8 peaking passes).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import cv2
import numpy as np

from viewfinder.bench.harness import parse_sizes, write_results
from viewfinder.frame import Frame, cfa_masks
from viewfinder.sources import scene_depth
from viewfinder.sources.simulated import SimulatedCamera
from viewfinder.stages.peaking import noise_model_for, peaking, stabilise_lut

FOCUS_M = (2.25, 2.5)
ISOS = (100, 1600)
F_NUMBER = 1.4
LENS = "summilux-35"
#: the oracle keeps a mark where at least this share of the fine band survives the lens
RETENTION = 0.9
#: half-width (px) of the square window :func:`fine_band` averages over (5x5)
FINE_RADIUS = 2
#: mean |fine residual| of unit white noise: the residual ``t - mean(4 diagonal greens)`` has
#: variance 1 + 4/16, and E|N(0, s^2)| = s sqrt(2/pi)
FINE_NOISE_FLOOR = math.sqrt(1.25 * 2.0 / math.pi)
#: blur-circle bins (px) of the retention medians under the marks
COC_BINS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 99.0)


def fine_band(t: np.ndarray, cfa: str, radius: int = FINE_RADIUS) -> np.ndarray:
    """Fine-band energy of a stabilised mosaic ``t`` (unit noise per site), (H, W) float32.

    A measurement, not a detector: at every green site, ``|g - mean of its 4 diagonal green
    neighbours|`` (distance sqrt 2, the finest detail the green lattice holds, which the
    peaking's binomial luma averages away), then the mean of those over the green sites of a
    (2 radius + 1)^2 window. On unit white noise it reads :data:`FINE_NOISE_FLOOR`.
    """
    t = np.asarray(t, dtype=np.float32)
    h, w = t.shape
    p = np.pad(t, 1, mode="reflect")

    def at(dy: int, dx: int) -> np.ndarray:
        return p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    resid = np.abs(t - 0.25 * (at(1, 1) + at(1, -1) + at(-1, 1) + at(-1, -1)))
    green = cfa_masks((h, w), cfa)[1].astype(np.float32)
    k = (2 * radius + 1,) * 2
    num = cv2.blur(resid * green, k, borderType=cv2.BORDER_REFLECT_101)
    return num / cv2.blur(green, k, borderType=cv2.BORDER_REFLECT_101)


def stabilised(frame: Frame) -> np.ndarray:
    """The frame's mosaic through the package's variance-stabilising LUT (its noise model)."""
    lut = stabilise_lut(frame.bits, frame.black_level, noise_model_for(frame))
    return lut[np.minimum(np.asarray(frame.data), lut.size - 1)]


def render(size: tuple[int, int], focus: float, iso: int, sharp: bool) -> tuple[Frame, Any]:
    """First frame of a fresh camera (seed 0: the same noise draw every time) and its blur
    circles; ``sharp``: the lens blur removed (every blur circle 0), all else the same."""
    orig = scene_depth._signed_coc
    if sharp:
        scene_depth._signed_coc = lambda depth, lens, px: np.zeros_like(orig(depth, lens, px))
    try:
        cam = SimulatedCamera(size, scene="motorcycle", motion=False, backend="numpy", seed=0)
        cam.set_mode("m")
        cam.attach_lens(LENS)
        cam.set_aperture(F_NUMBER)
        cam.set_focus(focus)
        cam.set_exposure(1 / 160 * 100 / iso, iso)
        frame = cam.read()
        coc = np.abs(np.asarray(cam.truth()["coc_px"], dtype=np.float32))
        cam.close()
    finally:
        scene_depth._signed_coc = orig
    return frame, coc


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Pixels within ``r`` px (Chebyshev) of ``mask``."""
    if r == 0:
        return mask
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * r + 1,) * 2, np.uint8)) > 0


def metrics(marked: np.ndarray, coc: np.ndarray) -> dict[str, float | None]:
    """Precision, coverage and spread of a mark mask against the blur circles (module doc)."""
    sharp1, sharp2 = coc < 1.0, coc < 2.0
    any_mark = bool(marked.any())

    def share(zone: np.ndarray) -> float | None:
        return float(zone[marked].mean()) if any_mark else None

    return {
        "p_sharp1_r0": share(sharp1),
        "p_sharp1_r2": share(dilate(sharp1, 2)),
        "p_sharp1_r4": share(dilate(sharp1, 4)),
        "p_sharp2_r4": share(dilate(sharp2, 4)),
        "coverage1_r4": float(dilate(marked, 4)[sharp1].mean()) if sharp1.any() else None,
        "marked": float(marked.mean()),
        "median_coc_marked": float(np.median(coc[marked])) if any_mark else None,
        "n_marked": int(marked.sum()),
    }


def case(size: tuple[int, int], focus: float, iso: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    frame, coc = render(size, focus, iso, sharp=False)
    sharp_frame, _ = render(size, focus, iso, sharp=True)
    t_render = time.perf_counter() - t0
    t1 = time.perf_counter()
    marked = np.asarray(peaking(frame)) > 0
    t_peak = time.perf_counter() - t1
    fine_blur = fine_band(stabilised(frame), frame.cfa)
    fine_sharp = fine_band(stabilised(sharp_frame), sharp_frame.cfa)
    retention = np.maximum(fine_blur - FINE_NOISE_FLOOR, 0) / np.maximum(
        fine_sharp - FINE_NOISE_FLOOR, 1e-3
    )
    oracle = marked & (retention >= RETENTION)
    bins = []
    for lo, hi in zip(COC_BINS[:-1], COC_BINS[1:], strict=True):
        sel = marked & (coc >= lo) & (coc < hi)
        n = int(sel.sum())
        bins.append(
            {
                "coc_px": [lo, hi],
                "n_marked": n,
                "median_retention": float(np.median(retention[sel])) if n > 50 else None,
            }
        )
    return {
        "focus_m": focus,
        "iso": iso,
        "noise_model": vars(noise_model_for(frame)),
        "current": metrics(marked, coc),
        "chance1_r4": float(dilate(coc < 1.0, 4).mean()),
        "area_coc_lt1": float((coc < 1.0).mean()),
        "oracle": metrics(oracle, coc),
        "oracle_retention_by_coc": bins,
        "sharp_render_marked": float((np.asarray(peaking(sharp_frame)) > 0).mean()),
        "render_s": t_render,
        "peaking_s": t_peak,
    }


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="960x720", help="WxH of the sensor (default 960x720)")
    args = parser.parse_args(argv)
    (size,) = parse_sizes(args.size)
    start = time.perf_counter()
    payload: dict[str, Any] = {
        "size": list(size),
        "scene": "motorcycle",
        "lens": LENS,
        "f_number": F_NUMBER,
        "retention_threshold": RETENTION,
        "fine_radius": FINE_RADIUS,
        "fine_noise_floor": FINE_NOISE_FLOOR,
        "load_average_before": list(os.getloadavg()),
        "cases": [],
    }
    print(
        "focus   iso | p1r0  p1r2  p1r4  p2r4  cov1  marked medcoc | chance | oracle p1r4 "
        "p2r4  cov1  marked"
    )
    for focus in FOCUS_M:
        for iso in ISOS:
            r = case(size, focus, iso)
            payload["cases"].append(r)
            c, o = r["current"], r["oracle"]
            print(
                f"{focus:5.2f} {iso:5d} | "
                + " ".join(
                    _fmt(c[k]) for k in ("p_sharp1_r0", "p_sharp1_r2", "p_sharp1_r4", "p_sharp2_r4")
                )
                + f" {_fmt(c['coverage1_r4'])} {_fmt(c['marked'], '.4f')} "
                f"{_fmt(c['median_coc_marked'], '5.2f')} | {r['chance1_r4']:.3f}  | "
                f"{_fmt(o['p_sharp1_r4'])} {_fmt(o['p_sharp2_r4'])} "
                f"{_fmt(o['coverage1_r4'])} {_fmt(o['marked'], '.4f')}",
                flush=True,
            )
    payload["load_average_after"] = list(os.getloadavg())
    payload["wall_s"] = time.perf_counter() - start
    path = write_results("peaking-precision", payload)
    print(f"{payload['wall_s']:.0f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    from bench._wrap import run

    sys.exit(run(main))
