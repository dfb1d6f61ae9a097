"""Capture benchmark: DNG write throughput at 4096x3072 (10-bit), and the burst writer.

Times ``write_dng`` (tifffile + EXIF IFD + temp file, fsync, rename) against peers in the same
process on the same disk: the bare bytes written with ``ndarray.tofile`` + fsync (what the disk
allows), and ``tifffile.imwrite`` without fsync (what the page cache allows). Then a burst of
frames through :class:`viewfinder.capture_writer.BurstWriter`, and the processed formats.
Writes <results>/<date>-<device>-capture.json.

    python -m bench.bench_capture [--quick] [--dir DIR] [--burst N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from viewfinder import Frame
from viewfinder.bench.harness import measure, write_results
from viewfinder.capture import write_dng
from viewfinder.capture_writer import BurstWriter, write_frame

W, H = 4096, 3072
META = {
    "white_balance": (2.0, 1.0, 1.6),
    "exposure_time": 1 / 120,
    "iso": 200,
    "aperture": 1.9,
    "focal_length": 8.7,
    "lens": "built-in",
    "sensor": "IMX989",
}


def frame(seed: int = 0, seq: int = 0) -> Frame:
    data = np.random.default_rng(seed).integers(64, 1024, (H, W), dtype=np.uint16)
    return Frame(data, cfa="RGGB", bits=10, black_level=64, seq=seq, meta=dict(META))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--dir", default=None, help="folder to write in (default: a temp folder)")
    ap.add_argument("--burst", type=int, default=100, help="frames in the burst test")
    args = ap.parse_args(argv)
    repeat = 5 if args.quick else 15
    out = Path(tempfile.mkdtemp(prefix="vf-bench-capture-", dir=args.dir))
    f = frame()
    mb = f.data.nbytes / 1e6
    results: dict[str, dict] = {}
    try:
        # New files each time (a burst never overwrites), DNG and the peers interleaved so
        # that all see the same disk: its speed on a shared VM changes by 4x from minute to
        # minute, and a sequential comparison would measure that instead.
        import tifffile

        samples: dict[str, list[float]] = {
            "write_dng": [],
            "tofile_fsync": [],
            "tifffile_no_fsync": [],
        }

        def bare(p: Path) -> None:
            with open(p, "wb") as fh:
                f.data.tofile(fh)
                fh.flush()
                os.fsync(fh.fileno())

        steps = (
            ("write_dng", lambda p: write_dng(f, p)),
            ("tofile_fsync", bare),
            ("tifffile_no_fsync", lambda p: tifffile.imwrite(p, f.data, photometric="minisblack")),
        )
        for i in range(repeat + 2):
            for name, fn in steps:
                p = out / f"{name}-{i}.bin"
                t0 = time.perf_counter()
                fn(p)
                if i >= 2:  # two warm-up rounds
                    samples[name].append((time.perf_counter() - t0) * 1e3)
                # files are kept, as a burst keeps them: the disk's cache fills up
        for name, ms in samples.items():
            r = {
                "median_ms": float(np.median(ms)),
                "p10_ms": float(np.percentile(ms, 10)),
                "p90_ms": float(np.percentile(ms, 90)),
                "min_ms": float(np.min(ms)),
                "n": len(ms),
            }
            r["mb_per_s"] = mb / (r["median_ms"] / 1e3)
            results[name] = r
            print(
                f"{name:20s} median {r['median_ms']:7.1f} ms  (p10 {r['p10_ms']:.1f}, "
                f"p90 {r['p90_ms']:.1f})  {r['mb_per_s']:6.0f} MB/s",
                flush=True,
            )

        for p in out.glob("*.bin"):
            p.unlink()

        # Burst through the writer thread, and the peer (bare bytes + fsync, one thread),
        # alternating in chunks of 10 frames so that both see the same disk.
        frames = [frame(seed=i % 4, seq=i) for i in range(4)]
        burst_dir, raw_dir = out / "burst", out / "raw"
        raw_dir.mkdir()
        t_burst = t_raw = 0.0
        stalls, stall_s, written = 0, 0.0, 0
        for start in range(0, args.burst, 10):
            chunk = range(start, min(start + 10, args.burst))
            t0 = time.perf_counter()
            with BurstWriter(burst_dir, "dng", queue_size=8) as w:
                for i in chunk:
                    src = frames[i % 4]
                    w.put(Frame(src.data, cfa="RGGB", bits=10, black_level=64, seq=i, meta=META))
            t_burst += time.perf_counter() - t0
            assert len(w.written) == len(chunk) and not w.errors and w.rejected == 0
            stalls, stall_s, written = stalls + w.stalls, stall_s + w.stall_s, written + len(chunk)
            t0 = time.perf_counter()
            for i in chunk:
                with open(raw_dir / f"{i}.bin", "wb") as fh:
                    frames[i % 4].data.tofile(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
            t_raw += time.perf_counter() - t0
        assert len(list(burst_dir.glob("*.dng"))) == args.burst
        n = args.burst
        results["burst_dng"] = {
            "frames": n,
            "seconds": t_burst,
            "fps": n / t_burst,
            "mb_per_s": n * mb / t_burst,
            "stalls": stalls,
            "stall_s": stall_s,
        }
        results["burst_tofile_fsync"] = {
            "frames": n,
            "seconds": t_raw,
            "fps": n / t_raw,
            "mb_per_s": n * mb / t_raw,
        }
        print(
            f"burst of {n} DNGs (writer thread): {t_burst:.1f} s, {n / t_burst:.1f} frames/s, "
            f"{n * mb / t_burst:.0f} MB/s, put waited {stalls} times",
            flush=True,
        )
        print(
            f"peer, {n} bare files + fsync:      {t_raw:.1f} s, {n / t_raw:.1f} frames/s, "
            f"{n * mb / t_raw:.0f} MB/s",
            flush=True,
        )
        shutil.rmtree(burst_dir)
        shutil.rmtree(raw_dir)

        # Processed captures (render + encode + atomic write), full size. PNG and JPEG go
        # through the live pipeline, PNG16 through capture.develop.
        for fmt in ("png", "png16", "jpeg"):
            try:
                r = measure(
                    lambda fmt=fmt: write_frame(f, out / f"p.{fmt}", fmt),
                    repeat=max(3, repeat // 3),
                    warmup=1,
                )
            except Exception as exc:  # a broken renderer is reported, the rest still runs
                results[f"write_{fmt}"] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"write_{fmt}: failed: {exc}", flush=True)
                continue
            results[f"write_{fmt}"] = r
            print(f"write_{fmt:14s} median {r['median_ms']:7.1f} ms", flush=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    payload = {
        "size": [W, H],
        "bits": 10,
        "frame_mb": mb,
        "folder_fs": _fs(out.parent),
        "results": results,
    }
    path = write_results("capture", payload)
    print(f"wrote {path}")
    return 0


def _fs(path: Path) -> str:
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fs, *_ = line.split()
            if mnt == "/" or str(path).startswith(mnt.rstrip("/") + "/"):
                best = (dev, mnt, fs)
        return " ".join(best)
    except (OSError, UnboundLocalError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
