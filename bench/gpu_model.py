"""GPU performance model of one steady-state frame, without a GPU (issue 13).

``python -m bench.gpu_model [--size WxH] [--view WxH] [--method mhc|bilinear|hq]
[--assists default|all|none] [--magnifier] [--schedule auto|tiled|per-stage] [--out FILE.json]``
prints a table and writes JSON, one row per kernel launched in the frame (``--schedule
per-stage``: the kernels the tiled pass replaced, as the pipeline still runs them on request).

How it works
------------
1. **Launches.** ``Pipeline(settings, backend="cudasim")`` processes three frames of a device
   frame with ``cudasim``'s ``config.execute = False``: every launch is checked and recorded
   (kernel, grid, block, per argument (is pointer, type, bytes), scalar values), nothing runs.
   The last frame is modelled. Which module (``.cu``) and ``#define``s a kernel came from is
   recorded by wrapping ``viewfinder.kernels._function``. The magnifier is off unless
   ``--magnifier``. Where a kernel's grid depends on the device (the persistent blocks of
   ``vf_tile_pass``), its entry recomputes the grid for the H200 (``Spec.grid``).
2. **Signatures** (parameter names, pointer, ``const``) come from the preprocessed module
   (g++ ``-E``, the regex of ``viewfinder/cudasim/simt/build.py``): the launch's scalars get
   their names, and the default traffic rule gets each pointer's constness.
3. **DRAM bytes** per launch from :data:`KERNELS`: each kernel's access pattern in bytes per
   site/pixel as a function of the launch (documented per entry). A kernel without an entry
   (a new one) gets :func:`default_traffic`: every ``const`` pointer argument's buffer read
   once, every other pointer argument's buffer written once.
4. **SASS.** Each module is compiled to an sm_90 cubin as the GPU path compiles it (NVRTC,
   the loader's options + CuPy's ``-ftz=true``; ``nvcc -cubin`` when NVRTC is missing), with
   ``-lineinfo`` (the SASS is the same) and ``ptxas -v`` (registers, shared memory), and
   disassembled with ``nvdisasm -c -gi`` (every instruction with its inlined source chain).
   Cached per source hash in ``~/.cache/viewfinder/gpu_model``.
5. **Instructions per thread** (dynamic, what a warp issues), :func:`dynamic_count`:

   - the control-flow graph of the SASS; blocks reachable from the entry count, where a
     conditional branch whose predicate compares a *kernel parameter* with a constant is
     resolved with the launch's value (``method``, ``do_peak``, a NULL output pointer...:
     the uniform branches), and every other branch is taken both ways: a warp whose lanes
     diverge issues both sides, which is exact for the CFA-colour branches of MHC and an
     upper bound for data-dependent early outs (rare slow paths of ``powf``, a level already
     3). Subroutines reached by ``CALL`` (the slow paths of division) count zero; ``BRA.DIV``
     (to the out-of-line copy of a ``*_sync`` intrinsic for a diverged warp) is not taken:
     the kernels call those intrinsics converged;
   - loops are the backward branches; an instruction counts once per iteration of every loop
     around it. Trip counts come from the kernel's entry, keyed by the text of the loop's
     ``for`` line (the source line of the backward branch), one value per SASS loop of that
     line (nvcc splits ``for (k = tid; k < n; k += nthreads)`` into a remainder loop and a
     4x unrolled loop: :func:`unrolled`). A loop with no trip count counts once (flagged:
     a lower bound);
   - weights per source line (substring of any line of the inlined chain) model the
     data-dependent skips the launch determines (the area taps of weight 0 that
     ``vf_preview_raw`` skips, counted per warp). A weight ``(w, loop key)`` applies only
     outside the SASS loops of that key: an iteration nvcc peeled out of a loop has the
     loop body's source lines;
   - each loop's row in the JSON says the instructions per thread whose innermost loop it is
     (``insts_per_thread``): where the count goes.

   So ``instructions per thread = sum over reachable instructions of (product of the trip
   counts of the loops around it) x (its line weights)``.
6. **Resources and occupancy** on an H200: registers per thread and static shared memory per
   block from ``ptxas -v``; resident blocks per SM = min(32, 64 warps / warps per block,
   65536 registers / (warps per block x registers per warp rounded up to 256), 233472 bytes /
   (shared per block + 1024 reserved)); occupancy = resident warps / 64.

Floors (H200: 4.8e12 B/s, 132 SMs x 4 warp instructions per clock x 1.98e9 Hz)::

    dram_floor_s   = (bytes_read + bytes_written) / 4.8e12
    warp_insts     = blocks x ceil(threads_per_block / 32) x instructions_per_thread
    issue_floor_s  = warp_insts / (132 * 4 * 1.98e9)
    kernel_floor_s = max(dram_floor_s, issue_floor_s)
    frame_floor_s  = sum over the frame's kernels of kernel_floor_s  (they run one after another)

Error of the model (read before trusting a figure)
--------------------------------------------------
- Floors, not predictions: no latency, no stalls (the issue floor assumes every scheduler
  issues every clock), no tail effects (persistent blocks: the floor takes the mean tiles a
  block runs, not the longest block's), no launch overhead (~2-4 us a launch).
- DRAM bytes assume perfect reuse of neighbourhood reads in L1/L2 (halos, 3x3 and 5x5
  stencils, footprint overlap) and count small tables (a 4 KB LUT, taps) once. The L2 of an
  H200 (50 MB) is smaller than one 50 MP float plane, so no reuse *between* kernels is
  assumed either. Writes of one channel of an interleaved buffer count the whole buffer
  (every 32-byte sector is touched). Device copies and memsets that are not kernels (the
  pipeline's ``view[...] = image``, the zeroing of scope buffers, the hq path's normalise)
  are listed under ``other_ops`` with their bytes, not in the kernel rows.
- Instruction counts: the static SASS is exact; the dynamic count is exact for straight-line
  code and for loops with the right trip count; divergent-both-ways is exact for branches
  whose sides lanes of a warp really split (the CFA colour), an over-count for rare paths
  (measured on ``vf_preview_raw``: the special cases of ``powf`` in the tone curve, < 1 %);
  the trip counts of the tables are means (a grid-stride loop's last warps run one fewer
  iteration). Expect +-10 % for today's kernels; an unknown kernel's loops count once,
  which can be far too low: its row says so (``loops_without_trip``).

Cross-check by hand (``vf_peak_luma``, sm_90, NVRTC 13.5): the SASS has 152 lines: 9 NOPs
and the self-branch after EXIT are padding, which leaves 142, with no loop and no branch but
the bounds exit. By opcode: 18 LDG (9 raw sites and 9 LUT entries), 15 VIMNMX + 12 ISETP +
2 IABS (the mirrors and the LUT clamp), 22 IMAD + 21 LEA + 5 IADD3 + 4 SHF (addresses), 8 FFMA
+ 4 FMUL (the 3x3 binomial), 4 S2R + 3 LDC + 6 ULDC (ids, parameters), one STG, the rest
moves and exits. One thread per site: 142 instructions a sensor pixel; the model says 142.

``vf_tile_pass`` (kernels/tile.cu v3, the default schedule): persistent blocks loop over the
view tiles, so the launch's grid depends on the device: ``TilePass`` sizes it min(tiles, 4 x
the SM count), and on cudasim the SM count is the host's CPU count. The entry's ``grid``
recomputes it for the H200 (132 SMs): tiles = ceil(vw / tile_v) x ceil(vh / tile_v) from the
launch's ``tile_v`` and view size, grid = min(tiles, 528); the row keeps cudasim's as
``grid_recorded``. Its entry models every loop from the launch and the exact geometry of every
tile (see the comment above :func:`_tile_model`): the tile loop's trip count is tiles / grid
(the mean a block runs; ``tile.tiles_per_block_max`` is the longest block), the loops inside
it are means over (tile, warp) pairs. Cross-check by hand of one loop, the luma loop
``for (int q = tid; q < nlp; q += nth)`` (sm_90, NVRTC 13.5, 8192x6144 -> 2048x1536, tile_v =
10, P = 40 x 40 sites; strip q of the region, four horizontal neighbours, on thread q): its
SASS body is 72 instructions: 18 LDS (the six columns of three stabilised values the strip
shares), 30 FMUL/FFMA (six column taps, four row taps of the binomial), 4 STS, 17 of address
and of the strip's row and column (``(q * lmag) >> 16`` and the last strip's clamp: no
division), 3 of loop control (add, compare, branch). Trips: a warp issues an iteration while
its first lane's q < nlp, so warp w runs ceil((nlp - 32 w) / 256) (``_block_loop``); the luma
region P +- 3 clipped to the frame is 46 x 46 sites in interior tiles, 12 strips a row, nlp
= 552: warps 0-1 run 3 iterations, 2-7 two (2.25); the top row of tiles has 43 rows, the
bottom one (6 view rows) 27, the left column 11 strips a row and the right one (8 view
columns, clipped at the frame) 9: 1.875, 2.125, 1.625, 2.0, 1.625, 1.25, 1.375 and 1.0 for
the other eight kinds; the mean over the 31570 tiles is 2.23925. 59.7917 tiles a block:
59.7917 x 2.23925 x 72 = 9640 instructions per thread; the model's loop row says 9640
(tests/bench/test_gpu_model.py).

Why the review of issue 13 differs (its figures: ~290 instructions per sensor pixel in
``vf_preview_raw``, ~5k per view pixel, ~1.6 GB and ~1.2 ms a frame): the MHC body is 350
SASS instructions per site (NVRTC 13.5 and nvcc 13.0 alike, with or without ``-ftz``), of
which one CFA-colour arm (~25) is skipped at 4:1 (all lanes of a warp read columns of one
parity), plus ~16 of loop overhead for each of the 25 taps, 9 of which have weight 0: ~400 a
site of the footprint, ~6.4k a view pixel, 0.60 ms. The review's 290 leaves out the loop
overhead and part of the site's body; the model counts them (they issue). DRAM: the default
assists (zebra without RAW clip) read 1.36 GB in kernels; 1.6 GB is what a frame moves with
the RAW zebra (+0.10 GB: vf_peak_pool reads the raw), a host frame's upload (+0.10 GB
written) and the view copy (+0.03 GB).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# --- the device -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    name: str = "NVIDIA H200 (modelled)"
    dram_bytes_per_s: float = 4.8e12
    sms: int = 132
    warp_issue_per_clock_per_sm: int = 4
    clock_hz: float = 1.98e9
    regs_per_sm: int = 65536
    smem_per_sm: int = 233472  # 228 KB
    smem_reserved_per_block: int = 1024
    max_warps_per_sm: int = 64
    max_blocks_per_sm: int = 32
    reg_alloc_unit: int = 256  # registers, per warp

    @property
    def warp_issue_per_s(self) -> float:
        return self.sms * self.warp_issue_per_clock_per_sm * self.clock_hz


H200 = Device()
ARCH = "sm_90"
CACHE_DIR = Path(
    os.environ.get("VIEWFINDER_GPU_MODEL_CACHE")
    or Path.home() / ".cache" / "viewfinder" / "gpu_model"
)

# --- launches -------------------------------------------------------------------------------


@dataclass
class Param:
    name: str
    ctype: str
    pointer: bool
    const: bool


@dataclass
class Launch:
    kernel: str
    module: str | None
    defines: tuple
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: list[tuple[bool, str, int]]
    scalars: dict[int, Any]
    params: list[Param] = field(default_factory=list)

    @property
    def block_threads(self) -> int:
        return self.block[0] * self.block[1] * self.block[2]

    @property
    def blocks(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def threads(self) -> int:
        return self.blocks * self.block_threads

    @property
    def warps(self) -> int:
        return self.blocks * math.ceil(self.block_threads / 32)

    def named(self) -> dict[str, Any]:
        """Scalars by parameter name; pointers by name give their buffer's bytes (0 = NULL)."""
        out: dict[str, Any] = {}
        for k, (is_ptr, _code, nbytes) in enumerate(self.args):
            name = self.params[k].name if k < len(self.params) else f"arg{k}"
            out[name] = nbytes if is_ptr else self.scalars.get(k)
        return out


