"""Demosaic benchmark: quality (CPSNR) and speed of bilinear, mhc and hq, with peers.

Quality: 8-bit sRGB photos mosaicked to RGGB and treated as linear 0..255 data, CPSNR with a
10 px border left out and the output clipped to 0..255, mean per set: McMaster18 (when
../shared/data/mcmaster18 exists) and scikit-image's bundled photos. Peers in the same run:
colour-demosaicing (bilinear, Malvar2004, Menon2007) and OpenCV (bilinear, VNG, EA).

Speed: the NumPy reference on this machine at 1920x1080 and 4096x3072 (uint16 10-bit mosaic
tiled from a photo), with OpenCV's cvtColor Bayer conversions as peers; on a CUDA device also
the CuPy path (CUDA events, buffers preallocated) up to 8192x6144.

    python -m bench.bench_demosaic [--quick] [--no-quality] [--no-speed]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from viewfinder.backend import cupy_module
from viewfinder.bench.harness import gpu_measure, measure, write_results
from viewfinder.frame import mosaic
from viewfinder.stages.demosaic import METHODS, cpsnr, demosaic, hq_scratch_shape

MCMASTER = Path(__file__).resolve().parents[3] / "shared" / "data" / "mcmaster18"
CPU_SIZES = [(1920, 1080), (4096, 3072)]
GPU_SIZES = [(1920, 1080), (4096, 3072), (8192, 6144)]


def image_sets() -> dict[str, dict[str, np.ndarray]]:
    from skimage import data

    sets: dict[str, dict[str, np.ndarray]] = {}
    if MCMASTER.is_dir():
        import tifffile

        sets["mcmaster18"] = {
            p.stem: tifffile.imread(p)[..., :3] for p in sorted(MCMASTER.glob("*.tif*"))
        }
    photos = {}
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        img = getattr(data, name)()[..., :3]
        photos[name] = np.ascontiguousarray(img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2])
    sets["skimage"] = photos
    return sets


def methods() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """name -> function of an RGGB mosaic (H, W) float64 0..255 returning (H, W, 3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour_demosaicing as cd

    def ocv(code: int) -> Callable[[np.ndarray], np.ndarray]:
        # OpenCV's BayerRGGB names the RGGB layout (see DESIGN.md); VNG takes 8-bit only.
        return lambda m: cv2.cvtColor(np.clip(m, 0, 255).astype(np.uint8), code)

    table: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        f"viewfinder {k}": partial(demosaic, cfa="RGGB", method=k) for k in METHODS
    }
    table.update(
        {
            "colour-demosaicing bilinear": lambda m: cd.demosaicing_CFA_Bayer_bilinear(m, "RGGB"),
            "colour-demosaicing Malvar2004": lambda m: cd.demosaicing_CFA_Bayer_Malvar2004(
                m, "RGGB"
            ),
            "colour-demosaicing Menon2007": lambda m: cd.demosaicing_CFA_Bayer_Menon2007(m, "RGGB"),
            "OpenCV bilinear": ocv(cv2.COLOR_BayerRGGB2RGB),
            "OpenCV VNG": ocv(cv2.COLOR_BayerRGGB2RGB_VNG),
            "OpenCV EA": ocv(cv2.COLOR_BayerRGGB2RGB_EA),
        }
    )
    return table


def quality() -> dict[str, dict[str, float]]:
    table = methods()
    result: dict[str, dict[str, float]] = {}
    for set_name, images in image_sets().items():
        scores = {name: [] for name in table}
        for img in images.values():
            raw = mosaic(img).astype(np.float64)
            for name, fn in table.items():
                scores[name].append(cpsnr(img, fn(raw)))
        result[set_name] = {name: round(float(np.mean(v)), 3) for name, v in scores.items()}
    return result


def tiled_raw(width: int, height: int) -> np.ndarray:
    """A 10-bit RGGB mosaic tiled from a photo (mirrored tiles): (H, W) uint16."""
    from skimage import data

    img = data.astronaut()[..., :3].astype(np.uint16) * 4
    tile = np.concatenate([img, img[:, ::-1]], axis=1)
    tile = np.concatenate([tile, tile[::-1]], axis=0)
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    return mosaic(np.tile(tile, reps)[:height, :width])


def speed_cpu(quick: bool) -> list[dict]:
    rows = []
    for w, h in CPU_SIZES:
        raw = tiled_raw(w, h)
        out = np.empty((h, w, 3), np.float32)
        big = w * h > 4e6
        for method in METHODS:
            repeat = 3 if (big and method == "hq") or quick else 10
            stats = measure(partial(demosaic, raw, "RGGB", method, out=out), repeat, 1)
            rows.append({"size": [w, h], "impl": f"viewfinder {method} (NumPy)", **stats})
        for name, code in (
            ("OpenCV bilinear (u16)", cv2.COLOR_BayerRGGB2RGB),
            ("OpenCV EA (u16)", cv2.COLOR_BayerRGGB2RGB_EA),
        ):
            stats = measure(partial(cv2.cvtColor, raw, code), 3 if quick else 10, 1)
            rows.append({"size": [w, h], "impl": name, **stats})
        raw8 = (raw >> 2).astype(np.uint8)
        stats = measure(partial(cv2.cvtColor, raw8, cv2.COLOR_BayerRGGB2RGB_VNG), 3, 1)
        rows.append({"size": [w, h], "impl": "OpenCV VNG (u8)", **stats})
        for row in rows[-len(METHODS) - 3 :]:
            print(f"  {w}x{h} {row['impl']:32s} {row['median_ms']:9.1f} ms", flush=True)
    return rows


def speed_gpu(quick: bool) -> list[dict]:
    cp = cupy_module()
    if cp is None:
        return []
    rows = []
    for w, h in GPU_SIZES:
        raw = cp.asarray(tiled_raw(w, h))
        out = cp.empty((h, w, 3), cp.float32)
        scratch = cp.empty(hq_scratch_shape((h, w)), cp.float32)
        for method in METHODS:
            stats = gpu_measure(
                partial(demosaic, raw, "RGGB", method, out=out, scratch=scratch),
                repeat=20 if quick else 100,
                warmup=5,
            )
            stats["gpixel_per_s"] = w * h / (stats["median_ms"] * 1e-3) / 1e9
            rows.append({"size": [w, h], "impl": f"viewfinder {method} (CuPy)", **stats})
            print(f"  {w}x{h} {rows[-1]['impl']:32s} {stats['median_ms']:9.3f} ms", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args(argv)
    # The 2-core CI-class machine is shared: record its load beside the figures.
    payload: dict = {"load_average_start": list(os.getloadavg())}
    if not args.no_quality:
        payload["cpsnr_db"] = quality()
        for set_name, scores in payload["cpsnr_db"].items():
            print(set_name)
            for name, value in scores.items():
                print(f"  {name:32s} {value:7.3f} dB")
    if not args.no_speed:
        payload["cpu"] = speed_cpu(args.quick)
        payload["gpu"] = speed_gpu(args.quick)
    payload["load_average_end"] = list(os.getloadavg())
    print(write_results("demosaic", payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