def build_settings(method: str, view: tuple[int, int], assists: str, magnifier: bool) -> Any:
    """Settings as ``viewfinder.settings`` defaults them, plus the chosen assists."""
    from viewfinder.settings import Settings
    from viewfinder.stages.falsecolor import FalseColourSettings
    from viewfinder.stages.histogram import HistogramSettings
    from viewfinder.stages.magnifier import MagnifierSettings
    from viewfinder.stages.peaking import PeakingSettings
    from viewfinder.stages.scopes import ScopeSettings
    from viewfinder.stages.zebra import ZebraSettings

    kw: dict[str, Any] = {}
    if assists == "default":  # the issue's "default assists"
        kw = dict(
            peaking=PeakingSettings(enabled=True),
            zebra=ZebraSettings(enabled=True),
            histogram=HistogramSettings(raw=True, view=True),
        )
    elif assists == "all":  # as tests/stages/test_gpu_stages.py all_assists_on
        kw = dict(
            peaking=PeakingSettings(enabled=True),
            zebra=ZebraSettings(enabled=True, under=True, mode="rgb", raw=True),
            histogram=HistogramSettings(raw=True, view=True),
            false_colour=FalseColourSettings(enabled=True),
            scopes=ScopeSettings(waveform=True, parade=True, vectorscope=True),
        )
    elif assists != "none":
        raise ValueError(f"assists must be default, all or none, got {assists!r}")
    if magnifier:
        kw["magnifier"] = MagnifierSettings(enabled=True, size=(32, 32), zoom=2)
    return Settings(demosaic=method, view_size=view, **kw)


def record_launches(
    settings: Any, size: tuple[int, int], frames: int = 3, schedule: str = "auto"
) -> list[Launch]:
    """The launches of the last of ``frames`` frames, recorded on cudasim without running
    (``schedule``: the Pipeline's, "auto" = the tiled pass where the scale allows it)."""
    import viewfinder.kernels as vk
    from viewfinder import cudasim
    from viewfinder.cudasim.simt import module as simt_module
    from viewfinder.frame import Frame
    from viewfinder.pipeline import Pipeline

    width, height = size
    origin: dict[str, tuple[str, tuple]] = {}
    original = vk._function

    def recording(xp: Any, name: str, function: str, defines: tuple) -> Any:
        origin[function] = (name, defines)
        return original(xp, name, function, defines)

    cfg = simt_module.config
    saved = (cfg.execute, cfg.launch_log)
    vk._function = recording
    try:
        cfg.execute = False
        pipe = Pipeline(settings, backend="cudasim", schedule=schedule)
        raw = cudasim.asarray(np.full((height, width), 200, np.uint16))
        log: list = []
        for seq in range(frames):
            cfg.launch_log = log = []
            frame = Frame(
                raw,
                "RGGB",
                64,
                1023,
                10,
                seq,
                meta={"noise": {"gain_dn_per_e": 0.25, "read_noise_dn": 1.5}},
            )
            pipe.process(frame)
    finally:
        vk._function = original
        cfg.execute, cfg.launch_log = saved
    launches = []
    for kernel, grid, block, args, scalars in log:
        module, defines = origin.get(kernel, (None, ()))
        launches.append(Launch(kernel, module, defines, grid, block, args, scalars))
    return launches


# --- signatures -------------------------------------------------------------------------------

_MARK = "VF_MODEL_KERNEL"
_KERNEL_RE = re.compile(r'extern\s+"C"\s+' + _MARK + r"\s+void\s+(\w+)\s*\(([^)]*)\)")


def _parse_params(text: str) -> list[Param]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        words = part.replace("*", " * ").split()
        words = [w for w in words if w not in ("__restrict__", "__restrict", "restrict")]
        name = words[-1]
        pointer = "*" in words
        const = "const" in words[: words.index("*")] if pointer else "const" in words
        ctype = " ".join(w for w in words[:-1] if w not in ("const", "*"))
        out.append(Param(name, ctype, pointer, const))
    return out


@functools.cache
def module_signatures(module: str, defines: tuple = ()) -> dict[str, list[Param]]:
    """``{kernel: [Param]}`` of ``<module>.cu`` from its preprocessed text."""
    from viewfinder.kernels import KERNEL_DIR, module_code

    code = module_code(module, defines)
    cpp = shutil.which(os.environ.get("CXX") or "g++") or shutil.which("cpp")
    text = code
    if cpp:
        with tempfile.TemporaryDirectory(prefix="vf-model-") as tmp:
            src = Path(tmp) / f"{module}.cu"
            src.write_text(code)
            run = subprocess.run(
                [cpp, "-E", "-P", "-x", "c++", "-std=c++17", f"-D__global__={_MARK}"]
                + [f"-I{KERNEL_DIR}", "-DVF_NVRTC=1", str(src)],
                capture_output=True,
                text=True,
            )
            if run.returncode == 0:
                text = run.stdout
    else:  # no preprocessor: the raw text (kernels made by macros are missed)
        text = code.replace("__global__", _MARK)
    return {name: _parse_params(params) for name, params in _KERNEL_RE.findall(text)}


def attach_signatures(launches: list[Launch]) -> None:
    from viewfinder.kernels import source_files

    for launch in launches:
        if launch.module is None:  # not seen through the loader: look in every module
            for path in source_files():
                if launch.kernel in module_signatures(path.stem):
                    launch.module = path.stem
                    break
        if launch.module is not None:
            sigs = module_signatures(launch.module, launch.defines)
            launch.params = sigs.get(launch.kernel, [])


# --- DRAM traffic -------------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a table entry sees: the launch, its arguments by name, the frame and view."""

    launch: Launch
    a: dict[str, Any]
    sensor: tuple[int, int]  # (W, H)
    view: tuple[int, int]  # (w, h)

    @property
    def sites(self) -> int:
        return self.sensor[0] * self.sensor[1]


def default_traffic(ctx: Ctx) -> tuple[int, int]:
    """Unknown kernel: each ``const`` pointer's buffer read once, any other written once."""
    read = write = 0
    for k, (is_ptr, _code, nbytes) in enumerate(ctx.launch.args):
        if not is_ptr:
            continue
        const = ctx.launch.params[k].const if k < len(ctx.launch.params) else False
        if const:
            read += nbytes
        else:
            write += nbytes
    return read, write


def unrolled(n: float, by: int = 4) -> list[float]:
    """Trip counts of nvcc's split of a strided loop of ``n`` iterations: the remainder loop
    (``n % by``) first, then the ``by``-times unrolled loop (``n // by``)."""
    n = int(round(n))
    return [n % by, n // by]


def _warp_nonzero_fraction(weights: np.ndarray, lanes: int) -> float:
    """Mean over warps and taps of "some lane of the warp has a nonzero weight at this tap"
    (rows of ``weights`` are consecutive pixels; ``lanes`` pixels per warp)."""
    nz = weights != 0
    n = nz.shape[0]
    groups = [nz[i : i + lanes].any(axis=0) for i in range(0, n, lanes)]
    return float(np.mean([g.mean() for g in groups]))


def _tap_fractions(ctx: Ctx, xname: str = "tx_taps") -> tuple[float, float]:
    """(fraction of the y taps with a nonzero weight, same for x taps per warp) of the area
    downscale from the sensor (or the launch's source) to the view."""
    from viewfinder.stages.resize import area_weights

    a = ctx.a
    ty, tx = int(a["ty_taps"]), int(a[xname])
    w, h = int(a["width"]), int(a["height"])
    vw, vh = int(a["view_w"]), int(a["view_h"])
    _, wy = area_weights(h, vh)
    _, wx = area_weights(w, vw)
    if wy.shape[1] != ty or wx.shape[1] != tx:  # not the pipeline's taps (magnifier)
        return 1.0, 1.0
    bx = ctx.launch.block[0]
    fy = float((wy != 0).mean())  # a warp is one view row: its lanes share the y taps
    fx = _warp_nonzero_fraction(wx, min(32, bx))
    return fy, fx


@dataclass
class Spec:
    """A kernel's entry: access pattern (bytes), loop trip counts and line weights."""

    doc: str
    traffic: Callable[[Ctx], tuple[float, float]] = default_traffic
    trips: Callable[[Ctx], dict[str, list[float]]] = lambda ctx: {}
    weights: Callable[[Ctx], dict[str, Any]] = lambda ctx: {}
    extra: Callable[[Ctx], dict[str, Any]] = lambda ctx: {}  # more fields for the row
    #: the grid the kernel would launch with on the modelled device, where it depends on the
    #: device (persistent blocks: cudasim's SM count is the host's CPU count)
    grid: Callable[[Ctx], tuple[int, int, int]] | None = None


def _preview_raw_traffic(ctx: Ctx) -> tuple[float, float]:
    a = ctx.a
    small = a["iy"] + a["wy"] + a["ix"] + a["wx"] + a["ccm"]
    return a["raw"] + small, a["out_rgba"] + a["out_linear"] + a["out_display"]


def _preview_raw_trips(ctx: Ctx) -> dict[str, list[float]]:
    fy, _ = _tap_fractions(ctx)
    ty, tx = ctx.a["ty_taps"], ctx.a["tx_taps"]
    # the inner loop runs only for y taps of nonzero weight ("if (wy == 0.0f) continue")
    return {"a < ty.taps": [ty], "b < tx.taps": [tx * fy]}


def _colour_divergence(ctx: Ctx) -> float:
    """Fraction of (warp, nonzero x tap) pairs whose lanes read columns of both parities: there
    the warp issues both CFA-colour arms of the demosaic; elsewhere one (green on half)."""
    from viewfinder.stages.resize import area_weights

    ix, wx = area_weights(int(ctx.a["width"]), int(ctx.a["view_w"]))
    if ix.shape[1] != int(ctx.a["tx_taps"]):
        return 1.0
    lanes = min(32, ctx.launch.block[0])
    div = []
    for i in range(0, ix.shape[0], lanes):
        par, nz = ix[i : i + lanes] & 1, wx[i : i + lanes] != 0
        for b in range(ix.shape[1]):
            if nz[:, b].any():
                p = par[nz[:, b], b]
                div.append(bool(p.min() != p.max()))
    return float(np.mean(div)) if div else 1.0


#: Source lines of the two CFA-colour arms of vf_demosaic_mhc / vf_demosaic_bilinear.
_GREEN_ARM = ("const float h = (5.0f * p", "const float v = (5.0f * p", "rgb[1] = centre;")
_GREEN_ARM += ("const bool red_row = vf_cfa_color(cfa, y, x + 1) == 0;", "rgb[1] = p;")
_GREEN_ARM += ("rgb[0] = red_row ? h : v;", "rgb[2] = red_row ? v : h;")
_GREEN_ARM += ("rgb[0] = red_row ? horiz : vert;", "rgb[2] = red_row ? vert : horiz;")
_RB_ARM = ("const float g = (4.0f * p", "const float o = (6.0f * p", "rgb[1] = g;")
_RB_ARM += ("rgb[0] = c == 0 ? p : o;", "rgb[2] = c == 0 ? o : p;", "rgb[1] = cross;")
_RB_ARM += ("rgb[0] = c == 0 ? centre : diag;", "rgb[2] = c == 0 ? diag : centre;")


def _preview_raw_weights(ctx: Ctx) -> dict[str, float]:
    _, fx = _tap_fractions(ctx)
    d = _colour_divergence(ctx)
    arm = d + (1.0 - d) * 0.5  # both arms where lanes diverge, else one (each half the taps)
    # after "if (w == 0.0f) continue": the site's demosaic and accumulation, for the taps
    # where some lane of the warp has a nonzero weight
    return {
        **{line: arm for line in _GREEN_ARM + _RB_ARM},
        "const int x = tx.index": fx,
        "vf_demosaic_mhc(m, cfa, y, x, rgb)": fx,
        "vf_demosaic_bilinear(m, cfa, y, x, rgb)": fx,
        "acc[0] += w * rgb[0]": fx,
        "acc[1] += w * rgb[1]": fx,
        "acc[2] += w * rgb[2]": fx,
    }


def _preview_rgb_trips(ctx: Ctx) -> dict[str, list[float]]:
    fy, _ = _tap_fractions(ctx)
    return {"a < ty_taps": [ctx.a["ty_taps"]], "b < tx_taps": [ctx.a["tx_taps"] * fy]}


def _preview_rgb_weights(ctx: Ctx) -> dict[str, float]:
    _, fx = _tap_fractions(ctx)
    return {"const float* px = rgb": fx, "acc[0] += w * px[0]": fx, "acc[1] += w * px[1]": fx}


def _pool_blocks(ctx: Ctx) -> tuple[float, float]:
    a = ctx.a
    return max(1.0, a["height"] / a["vh"]), max(1.0, a["width"] / a["vw"])


def _pool_traffic(ctx: Ctx) -> tuple[float, float]:
    a = ctx.a
    read = (a["score"] + a["lum"]) * bool(a["do_peak"]) + a["raw"] * bool(a["do_raw"])
    return read, a["pooled"]


def _pool_trips(ctx: Ctx) -> dict[str, list[float]]:
    by, bx = _pool_blocks(ctx)
    # two SASS versions of the x loop (unswitched on do_peak); the do_peak=0 one is 4x unrolled
    return {"y = y0; y < y1": [by], "x = x0; x < x1": [bx, max(1.0, bx / 4)]}


def _view_pass_traffic(ctx: Ctx) -> tuple[float, float]:
    a = ctx.a
    read = a["rgba"] + a["pooled"] + a["fc_lut"] * bool(a["do_fc"])
    write = a["rgba"]
    write += a["zebra_out"] * bool(a["do_zebra"]) + a["fc_out"] * bool(a["do_fc"])
    write += a["peak_out"] * bool(a["do_peak"]) + a["hist"] * bool(a["do_hist"])
    # scope atomics land in L2; each buffer is written back once
    write += a["wave"] * bool(a["do_wave"]) + a["parade"] * bool(a["do_parade"])
    write += a["vscope"] * bool(a["do_vs"])
    return read, write


def _view_pass_trips(ctx: Ctx) -> dict[str, list[float]]:
    n = 4 * 256 / ctx.launch.block_threads
    return {
        "k < 4 * 256; k += nthreads) bins": unrolled(n),
        "for (int k = tid; k < 4 * 256; k += nthreads)": [n],
    }


def _hist_trips(ctx: Ctx) -> dict[str, list[float]]:
    a, lc = ctx.a, ctx.launch
    bins4 = a["hist"] / 8  # 4 x VF_HIST_BINS uint64 counts
    pairs = a["height"] * (a["width"] // 2)
    return {
        "k = threadIdx.x; k < 4 * VF_HIST_BINS": [bins4 / lc.block_threads],
        "p = (long long)blockIdx.x * blockDim.x": [pairs / lc.threads],
    }


# --- vf_tile_pass (kernels/tile.cu) -------------------------------------------------------------
#
# Persistent blocks of 16 x 16 threads (grid: min(tiles, 4 x 132 SMs), 1-D) loop over the view
# tiles of tile_v x tile_v pixels, ``for (tile = blockIdx.x; tile < tiles; tile += gridDim.x)``;
# a tile's pool region P (the union of its pixels' pooling blocks) is Ph x Pw sites. Per block:
# zero the shared bins (``for (k = tid; k < 4 * nbins; k += 256)``: a remainder + a 4x unrolled
# loop), the copy of the tone thresholds (``for (k = tid; k < 256; k += nth)``, v4: one trip
# where tone_on), the tile loop, the flush of the bins (one loop). Per tile (tile.cu v3/v4), the
# work loops are ``for (k = tid; k < n; k += 256)`` over items (a warp issues an iteration
# while its first lane's k < n: warp w runs ceil((n - 32 w) / 256), ``_block_loop``), each
# kept one SASS loop by ``#pragma unroll 1``:
#   - load: the 2x2 quads of P +- 4 rounded out to even bounds, n rounded up to whole warps
#     (every lane reaches the __match_any_sync); the 32-bit loop where the region is in the
#     frame, the mirroring one else (two loops: trip counts as means over all tiles, zero in
#     the tiles of the other kind); the histogram's atomics where some lane has a site of P;
#   - develop: the tile_v^2 pixels (out-of-tile ones skipped); VF_TILE_FAST_K: the K x K
#     footprint unrolled (no loop); VF_TILE_SITE_RGB: first the quads of the sites the taps
#     reach, then per pixel the area taps (ty_taps x tx_taps, zero-weight ones skipped as in
#     vf_preview_raw); neither: the taps with the demosaic per tap (CFA-arm divergence);
#   - peaking: luma over P +- 3 and the score over P +- 1 (both clipped to the frame) in
#     strips of 4 a row; the box's column sums over P x (Pw + 2) (2-D: rows ty + 16 k,
#     columns tx + 16 k; not with VF_TILE_FAST_K); in edge tiles the mirrored fills over (Ph +
#     6)(Pw + 6) and (Ph + 2)(Pw + 2) (2-D, weighted by the edge-tile fraction);
#   - pooling: the pixels again; VF_TILE_FAST_K: the block unrolled; else the y loop over its
#     block's rows and the x loop over its columns, 4x unrolled by nvcc with the remainder (up
#     to 3 iterations) peeled before it.
# In the 2-D loops a warp is two rows of 16 threads (ty = 2w, 2w + 1) and issues an iteration
# if any of its lanes runs it: the row loop max over its two rows of ceil((n - ty) / 16), the
# column loop ceil(n / 16) per row iteration. Trip counts are means over the (tile, warp)
# pairs, the inner loop's per iteration of the outer one (sum of R x C / sum of R), from the
# exact geometry of every tile (the last row and column of tiles are partial; edge tiles are
# those whose P +- 4 leaves the frame); the tile loop's is tiles / grid.


def _pool_edges(n_view: int, src: int) -> tuple[np.ndarray, np.ndarray]:
    """[start, stop) of ``vf_pool_range`` for every view index (kernels/vf_assists.cuh)."""
    j = np.arange(n_view, dtype=np.int64)
    s, e = j * src // n_view, (j + 1) * src // n_view
    return s, np.where(e > s, e, s + 1)


def _lane_trips(n: np.ndarray, nth: int) -> np.ndarray:
    """(len(n), lanes rounded up to whole warps) iterations of a block-stride loop of ``n``."""
    lanes = math.ceil(nth / 32) * 32
    tid = np.arange(lanes)
    t = np.maximum(0, -(-(np.asarray(n)[:, None] - tid[None, :]) // nth))
    t[:, nth:] = 0
    return t


def _warp_max(t: np.ndarray) -> np.ndarray:
    return t.reshape(t.shape[0], -1, 32).max(axis=2)


def _block_loop(n: np.ndarray, nth: int, by: int = 0) -> np.ndarray | tuple:
    """Per block (rows) and warp (columns): iterations a warp issues of ``for (k = tid; k < n;
    k += nth)``; with ``by``, (remainder loop, ``by``-times unrolled loop) as nvcc splits it."""
    u, inv = np.unique(np.asarray(n, np.int64), return_inverse=True)
    t = _lane_trips(u, nth)
    if not by:
        return _warp_max(t)[inv]
    return _warp_max(t % by)[inv], _warp_max(t // by)[inv]


def _lanes(block: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ty, tx, in block) of every lane, (warps, 32), of a ``block = (bx, by)``."""
    bx, by = block
    tid = np.arange(math.ceil(bx * by / 32) * 32).reshape(-1, 32)
    return tid // bx, tid % bx, tid < bx * by


def _loop2d(n_r: np.ndarray, n_c: np.ndarray, block: tuple[int, int]) -> tuple:
    """``for (y = ty; y < n_r; y += by) for (x = tx; x < n_c; x += bx)`` per (tile, warp): the
    row iterations R a warp issues (any lane's) and the column iterations C per row iteration
    (any lane still in the row loop: each row of the warp has the same columns)."""
    bx, by = block
    ty, tx, inb = _lanes(block)
    n_r, n_c = np.asarray(n_r, np.int64), np.asarray(n_c, np.int64)
    r = np.maximum(0, -(-(n_r[:, None, None] - ty[None]) // by)) * inb[None]
    c = np.maximum(0, -(-(n_c[:, None, None] - tx[None]) // bx)) * inb[None]
    return r.max(axis=2), np.where(r > 0, c, 0).max(axis=2)


def _trips2d(n_r: np.ndarray, n_c: np.ndarray, block: tuple[int, int]) -> tuple[float, float]:
    """(row loop, column loop) trip counts: means over (tile, warp), the column loop's per
    row iteration."""
    if len(n_r) == 0:
        return 0.0, 0.0
    R, C = _loop2d(n_r, n_c, block)
    return float(R.mean()), float((R * C).sum() / max(1, R.sum()))


def _tile_geometry(W: int, H: int, vw: int, vh: int, tile_v: int) -> dict[str, np.ndarray]:
    """Per tile (row-major, as ``tile`` counts): view rows/columns [i0, i1) x [j0, j1), the
    pool region [py0, py1) x [px0, px1) and whether P +- 4 leaves the frame."""
    ys, ye = _pool_edges(vh, H)
    xs, xe = _pool_edges(vw, W)
    ty_n, tx_n = -(-vh // tile_v), -(-vw // tile_v)
    i0 = np.arange(ty_n) * tile_v
    j0 = np.arange(tx_n) * tile_v
    i1, j1 = np.minimum(i0 + tile_v, vh), np.minimum(j0 + tile_v, vw)
    py0, py1, px0, px1 = ys[i0], ye[i1 - 1], xs[j0], xe[j1 - 1]
    edge_y = (py0 - 4 < 0) | (py1 + 4 > H)
    edge_x = (px0 - 4 < 0) | (px1 + 4 > W)

    def rows(a: np.ndarray) -> np.ndarray:
        return np.repeat(a, tx_n)

    def cols(a: np.ndarray) -> np.ndarray:
        return np.tile(a, ty_n)

    return {
        "i0": rows(i0),
        "i1": rows(i1),
        "j0": cols(j0),
        "j1": cols(j1),
        "py0": rows(py0),
        "py1": rows(py1),
        "px0": cols(px0),
        "px1": cols(px1),
        "edge": (edge_y[:, None] | edge_x[None, :]).ravel(),
    }


def _tile_groups(g: dict[str, np.ndarray], tile_v: int, nth: int) -> tuple:
    """Every warp iteration of the pixel loops ``for (p = tid; p < npix; p += nth)`` (npix =
    tile_v^2; pixel p of the tile is (i0 + p / tile_v, j0 + p % tile_v), skipped outside the
    tile): (I, J, valid), (groups, 32) view rows and columns of the lanes and whether each
    lane has a pixel. A warp issues an iteration where its first lane's p < npix."""
    npix = tile_v * tile_v
    lanes = np.arange(math.ceil(npix / 32) * 32)  # the p of every issued lane, by warp
    lanes = lanes[(lanes // 32) * 32 < npix]
    di, dj = lanes // tile_v, lanes % tile_v
    inside = lanes < npix
    i0, j0 = g["i0"][:, None], g["j0"][:, None]
    I = i0 + di[None]
    J = j0 + dj[None]
    V = inside[None] & (I < g["i1"][:, None]) & (J < g["j1"][:, None])
    V = V.reshape(-1, 32)
    I = np.where(V, I.reshape(-1, 32), 0)
    J = np.where(V, J.reshape(-1, 32), 0)
    return I, J, V


@functools.cache
def _tile_model(
    W: int,
    H: int,
    vw: int,
    vh: int,
    tile_v: int,
    grid: int,
    block: tuple[int, int],
    cfa: int,
    nbins: int,
) -> dict[str, Any]:
    """The trip counts and weights the vf_tile_pass entry needs (see above), for a launch of
    ``grid`` persistent blocks of ``block = (bx, by)`` threads."""
    from viewfinder.stages.resize import area_weights

    g = _tile_geometry(W, H, vw, vh, tile_v)
    tiles = len(g["i0"])
    edge = g["edge"]
    nth = block[0] * block[1]
    ph, pw = g["py1"] - g["py0"], g["px1"] - g["px0"]
    out: dict[str, Any] = {
        "tiles": tiles,
        "blocks": grid,
        "tile_loop": tiles / grid,
        "tiles_per_block_max": math.ceil(tiles / grid),
        "edge_fraction": float(edge.mean()),
        "pool_sites": float((ph * pw).sum()),
    }

    # 1. load P +- 4 rounded out to even bounds as 2x2 quads, ``for (q = tid; q < nq_pad; q +=
    #    nth)`` (nq_pad: nq rounded up to whole warps), the 32-bit loop where the region lies
    #    in the frame (and W is even), the mirroring one else
    py0, px0 = g["py0"], g["px0"]
    ry0, rx0 = py0 - 4, px0 - 4
    qy0, qx0 = ry0 & ~1, rx0 & ~1
    nqy, nqx = (ry0 + ph + 9 - qy0) >> 1, (rx0 + pw + 9 - qx0) >> 1
    nq = nqy * nqx
    nq_pad = -(-nq // 32) * 32
    qedge = (qy0 < 0) | (qx0 < 0) | (qy0 + 2 * nqy > H) | (qx0 + 2 * nqx > W) | bool(W & 1)
    Q = _block_loop(nq_pad, nth)  # (tiles, warps)
    out["quads"] = float(nq.sum())
    out["raw_sites_loaded"] = float(4 * nq.sum())  # each tile's P +- 4, rounded out to even
    out["quad_interior"] = float(Q[~qedge].sum() / Q.size)
    out["quad_edge"] = float(Q[qedge].sum() / Q.size)
    # the body runs in every warp iteration (nq_pad is whole warps: each has a quad); the
    # histogram's atomics where some lane's quad holds a site of P
    hist = 0
    keys = np.stack([ph, pw, py0 & 1, px0 & 1], 1)
    shapes, counts = np.unique(keys, axis=0, return_counts=True)
    for (h, w, oy, ox), count in zip(shapes, counts, strict=True):
        ny, nx = (h + 9 + oy) // 2, (w + 9 + ox) // 2  # quads a side (region from 4 + o)
        n = ny * nx
        q = np.arange(-(-n // 32) * 32)
        qy, qx = q // nx, q % nx
        ly, lx = 2 * qy, 2 * qx  # the quad's first site, from qy0 = py0 - 4 - o
        lo_y, lo_x = 4 + oy, 4 + ox  # P's first row / column
        own_y = (ly + 1 >= lo_y) & (ly < lo_y + h)
        own_x = (lx + 1 >= lo_x) & (lx < lo_x + w)
        own = (q < n) & own_y & own_x
        hist += int(own.reshape(-1, 32).any(axis=1).sum()) * int(count)
    out["quad_hist"] = hist / float((nq_pad // 32).sum())

    # 3. peaking: luma on P +- 3 and the score on P +- 1 (in-frame sites), the column sums on
    #    P x (Pw + 2); the mirrored fills in edge tiles
    def clip(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
        return np.minimum(hi, n) - np.maximum(lo, 0)

    # luma and score: strips of 4 horizontal neighbours, ``for (q = tid; q < n; q += nth)``
    # over rows x ceil(width / 4) strips of the region clipped to the frame
    def strips(d: int, m: int) -> np.ndarray:
        rows = clip(g["py0"] - d, g["py1"] + d, H)
        return rows * ((clip(g["px0"] - d, g["px1"] + d, W) + m - 1) // m)

    out["lum"] = float(_block_loop(strips(3, 4), nth).mean())
    # the develop from demosaiced sites (VF_TILE_SITE_RGB): quads of [py0, py1 + 1) x [px0,
    # px1 + 1) clipped to the frame, from even bounds
    ndy = (np.minimum(g["py1"] + 1, H) - (g["py0"] & ~1) + 1) >> 1
    ndx = (np.minimum(g["px1"] + 1, W) - (g["px0"] & ~1) + 1) >> 1
    out["site_quads"] = float(_block_loop(ndy * ndx, nth).mean())
    out["score"] = float(_block_loop(strips(1, 4), nth).mean())
    out["box"] = _trips2d(ph, pw + 2, block)
    out["fill_lum"] = _trips2d(ph[edge] + 6, pw[edge] + 6, block)
    out["fill_score"] = _trips2d(ph[edge] + 2, pw[edge] + 2, block)
    rem, unr = _block_loop(np.array([4 * nbins]), nth, by=4)
    out["zero_bins"] = (float(rem.mean()), float(unr.mean()))
    out["flush_bins"] = float(_block_loop(np.array([4 * nbins]), nth).mean())
    out["tone_copy"] = float(_block_loop(np.array([256]), nth).mean())  # the tone thresholds

    # 2. and 4. the pixel loops (develop, pooling), per warp iteration
    # the pixel loop runs over the whole tile_v^2 (out-of-tile pixels skipped): per warp
    # ceil((npix - 32 w) / nth) iterations, the same in every tile (its body is counted in
    # every iteration: an over-count of < 1 % from the partial tiles of the last row/column)
    out["pixels"] = float(_block_loop(np.array([tile_v * tile_v]), nth).mean())
    I, J, valid = _tile_groups(g, tile_v, nth)
    G = I.shape[0]
    out["pixel_groups"] = G
    out["lane_use"] = float(valid.sum() / (G * 32))  # lanes with a pixel, of issued ones
    # pooling block: rows (y loop), columns (x loop: the remainder of 4 peeled, then 4x)
    ys, ye = _pool_edges(vh, H)
    xs, xe = _pool_edges(vw, W)
    bh = np.where(valid, (ye - ys)[I], 0)
    bw = np.where(valid, (xe - xs)[J], 0)
    rows = bh.max(axis=1)
    Y = float(rows.sum())
    out["pool_rows"] = Y / G
    out["pool_quads"] = float((rows * (bw // 4).max(axis=1)).sum()) / Y
    out["pool_peel"] = float((rows * (bw % 4).max(axis=1)).sum()) / (3 * Y)
    # area taps, per warp: y taps with a lane of nonzero weight, (y, x) taps with one, and
    # which CFA-colour arms of the demosaic those lanes take
    iy, wy = area_weights(H, vh)
    ix, wx = area_weights(W, vw)
    nty, ntx = wy.shape[1], wx.shape[1]
    out["ty"], out["tx"] = nty, ntx
    shift = 1 if cfa in (2, 3) else 0  # GRBG, GBRG: green where y + x is even
    a_any = body_n = green_n = rb_n = 0
    for c0 in range(0, G, 4096):
        sl = slice(c0, c0 + 4096)
        v = valid[sl]
        nzy = (wy[I[sl]] != 0) & v[:, :, None]  # (g, 32, ty)
        nzx = (wx[J[sl]] != 0) & v[:, :, None]
        a_any += int(nzy.any(axis=1).sum())
        nz = nzy[:, :, :, None] & nzx[:, :, None, :]  # (g, 32, ty, tx)
        green = ((iy[I[sl]][:, :, :, None] + ix[J[sl]][:, :, None, :] + shift) & 1) == 1
        body_n += int(nz.any(axis=1).sum())
        green_n += int((nz & green).any(axis=1).sum())
        rb_n += int((nz & ~green).any(axis=1).sum())
    out["tap_rows"] = a_any / (G * nty)  # fraction of y taps a warp runs the x loop for
    out["tap_body"] = body_n / max(1, a_any * ntx)  # of those x taps, fraction with a site
    out["arm_green"] = green_n / max(1, body_n)
    out["arm_rb"] = rb_n / max(1, body_n)
    return out


def _tile_grid(ctx: Ctx) -> tuple[int, int, int]:
    """The grid TilePass launches on the modelled device: min(tiles, 4 x its SMs) persistent
    blocks (cudasim reports the host's CPU count as the SM count)."""
    from viewfinder.schedules.cuda_tile import BLOCKS_PER_SM

    a = ctx.a
    tv = int(a["tile_v"])
    tiles = -(-int(a["view_w"]) // tv) * -(-int(a["view_h"]) // tv)
    return (min(tiles, BLOCKS_PER_SM * H200.sms), 1, 1)


def _tile(ctx: Ctx) -> dict[str, Any]:
    a, lc = ctx.a, ctx.launch
    nbins = int(dict(lc.defines).get("VF_HIST_BINS", 1024))
    return _tile_model(
        int(a["width"]),
        int(a["height"]),
        int(a["view_w"]),
        int(a["view_h"]),
        int(a["tile_v"]),
        lc.blocks,
        (lc.block[0], lc.block[1]),
        int(a["cfa"]),
        nbins,
    )


def _tile_traffic(ctx: Ctx) -> tuple[float, float]:
    a = ctx.a
    # raw: every tile loads its P +- 4 once (u16); LUT, taps, matrix and site constants are
    # small and stay in L1/L2 (counted once); the histogram's atomics land in L2 (a flush per
    # block) and its buffer is written back once
    small = a["lut"] * bool(a["do_peak"]) + a["iy"] + a["wy"] + a["ix"] + a["wx"]
    small += a["ccm"] + a["site_black"] + a["site_scale"] + a["tile_geo"]
    small += a["pool_y"] + a["pool_x"] + a["tone_tab"]
    read = 2 * _tile(ctx)["raw_sites_loaded"] + small
    write = a["out_rgba"] + a["out_linear"] + a["out_display"] + a["pooled"]
    write += a["hist"] * bool(a["do_hist"])
    return read, write


def _tile_trips(ctx: Ctx) -> dict[str, list[float]]:
    t = _tile(ctx)
    return {  # the longer key first where one contains another (the first match is used)
        "k < 4 * VF_HIST_BINS; k += nth) s_bins[k] = 0": list(t["zero_bins"]),
        "k < 4 * VF_HIST_BINS; k += nth)": [t["flush_bins"]],
        "k = tid; k < 256; k += nth) s_tone[k]": [t["tone_copy"]],
        "tile = blockIdx.x; tile < tiles; tile += gridDim.x": [t["tile_loop"]],
        # the quad loops: the mirroring one (edge tiles) first: its key contains the other's
        "q = tid; q < nq_pad; q += nth) {  // mirrored": [t["quad_edge"]],
        "q = tid; q < nq_pad; q += nth)": [t["quad_interior"]],
        # develop, then pooling: the same loops over the tile's pixels
        "p = tid; p < npix; p += nth": [t["pixels"]],
        "a < ty.taps": [t["ty"]],
        "b < tx.taps": [t["tx"] * t["tap_rows"]],
        "q = tid; q < nlp; q += nth": [t["lum"]],
        "q = tid; q < nd; q += nth": [t["site_quads"]],
        "ta < ty_taps": [t["ty"]],
        "tb < tx_taps": [t["tx"] * t["tap_rows"]],
        "q = tid; q < nsp; q += nth": [t["score"]],
        "y = py0 + ty; y < py1; y += by": [t["box"][0]],
        "x = sx0 + tx; x < px1 + 1; x += bx": [t["box"][1]],
        # vf_tile_fill_mirrored, inlined twice (luma, score), in edge tiles only: the row
        # loop's mean over all tiles is the edge tiles' times their fraction (a trip count,
        # not a line weight: nvcc's line table gives part of the inlined body other lines)
        "y = y0 + (int)threadIdx.y; y < y1; y += blockDim.y": [
            t["fill_lum"][0] * t["edge_fraction"],
            t["fill_score"][0] * t["edge_fraction"],
        ],
        "x = x0 + (int)threadIdx.x; x < x1; x += blockDim.x": [
            t["fill_lum"][1],
            t["fill_score"][1],
        ],
        "for (int y = y0; y < y1; ++y)": [t["pool_rows"]],
        "for (int x = x0; x < x1; ++x)": [t["pool_quads"]],
    }


#: Source lines of the quad loops' histogram atomics (the warp leader's): where some lane of
#: the warp has a site of P.
_TILE_LOAD_HIST = (
    "atomicAdd(&s_bins[bin], (unsigned)__popc(peers));",
    "atomicAdd(&hist[bin], (unsigned long long)__popc(peers));",
)
#: Source lines of one site of the pooling block: the remainder iterations of the 4x unrolled
#: x loop are peeled by nvcc before it (up to 3 copies), with the same lines.
_TILE_POOL_SITE = (
    "if (do_peak && level < 3 && y >= 2",
    "x < width - 2) {",
    "const float v = (cols[x - 1] + cols[x] + cols[x + 1])",
    "const float l = lum(y, x);",
    "const float f = fg * (l > 0.0f ? l : 0.0f);",
    "level = vf_maxi(level, (v > fmaxf(t1, f))",
    "(v > fmaxf(t3, 4.0f * f)));",
    "if (do_raw) clip |= s_clip[",
)


#: Source lines of the develop-from-demosaiced-sites tap body (after ``if (w == 0.0f)``).
_TILE_SITE_TAP = (
    "const int k = row + ix[j * tx_taps + tb];",
    "acc[0] += w * pr[k];",
    "acc[1] += w * pg[k];",
    "acc[2] += w * pb[k];",
)


def _tile_weights(ctx: Ctx) -> dict[str, Any]:
    t = _tile(ctx)
    x_loop = "for (int x = x0; x < x1; ++x)"
    common = {line: t["quad_hist"] for line in _TILE_LOAD_HIST}
    defines = dict(ctx.launch.defines)
    if "VF_TILE_FAST_K" in defines:
        # the integer-scale develop and pooling: every site of the K x K block runs
        # straight-line code with its colour known (no taps skipped, no colour arm divergent,
        # no peeled loop iterations): weight 1
        return common
    common.update({line: (t["pool_peel"], x_loop) for line in _TILE_POOL_SITE})
    if "VF_TILE_SITE_RGB" in defines:
        # the develop from demosaiced sites: the quads' demosaic has its colours constant (no
        # arm weights); the taps' body where some lane of the warp has a nonzero weight
        return {**common, **{line: t["tap_body"] for line in _TILE_SITE_TAP}}
    return {
        **common,
        **{line: t["arm_green"] for line in _GREEN_ARM},
        **{line: t["arm_rb"] for line in _RB_ARM},
        "const int x = tx.index": t["tap_body"],
        "vf_demosaic_mhc(m, cfa, y, x, rgb)": t["tap_body"],
        "vf_demosaic_bilinear(m, cfa, y, x, rgb)": t["tap_body"],
        "acc[0] += w * rgb[0]": t["tap_body"],
        "acc[1] += w * rgb[1]": t["tap_body"],
        "acc[2] += w * rgb[2]": t["tap_body"],
    }


def _tile_extra(ctx: Ctx) -> dict[str, Any]:
    t = _tile(ctx)
    a = ctx.a
    nbins = int(dict(ctx.launch.defines).get("VF_HIST_BINS", 1024))
    per_block = t["pool_sites"] / t["blocks"]
    return {
        "tile": {
            "tile_v": int(a["tile_v"]),
            "tiles": int(t["tiles"]),
            "blocks": int(t["blocks"]),
            "tiles_per_block": t["tile_loop"],
            "tiles_per_block_max": int(t["tiles_per_block_max"]),
            "edge_tile_fraction": t["edge_fraction"],
            "raw_load_overhead": t["raw_sites_loaded"] / ctx.sites,
            "pixel_lane_use": t["lane_use"],
        },
        # the flush: one 64-bit L2 atomic per non-empty bin, at most min(4 nbins, P sites) a
        # block, once per block
        "l2_atomics_max": int(t["blocks"] * min(4 * nbins, per_block)) if a["do_hist"] else 0,
    }


def _frame_bytes(ctx: Ctx, name: str = "raw") -> float:
    return ctx.a[name]


def _hq_write_traffic(reads: tuple[str, ...], writes: tuple[str, ...]) -> Callable:
    def traffic(ctx: Ctx) -> tuple[float, float]:
        return sum(ctx.a[n] for n in reads), sum(ctx.a[n] for n in writes)

    return traffic


#: Per kernel: access pattern (DRAM bytes), trip counts, weights. Bytes per site / pixel are in
#: each ``doc``; every entry assumes the neighbourhood reads hit L1/L2 (see the module doc).
KERNELS: dict[str, Spec] = {
    "vf_preview_raw": Spec(
        "one thread per view pixel; reads each raw u16 site once (the footprints tile the "
        "frame; MHC's 2-px halo and neighbouring footprints come from L1/L2) and the taps, "
        "writes RGBA8 (+12 B a view pixel per float view when not NULL)",
        _preview_raw_traffic,
        _preview_raw_trips,
        _preview_raw_weights,
    ),
    "vf_preview_rgb": Spec(
        "one thread per view pixel; reads the (H, W, 3) float32 image once (12 B a site), "
        "writes RGBA8 (+ float views when not NULL)",
        lambda ctx: (
            ctx.a["rgb"] + ctx.a["iy"] + ctx.a["wy"] + ctx.a["ix"] + ctx.a["wx"],
            ctx.a["out_rgba"] + ctx.a["out_linear"] + ctx.a["out_display"],
        ),
        _preview_rgb_trips,
        _preview_rgb_weights,
    ),
    "vf_peak_luma": Spec(
        "one thread per site; reads 1 raw u16 (its 3x3 neighbours hit L1/L2, the 4 KB LUT "
        "stays in L1), writes one f32 luma",
        lambda ctx: (ctx.a["raw"] + ctx.a["lut"], ctx.a["lum"]),
    ),
    "vf_peak_score": Spec(
        "one thread per site; reads one f32 luma (5x5 stencil from L1/L2), writes one f32",
        lambda ctx: (ctx.a["lum"], ctx.a["score"]),
    ),
    "vf_peak_pool": Spec(
        "one thread per view pixel, a loop over its sensor block; reads its score and lum "
        "blocks (4 + 4 B a site, the 3x3 box's halo from L1/L2) when peaking, its raw block "
        "(2 B a site) with RAW zebra; writes 1 B a view pixel",
        _pool_traffic,
        _pool_trips,
    ),
    "vf_raw_histogram": Spec(
        "grid-stride over photosite pairs; reads the raw frame once (2 B a site), bins in "
        "shared memory, one global atomic per non-empty bin (4 x bins x 8 B, L2)",
        lambda ctx: (ctx.a["raw"], ctx.a["hist"]),
        _hist_trips,
    ),
    "vf_tile_pass": Spec(
        "persistent blocks of 16x16 threads (min(tiles, 4 x 132 SMs) on an H200) loop over "
        "the view tiles (tile_v^2 view pixels, pool region P); each tile reads each raw u16 "
        "site of its P +- 4, rounded out to even bounds, once (every site once + the halo: "
        "sum over tiles of the region / (Ph Pw), 1.44x at P = 40, no L2 reuse of the halo "
        "assumed), the LUT, taps, matrix, site constants and the per-tile table (48 B a tile) "
        "once (L1/L2); writes RGBA8 (+ float views when not NULL) and the "
        "pooled byte once; histogram: per block (not per tile) a flush of 4 x nbins shared "
        "bins as 64-bit L2 atomics (non-empty ones only), the buffer written back once",
        _tile_traffic,
        _tile_trips,
        _tile_weights,
        _tile_extra,
        grid=_tile_grid,
    ),
    "vf_view_pass": Spec(
        "one thread per view pixel; reads and rewrites RGBA8 (4 + 4 B), reads the pooled "
        "byte, writes zebra / peak bytes and false colour (4 B) when on; histogram and scope "
        "atomics stay in L2 (each buffer written back once)",
        _view_pass_traffic,
        _view_pass_trips,
    ),
    "vf_sim_expose": Spec(
        "one thread per site; reads one f32 rate, writes one u16",
        lambda ctx: (4 * ctx.a["w"] * ctx.a["h"], ctx.a["out"]),
    ),
    "vf_hq_rb_at_g": Spec(
        "hq pass D: reads vh and the RGB buffer, rewrites R and B of G sites (whole buffer)",
        _hq_write_traffic(("vh", "out"), ("out",)),
    ),
}
for _t in ("u16", "f32"):
    KERNELS[f"vf_demosaic_bilinear_{_t}"] = Spec(
        "reads the mosaic once, writes (H, W, 3) f32", _hq_write_traffic(("raw",), ("out",))
    )
    KERNELS[f"vf_demosaic_mhc_{_t}"] = Spec(
        "reads the mosaic once, writes (H, W, 3) f32", _hq_write_traffic(("raw",), ("out",))
    )
    KERNELS[f"vf_hq_directions_{_t}"] = Spec(
        "hq pass A: reads the mosaic (7-tap stencils from L1/L2), writes vh and pq (4 + 4 B)",
        _hq_write_traffic(("raw",), ("vh", "pq")),
    )
    KERNELS[f"vf_hq_green_{_t}"] = Spec(
        "hq pass B: reads the mosaic and vh, writes G of every pixel (every sector of the "
        "interleaved RGB buffer: 12 B a site)",
        _hq_write_traffic(("raw", "vh"), ("out",)),
    )
    KERNELS[f"vf_hq_rb_{_t}"] = Spec(
        "hq pass C: reads the mosaic, pq and the green plane (whole buffer), writes R/B sites",
        _hq_write_traffic(("raw", "pq", "out"), ("out",)),
    )
    KERNELS[f"vf_hq_refine_{_t}"] = Spec(
        "hq passes E+F: reads the mosaic, vh and the RGB buffer, rewrites R/B sites",
        _hq_write_traffic(("raw", "vh", "out"), ("out",)),
    )


def other_ops(settings: Any, size: tuple[int, int], view: tuple[int, int], launches) -> list:
    """Device operations of the frame that are not kernels of ``viewfinder/kernels`` (CuPy
    copies, memsets, element-wise expressions), from the pipeline's code: (name, bytes)."""
    w, h = size
    vw, vh = view
    ops = []
    names = {lc.kernel for lc in launches}
    if "vf_view_pass" in names:
        ops.append(("view[...] = image (device copy)", 2 * 4 * vw * vh))
    for lc in launches:
        if lc.kernel == "vf_view_pass":
            a = lc.named()
            zeroed = sum(a[n] for n in ("hist", "wave", "parade", "vscope"))
            ops.append(("zero histogram and scope buffers (memset)", zeroed))
        if lc.kernel == "vf_raw_histogram":
            ops.append(("zero the RAW histogram (memset)", lc.named()["hist"]))
    if settings.demosaic == "hq":
        ops.append(("normalise raw -> float32 mosaic (element-wise)", (2 + 4) * w * h))
    return ops


# --- compilation and SASS ---------------------------------------------------------------------


def _tool(name: str) -> str | None:
    """A CUDA binary: from a pip wheel (nvidia/cu13/bin, nvidia/cuda_*/bin) or the PATH."""
    for base in map(Path, sys.path):
        nv = base / "nvidia"
        if not nv.is_dir():
            continue
        for cand in sorted(nv.glob(f"*/bin/{name}")):
            if os.access(cand, os.X_OK):
                return str(cand)
    return shutil.which(name)


def _nvrtc_compile(code: str, name: str, options: list[str]) -> tuple[bytes, str, str]:
    from cuda.bindings import nvrtc

    def ok(result: tuple) -> Any:
        if result[0] != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(f"NVRTC: {result[0]}")
        return result[1] if len(result) == 2 else None

    prog = ok(nvrtc.nvrtcCreateProgram(code.encode(), f"{name}.cu".encode(), 0, [], []))
    opts = [o.encode() for o in options]
    res = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    size = ok(nvrtc.nvrtcGetProgramLogSize(prog))
    log = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, log)
    if res[0] != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise RuntimeError(f"NVRTC could not compile {name}.cu:\n{log.decode()[:2000]}")
    size = ok(nvrtc.nvrtcGetCUBINSize(prog))
    cubin = b" " * size
    nvrtc.nvrtcGetCUBIN(prog, cubin)
    major, minor = nvrtc.nvrtcVersion()[1:]
    return cubin, log.decode(errors="replace"), f"NVRTC {major}.{minor}"


def _nvcc_compile(code: str, name: str, options: list[str]) -> tuple[bytes, str, str]:
    nvcc = shutil.which("nvcc")
    assert nvcc
    with tempfile.TemporaryDirectory(prefix="vf-model-") as tmp:
        src = Path(tmp) / f"{name}.cu"
        src.write_text(code)
        out = Path(tmp) / f"{name}.cubin"
        run = subprocess.run(
            [nvcc, "-cubin", f"-arch={ARCH}", "-lineinfo", "-Xptxas", "-v", "-ftz=true"]
            + [o for o in options if o.startswith(("-I", "-D", "--std"))]
            + ["-o", str(out), str(src)],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise RuntimeError(f"nvcc could not compile {name}.cu:\n{run.stderr[:2000]}")
        version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
        release = re.search(r"release ([\d.]+)", version)
        return out.read_bytes(), run.stderr, f"nvcc {release.group(1) if release else '?'}"


def _have_nvrtc() -> bool:
    try:
        from cuda.bindings import nvrtc

        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


def toolchain() -> dict[str, str | None]:
    """What compiles and disassembles: ``compiler`` is None or "nvrtc"/"nvcc"."""
    compiler = "nvrtc" if _have_nvrtc() else ("nvcc" if shutil.which("nvcc") else None)
    return {"compiler": compiler, "nvdisasm": _tool("nvdisasm"), "cuobjdump": _tool("cuobjdump")}


@dataclass
class Compiled:
    compiler: str
    sass: str  # nvdisasm -c -gi
    resources: dict[str, dict[str, int]]  # kernel -> registers, shared_bytes, stack, spills


def _parse_ptxas(log: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    cur = None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            cur = out.setdefault(m.group(1), {"registers": 0, "shared_bytes": 0})
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores", line)
        if m:
            cur["stack_bytes"], cur["spill_store_bytes"] = int(m.group(1)), int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["registers"] = int(m.group(1))
        m = re.search(r"(\d+) bytes smem", line)
        if m:
            cur["shared_bytes"] = int(m.group(1))
    return out


def _parse_res_usage(text: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"\s*Function (\w+):", line)
        if m:
            cur = m.group(1)
            continue
        m = re.search(r"REG:(\d+) STACK:(\d+) SHARED:(\d+)", line)
        if m and cur:
            out[cur] = {
                "registers": int(m.group(1)),
                "stack_bytes": int(m.group(2)),
                "shared_bytes": int(m.group(3)),
            }
    return out


def compile_module(module: str, defines: tuple = ()) -> Compiled:
    """sm_90 cubin of ``<module>.cu`` as the GPU path builds it; SASS + resources, cached."""
    from viewfinder.kernels import NVRTC_OPTIONS, module_code

    tools = toolchain()
    if tools["compiler"] is None or tools["nvdisasm"] is None:
        raise RuntimeError(
            "no SASS: needs NVRTC (cuda-bindings + nvidia-cuda-nvrtc) or nvcc, and nvdisasm "
            "(pip install nvidia-cuda-nvdisasm)"
        )
    code = module_code(module, defines)
    options = [*NVRTC_OPTIONS, "-ftz=true", f"--gpu-architecture={ARCH}", "--generate-line-info"]
    options.append("--ptxas-options=-v")
    key = hashlib.sha256(
        "\0".join([code, " ".join(options), str(tools["compiler"]), "v1"]).encode()
    ).hexdigest()[:24]
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cached = CACHE_DIR / f"{module}-{key}.json"
    if cached.is_file():
        d = json.loads(cached.read_text())
        return Compiled(d["compiler"], d["sass"], d["resources"])
    if tools["compiler"] == "nvrtc":
        cubin, log, compiler = _nvrtc_compile(code, module, options)
    else:
        cubin, log, compiler = _nvcc_compile(code, module, options)
    resources = _parse_ptxas(log)
    with tempfile.TemporaryDirectory(prefix="vf-model-") as tmp:
        path = Path(tmp) / f"{module}.cubin"
        path.write_bytes(cubin)
        sass = subprocess.run(
            [tools["nvdisasm"], "-c", "-gi", str(path)], capture_output=True, text=True
        )
        if sass.returncode != 0:
            raise RuntimeError(f"nvdisasm failed: {sass.stderr[:500]}")
        if not resources and tools["cuobjdump"]:
            res = subprocess.run(
                [tools["cuobjdump"], "-res-usage", str(path)], capture_output=True, text=True
            )
            resources = _parse_res_usage(res.stdout)
    result = Compiled(compiler, sass.stdout, resources)
    staged = cached.with_suffix(f".{os.getpid()}.tmp")
    staged.write_text(json.dumps(result.__dict__))
    os.replace(staged, cached)
    return result


@dataclass
class Ins:
    off: int
    guard: str  # "", "@P0", "@!UP1"...
    op: str
    operands: list[str]
    target: str | None
    chain: tuple[tuple[str, int], ...]  # (file, line), innermost first


_INS = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z0-9_.]+)([^;]*);")
_LABEL = re.compile(r"^\s*([.$\w]+):\s*$")
_FUNC = re.compile(r"^\s*\.text\.(\w+):")
_LINE = re.compile(r'//## File "([^"]+)", line (\d+)')


def parse_sass(text: str) -> dict[str, tuple[list[Ins], dict[str, int]]]:
    """``{function: (instructions, {label: instruction index})}`` of ``nvdisasm -c -gi``."""
    funcs: dict[str, tuple[list[Ins], dict[str, int]]] = {}
    cur: tuple[list[Ins], dict[str, int]] | None = None
    chain: tuple = ()
    pending: list[tuple[str, int]] = []
    for line in text.splitlines():
        m = _FUNC.match(line)
        if m:
            cur = funcs.setdefault(m.group(1), ([], {}))
            pending, chain = [], ()
            continue
        if cur is None:
            continue
        m = _LINE.search(line)
        if m:
            pending.append((m.group(1), int(m.group(2))))
            continue
        m = _INS.match(line)
        if m:
            if pending:
                chain, pending = tuple(pending), []
            rest = m.group(4)
            target = re.search(r"`\(([^)]+)\)", rest)
            operands = [o.strip() for o in re.sub(r"`\([^)]*\)", "", rest).split(",")]
            cur[0].append(
                Ins(
                    int(m.group(1), 16),
                    (m.group(2) or "").strip(),
                    m.group(3),
                    [o for o in operands if o],
                    target.group(1) if target else None,
                    chain,
                )
            )
            continue
        m = _LABEL.match(line)
        if m:
            cur[1][m.group(1)] = len(cur[0])
    return funcs


# --- dynamic instruction count ----------------------------------------------------------------

PARAM_BASE = 0x210  # sm_90: kernel parameters from c[0x0][0x210]
_SIZES = {"b1": 1, "i1": 1, "u1": 1, "i2": 2, "u2": 2, "i4": 4, "u4": 4, "f4": 4}


def param_values(launch: Launch) -> dict[int, tuple[int, int] | None]:
    """Constant-bank offset -> 32-bit word value of the launch's integer scalars and pointers
    (a pointer is 1 or 0 = NULL: only its NULL-ness is known)."""
    out: dict[int, tuple[int, int] | None] = {}
    off = PARAM_BASE
    for is_ptr, code, nbytes in launch.args:
        size = 8 if is_ptr else _SIZES.get(code, 8)
        off = (off + size - 1) // size * size
        if is_ptr:
            out[off] = (1 if nbytes else 0, 32)
            out[off + 4] = (0, 32)
        off += size
    off = PARAM_BASE
    for k, (is_ptr, code, _n) in enumerate(launch.args):
        size = 8 if is_ptr else _SIZES.get(code, 8)
        off = (off + size - 1) // size * size
        if not is_ptr and code in ("i4", "u4", "i2", "u2", "i1", "u1", "b1"):
            v = launch.scalars.get(k)
            if v is not None:
                out[off] = (int(v) & 0xFFFFFFFF, 32)
        off += size
    return out


_CONST = re.compile(r"^c\[0x0\]\[(0x[0-9a-f]+)\]$")


def _imm(op: str) -> int | None:
    op = op.strip()
    if op in ("RZ", "URZ"):
        return 0
    m = re.fullmatch(r"(-?)0x([0-9a-f]+)", op)
    if m:
        return (-int(m.group(2), 16) if m.group(1) else int(m.group(2), 16)) & 0xFFFFFFFF
    if re.fullmatch(r"-?\d+", op):
        return int(op) & 0xFFFFFFFF
    return None


def _cmp(kind: str, a: int, b: int, unsigned: bool) -> bool:
    if not unsigned:
        a = a - (1 << 32) if a & 0x80000000 else a
        b = b - (1 << 32) if b & 0x80000000 else b
    return {
        "LT": a < b,
        "LE": a <= b,
        "GT": a > b,
        "GE": a >= b,
        "EQ": a == b,
        "NE": a != b,
    }[kind]


def _tri_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _tri_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _reg_pair(reg: str) -> str | None:
    m = re.fullmatch(r"(U?R)(\d+)", reg)
    return f"{m.group(1)}{int(m.group(2)) + 1}" if m else None


def _written(ins: Ins) -> list[str]:
    """Registers and predicates an instruction writes (its leading register operands)."""
    if ins.op.startswith(("ST", "RED", "BRA", "BSSY", "BSYNC", "EXIT", "CALL", "RET", "BAR")):
        return []
    out = []
    for o in ins.operands[:2]:
        o = o.split(".")[0].lstrip("!-|")
        if re.fullmatch(r"U?R\d+|U?P\d", o):
            out.append(o)
            if re.fullmatch(r"U?R\d+", o) and (".64" in ins.op or "WIDE" in ins.op):
                out.append(_reg_pair(o) or o)
        if not re.fullmatch(r"U?P[T\d]", o):  # only SETP-like ops write a second predicate
            break
    return out


def resolve_uniform_branches(ins: list[Ins], labels: dict[str, int], params: dict) -> dict:
    """``{instruction index: True/False}`` for branches/exits whose guard is known from the
    launch's parameters (predicates that compare a parameter with a constant)."""
    # registers/predicates to forget at each label: those written on the paths that meet there
    sources: dict[int, list[int]] = {}
    for i, x in enumerate(ins):
        # BSSY names its reconvergence point but transfers no control: not a path
        if x.target in labels and not x.op.startswith("BSSY"):
            sources.setdefault(labels[x.target], []).append(i)
    forget: dict[int, set[str]] = {}
    for lab, srcs in sources.items():
        lo = min([s + 1 for s in srcs if s < lab] + [lab])
        hi = max([s for s in srcs if s >= lab] + [lab - 1])
        regs: set[str] = set()
        for j in range(lo, hi + 1):
            regs.update(_written(ins[j]))
        forget[lab] = regs
    regs: dict[str, int | None] = {}
    preds: dict[str, bool | None] = {"PT": True, "UPT": True}
    known: dict[int, bool] = {}

    def value(op: str) -> int | None:
        op = op.strip()
        v = _imm(op)
        if v is not None:
            return v
        m = _CONST.match(op)
        if m:
            p = params.get(int(m.group(1), 16))
            return None if p is None else p[0]
        return regs.get(op)

    def pred(op: str) -> bool | None:
        neg = op.startswith("!")
        v = preds.get(op.lstrip("!"))
        return None if v is None else (not v if neg else v)

    for i, x in enumerate(ins):
        if i in forget:
            for r in forget[i]:
                regs.pop(r, None)
                preds.pop(r, None)
        if x.guard and (x.op.startswith("BRA") or x.op == "EXIT"):
            g = pred(x.guard[1:])
            if g is not None:
                known[i] = g
        op = x.op.split(".")
        base = op[0]
        written = _written(x)
        if base in ("LDC", "ULDC", "MOV", "UMOV") and len(x.operands) >= 2 and not x.guard:
            m = _CONST.match(x.operands[1])
            src_val = value(x.operands[1]) if (m or base in ("MOV", "UMOV")) else None
            dst = x.operands[0]
            for r in written:
                regs[r] = None
            if m and ".64" in x.op:
                off = int(m.group(1), 16)
                lo, hi = params.get(off), params.get(off + 4)
                regs[dst] = lo[0] if lo else None
                if _reg_pair(dst):
                    regs[_reg_pair(dst)] = hi[0] if hi else None
            else:
                regs[dst] = src_val
            continue
        if base in ("ISETP", "UISETP") and len(x.operands) >= 5 and not x.guard:
            kind = op[1]
            unsigned = "U32" in op
            combine = next((o for o in op[2:] if o in ("AND", "OR", "XOR")), "AND")
            ex = "EX" in op
            a, b = value(x.operands[2]), value(x.operands[3])
            r: bool | None = None if a is None or b is None else _cmp(kind, a, b, unsigned)
            if ex:  # 64-bit compare, high words; the low words' result is the last operand
                low = pred(x.operands[5]) if len(x.operands) > 5 else None
                if kind == "NE":
                    r = _tri_or(r, low)
                elif kind == "EQ":
                    r = _tri_and(r, low)
                else:
                    r = None
            c = pred(x.operands[4])
            if combine == "AND":
                r = _tri_and(r, c)
            elif combine == "OR":
                r = _tri_or(r, c)
            else:
                r = None if r is None or c is None else r != c
            for w in written:
                regs.pop(w, None)
                preds[w] = None
            dst = x.operands[0].lstrip("!")
            preds[dst] = r
            if len(x.operands) > 1 and x.operands[1] not in ("PT", "UPT"):
                preds[x.operands[1].lstrip("!")] = None
            continue
        if base in ("PLOP3", "UPLOP3") and len(x.operands) >= 7 and not x.guard:
            # Pd, Pd2 = LUT(a, b, c): bit (4 a + 2 b + c) of each immediate (nvcc moves a
            # uniform predicate into a predicate register this way: PLOP3.LUT P1, PT, PT, PT,
            # UP0, 0x40, 0x0 is P1 = !UP0); known where every input the result depends on is
            ins3 = [pred(o) for o in x.operands[2:5]]
            for dst, lut_op in ((x.operands[0], x.operands[5]), (x.operands[1], x.operands[6])):
                lut = _imm(lut_op)
                outs = (
                    {
                        (lut >> (4 * a + 2 * b + c)) & 1
                        for a in ((ins3[0],) if ins3[0] is not None else (0, 1))
                        for b in ((ins3[1],) if ins3[1] is not None else (0, 1))
                        for c in ((ins3[2],) if ins3[2] is not None else (0, 1))
                    }
                    if lut is not None
                    else {0, 1}
                )
                if dst.lstrip("!") not in ("PT", "UPT"):
                    preds[dst.lstrip("!")] = bool(outs.pop()) if len(outs) == 1 else None
            continue
        for w in written:
            if w.startswith(("P", "UP")):
                preds[w] = None
            else:
                regs[w] = None
    return known


@dataclass
class Count:
    static: int
    per_thread: float
    loops: list[dict]
    loops_without_trip: int
    resolved_branches: int


def _source_line(path: str, line: int) -> str:
    try:
        return _read_lines(path)[line - 1].strip()
    except (OSError, IndexError):
        return ""


@functools.cache
def _read_lines(path: str) -> list[str]:
    return Path(path).read_text().splitlines()


def dynamic_count(
    ins: list[Ins], labels: dict[str, int], launch: Launch, spec: Spec | None, ctx: Ctx
) -> Count:
    """Instructions a warp issues per thread (see the module doc)."""
    n = len(ins)
    known = resolve_uniform_branches(ins, labels, param_values(launch))
    # reachability over the CFG (CALL targets are not followed: slow paths count zero)
    reach = [False] * n
    stack = [0] if n else []
    while stack:
        i = stack.pop()
        while 0 <= i < n and not reach[i]:
            reach[i] = True
            x = ins[i]
            if x.op.startswith("BRA") and x.target in labels:
                g = known.get(i) if x.guard else True
                if x.op.startswith("BRA.DIV"):
                    # taken only by a diverged warp at a *_sync intrinsic with a full mask
                    # (to an out-of-line WARPSYNC.COLLECTIVE copy that branches back): the
                    # kernels call them converged, so the fast path counts, not a false loop
                    g = False
                if g is not False:
                    stack.append(labels[x.target])
                if g is True:
                    break
            elif x.op == "EXIT" or x.op.startswith(("RET", "BRX", "JMX")):
                if not x.guard or known.get(i) is True:
                    break
            i += 1
    # loops: reachable backward branches
    loops = []
    for i, x in enumerate(ins):
        if reach[i] and x.op.startswith("BRA") and x.target in labels and labels[x.target] <= i:
            head = labels[x.target]
            if head == i and not x.guard:
                continue  # the self-branch padding after EXIT
            src = next((_source_line(f, ln) for f, ln in x.chain), "")
            for f, ln in x.chain:  # the first line of the chain that is a loop
                t = _source_line(f, ln)
                if t.startswith(("for", "while", "do")) or " for (" in t:
                    src = t
                    break
            loops.append({"head": head, "end": i, "source": src})
    loops.sort(key=lambda lp: (lp["head"], lp["end"]))
    trips = spec.trips(ctx) if spec else {}
    weights = spec.weights(ctx) if spec else {}
    seen: dict[str, int] = {}
    missing = 0
    for lp in loops:
        key = next((k for k in trips if k in lp["source"]), None)
        if key is None:
            lp["trip"], lp["trip_known"] = 1.0, False
            missing += 1
            continue
        values = trips[key]
        k = seen.get(key, 0)
        seen[key] = k + 1
        lp["trip"], lp["trip_known"] = float(values[min(k, len(values) - 1)]), True
    mult = np.ones(n)
    for lp in loops:
        mult[lp["head"] : lp["end"] + 1] *= lp["trip"]
    # "outside" weights, (weight, loop key): only for instructions outside every SASS loop of
    # that key (nvcc's peeled iterations share the loop body's source lines)
    inside: dict[str, np.ndarray] = {}
    for wt in weights.values():
        if isinstance(wt, tuple) and wt[1] not in inside:
            mask = np.zeros(n, bool)
            for lp in loops:
                if wt[1] in lp["source"]:
                    mask[lp["head"] : lp["end"] + 1] = True
            inside[wt[1]] = mask
    total = 0.0
    static = 0
    for i, x in enumerate(ins):
        if not reach[i]:
            continue
        if x.op.startswith("BRA") and x.target in labels and labels[x.target] == i:
            continue
        static += 1
        w = 1.0
        if weights:
            texts = [_source_line(f, ln) for f, ln in x.chain]
            for pat, wt in weights.items():  # every matching pattern, once
                if isinstance(wt, tuple):
                    if inside[wt[1]][i]:
                        continue
                    wt = wt[0]
                if any(pat in t for t in texts):
                    w *= wt
        total += mult[i] * w
        # where the count goes: each instruction to its innermost loop (the shortest around it)
        around = [k for k, lp in enumerate(loops) if lp["head"] <= i <= lp["end"]]
        if around:
            inner = min(around, key=lambda k: loops[k]["end"] - loops[k]["head"])
            loops[inner]["insts_per_thread"] = loops[inner].get("insts_per_thread", 0.0)
            loops[inner]["insts_per_thread"] += mult[i] * w
    for lp in loops:
        lp.pop("head"), lp.pop("end")
        lp.setdefault("insts_per_thread", 0.0)
    return Count(static, total, loops, missing, len(known))


# --- the model --------------------------------------------------------------------------------


def occupancy(regs: int, shared: int, block_threads: int, dev: Device = H200) -> dict:
    warps = math.ceil(block_threads / 32)
    per_warp = math.ceil(max(regs, 1) * 32 / dev.reg_alloc_unit) * dev.reg_alloc_unit
    by_regs = (dev.regs_per_sm // per_warp) // warps
    by_warps = dev.max_warps_per_sm // warps
    by_smem = (
        dev.smem_per_sm // (shared + dev.smem_reserved_per_block)
        if shared
        else dev.max_blocks_per_sm
    )
    blocks = min(dev.max_blocks_per_sm, by_regs, by_warps, by_smem)
    limit = min(
        ("registers", by_regs), ("warps", by_warps), ("shared", by_smem), key=lambda t: t[1]
    )[0]
    return {
        "blocks_per_sm": blocks,
        "occupancy": blocks * warps / dev.max_warps_per_sm,
        "limited_by": limit if blocks < dev.max_blocks_per_sm else "blocks",
    }


def model(
    size: tuple[int, int] = (8192, 6144),
    view: tuple[int, int] = (2048, 1536),
    method: str = "mhc",
    assists: str = "default",
    magnifier: bool = False,
    sass: bool = True,
    schedule: str = "auto",
) -> dict:
    """The model of one frame as a JSON-ready dict (see the module doc)."""
    settings = build_settings(method, view, assists, magnifier)
    launches = record_launches(settings, size, schedule=schedule)
    attach_signatures(launches)
    tools = toolchain()
    sass_error = None
    if not sass:
        sass_error = "not asked (--no-sass)"
    elif tools["compiler"] is None or tools["nvdisasm"] is None:
        sass_error = (
            "unavailable: needs NVRTC (cuda-bindings + nvidia-cuda-nvrtc) or nvcc, and "
            "nvdisasm (pip install nvidia-cuda-nvdisasm)"
        )
    compiled: dict[tuple, Compiled] = {}
    rows = []
    dev = H200
    for lc in launches:
        ctx = Ctx(lc, lc.named(), size, view)
        spec = KERNELS.get(lc.kernel)
        recorded_grid = lc.grid
        if spec is not None and spec.grid is not None:
            lc.grid = tuple(spec.grid(ctx))
        read, write = (spec.traffic if spec else default_traffic)(ctx)
        row: dict[str, Any] = {
            "kernel": lc.kernel,
            "module": lc.module,
            "grid": list(lc.grid),
            "block": list(lc.block),
            "threads": lc.threads,
            "access_pattern": spec.doc
            if spec
            else "default: const pointers read once, others written once",
            "table_entry": spec is not None,
            "dram_read_bytes": int(read),
            "dram_write_bytes": int(write),
            "dram_bytes": int(read + write),
            "dram_floor_ms": (read + write) / dev.dram_bytes_per_s * 1e3,
        }
        if tuple(lc.grid) != tuple(recorded_grid):  # the modelled device's grid, not cudasim's
            row["grid_recorded"] = list(recorded_grid)
        row.update(
            {
                "sass_static": None,
                "insts_per_thread": None,
                "insts_per_sensor_pixel": None,
                "insts_per_view_pixel": None,
                "warp_insts": None,
                "issue_floor_ms": None,
                "registers": None,
                "shared_bytes": None,
            }
        )
        if sass_error is None and lc.module is not None:
            key = (lc.module, lc.defines)
            if key not in compiled:
                compiled[key] = compile_module(lc.module, lc.defines)
            comp = compiled[key]
            funcs = parse_sass(comp.sass)
            if lc.kernel in funcs:
                ins, labels = funcs[lc.kernel]
                cnt = dynamic_count(ins, labels, lc, spec, ctx)
                warp_insts = lc.warps * cnt.per_thread
                res = comp.resources.get(lc.kernel, {})
                row.update(
                    {
                        "sass_static": cnt.static,
                        "insts_per_thread": cnt.per_thread,
                        "insts_per_sensor_pixel": lc.threads * cnt.per_thread / ctx.sites,
                        "insts_per_view_pixel": lc.threads * cnt.per_thread / (view[0] * view[1]),
                        "warp_insts": warp_insts,
                        "issue_floor_ms": warp_insts / dev.warp_issue_per_s * 1e3,
                        "loops": cnt.loops,
                        "loops_without_trip": cnt.loops_without_trip,
                        "uniform_branches_resolved": cnt.resolved_branches,
                        "registers": res.get("registers"),
                        "shared_bytes": res.get("shared_bytes"),
                        "spill_store_bytes": res.get("spill_store_bytes"),
                    }
                )
                if res:
                    row.update(occupancy(res["registers"], res["shared_bytes"], lc.block_threads))
                row["compiler"] = comp.compiler
        if spec is not None:
            row.update(spec.extra(ctx))
        row["floor_ms"] = max(row["dram_floor_ms"], row["issue_floor_ms"] or 0.0)
        row["bound"] = (
            None
            if row["issue_floor_ms"] is None
            else ("issue" if row["issue_floor_ms"] > row["dram_floor_ms"] else "dram")
        )
        rows.append(row)
    others = [
        {"op": name, "dram_bytes": int(b), "dram_floor_ms": b / dev.dram_bytes_per_s * 1e3}
        for name, b in other_ops(settings, size, view, launches)
    ]
    kernel_bytes = sum(r["dram_bytes"] for r in rows)
    have_issue = all(r["issue_floor_ms"] is not None for r in rows)
    totals = {
        "launches": len(rows),
        "dram_bytes": kernel_bytes,
        "dram_bytes_with_other_ops": kernel_bytes + sum(o["dram_bytes"] for o in others),
        "dram_floor_ms": kernel_bytes / dev.dram_bytes_per_s * 1e3,
        "issue_floor_ms": sum(r["issue_floor_ms"] for r in rows) if have_issue else None,
        "warp_insts": sum(r["warp_insts"] for r in rows) if have_issue else None,
        "frame_floor_ms": sum(r["floor_ms"] for r in rows) if have_issue else None,
    }
    return {
        "schema": "viewfinder.gpu_model/1",
        "device": {
            "name": dev.name,
            "arch": ARCH,
            "dram_bytes_per_s": dev.dram_bytes_per_s,
            "sms": dev.sms,
            "warp_issue_per_clock_per_sm": dev.warp_issue_per_clock_per_sm,
            "clock_hz": dev.clock_hz,
        },
        "measured": False,
        "config": {
            "size": list(size),
            "view": list(view),
            "method": method,
            "assists": assists,
            "magnifier": magnifier,
            "schedule": schedule,
        },
        "toolchain": {**tools, "sass": sass_error or "ok"},
        "kernels": rows,
        "other_ops": others,
        "totals": totals,
    }


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(result: dict) -> str:
    cfg = result["config"]
    lines = [
        f"gpu_model: {cfg['size'][0]}x{cfg['size'][1]} -> {cfg['view'][0]}x{cfg['view'][1]}, "
        f"{cfg['method']}, assists {cfg['assists']} on {result['device']['name']} "
        f"(SASS: {result['toolchain']['sass']})",
        f"{'kernel':<22}{'threads':>10}{'DRAM MB':>9}{'SASS':>6}{'ins/thr':>9}"
        f"{'ins/spx':>8}{'ins/vpx':>8}{'regs':>5}{'smem':>6}{'occ':>5}"
        f"{'DRAM ms':>8}{'issue ms':>9}{'bound':>6}",
    ]
    for r in result["kernels"]:
        lines.append(
            f"{r['kernel']:<22}{r['threads']:>10}{r['dram_bytes'] / 1e6:>9.1f}"
            f"{_fmt(r['sass_static'], 'd'):>6}{_fmt(r['insts_per_thread'], '.0f'):>9}"
            f"{_fmt(r['insts_per_sensor_pixel'], '.0f'):>8}"
            f"{_fmt(r['insts_per_view_pixel'], '.0f'):>8}"
            f"{_fmt(r['registers'], 'd'):>5}{_fmt(r['shared_bytes'], 'd'):>6}"
            f"{_fmt(r.get('occupancy'), '.2f'):>5}{r['dram_floor_ms']:>8.3f}"
            f"{_fmt(r['issue_floor_ms'], '.3f'):>9}{r['bound'] or '-':>6}"
        )
    t = result["totals"]
    lines.append(
        f"{'frame (kernels)':<22}{'':>10}{t['dram_bytes'] / 1e6:>9.1f}{'':>48}"
        f"{t['dram_floor_ms']:>8.3f}{_fmt(t['issue_floor_ms'], '.3f'):>9}"
    )
    lines.append(
        f"frame floor (sum of per-kernel max): {_fmt(t['frame_floor_ms'], '.3f')} ms; "
        f"DRAM with non-kernel ops: {t['dram_bytes_with_other_ops'] / 1e6:.1f} MB"
    )
    for o in result["other_ops"]:
        lines.append(f"  + {o['op']}: {o['dram_bytes'] / 1e6:.1f} MB")
    for r in result["kernels"]:
        if r.get("loops_without_trip"):
            lines.append(
                f"  ! {r['kernel']}: {r['loops_without_trip']} loop(s) without a trip count "
                f"(counted once: a lower bound)"
            )
    return "\n".join(lines)


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"size must be WxH, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.gpu_model", description=__doc__.split("\n")[0]
    )
    p.add_argument("--size", type=_size, default=(8192, 6144), help="sensor WxH")
    p.add_argument("--view", type=_size, default=(2048, 1536), help="view WxH")
    p.add_argument("--method", choices=("mhc", "bilinear", "hq"), default="mhc")
    p.add_argument("--assists", choices=("default", "all", "none"), default="default")
    p.add_argument("--magnifier", action="store_true", help="model the magnifier's launches too")
    p.add_argument(
        "--schedule",
        choices=("auto", "tiled", "per-stage"),
        default="auto",
        help="the pipeline's device schedule (per-stage: the kernels before the tiled pass)",
    )
    p.add_argument("--no-sass", action="store_true", help="DRAM bytes only")
    p.add_argument("--out", type=Path, help="JSON file")
    args = p.parse_args(argv)
    result = model(
        args.size,
        args.view,
        args.method,
        args.assists,
        args.magnifier,
        sass=not args.no_sass,
        schedule=args.schedule,
    )
    print(table(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
