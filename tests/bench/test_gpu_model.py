"""bench.gpu_model: the frame's launches on cudasim (not executed), DRAM bytes, SASS counts.

The 50 MP model takes seconds: the launches are recorded without running, and the cubins are
cached per source hash (~/.cache/viewfinder/gpu_model). Without NVRTC/nvcc or nvdisasm the
SASS part is reported unavailable and only the DRAM bound is checked.
"""

from __future__ import annotations

import json

import pytest

from bench import gpu_model

# The model of the kernels after the tiled pass v4 (bench/results/2026-12-02-model-after.json,
# MHC, default assists, the default schedule: vf_tile_pass + vf_view_pass, the tile pass's
# persistent grid as on an H200). Bounds are 1.5x these: a change that doubles the traffic or
# the instructions fails. Before the rewrite (2026-12-02-model-before.json): 1.36 GB and
# 1.35 ms at 50 MP; the tiled pass v1 (its "tiled_v1"): 188 MB and 1.18 ms; v2 ("tiled_v2"):
# 195.6 MB and 0.903 ms, 1080p 22.2 MB and 0.074 ms; v3 ("tiled_v3"): 197.1 MB and 0.470 ms,
# 1080p 22.4 MB and 0.056 ms.
AFTER_DRAM_BYTES = 197.1e6  # 8192x6144 -> 2048x1536
AFTER_ISSUE_FLOOR_MS = 0.455
AFTER_1080P_DRAM_BYTES = 22.4e6  # 1920x1080 -> 1280x720
AFTER_1080P_ISSUE_FLOOR_MS = 0.048
BOUND = 1.5

ROW_KEYS = {
    "kernel",
    "module",
    "grid",
    "block",
    "threads",
    "access_pattern",
    "dram_read_bytes",
    "dram_write_bytes",
    "dram_bytes",
    "dram_floor_ms",
    "sass_static",
    "insts_per_thread",
    "insts_per_sensor_pixel",
    "insts_per_view_pixel",
    "warp_insts",
    "issue_floor_ms",
    "registers",
    "shared_bytes",
    "floor_ms",
    "bound",
}


def _sass_available() -> str | None:
    tools = gpu_model.toolchain()
    if tools["compiler"] is None:
        return "no NVRTC (cuda-bindings + nvidia-cuda-nvrtc) and no nvcc"
    if tools["nvdisasm"] is None:
        return "no nvdisasm (pip install nvidia-cuda-nvdisasm)"
    return None


@pytest.fixture(scope="module")
def result_50mp() -> dict:
    return gpu_model.model((8192, 6144), (2048, 1536), "mhc", "default", sass=not _sass_available())


@pytest.fixture(scope="module")
def result_1080p() -> dict:
    return gpu_model.model((1920, 1080), (1280, 720), "mhc", "default", sass=not _sass_available())


def test_schema_and_dram_bound(result_50mp: dict, tmp_path) -> None:
    r = json.loads(json.dumps(result_50mp))  # JSON-ready
    assert r["schema"] == "viewfinder.gpu_model/1"
    assert r["measured"] is False
    assert r["config"]["size"] == [8192, 6144] and r["config"]["view"] == [2048, 1536]
    assert r["kernels"], "no launch recorded"
    for row in r["kernels"]:
        assert ROW_KEYS <= set(row), ROW_KEYS - set(row)
        assert row["threads"] > 0 and row["dram_bytes"] >= 0
    t = r["totals"]
    assert t["launches"] == len(r["kernels"])
    assert t["dram_bytes"] == sum(row["dram_bytes"] for row in r["kernels"])
    # at least the raw frame is read and the view written
    assert t["dram_bytes"] >= 8192 * 6144 * 2 + 2048 * 1536 * 4
    assert t["dram_bytes"] < BOUND * AFTER_DRAM_BYTES, t["dram_bytes"]
    assert t["dram_floor_ms"] == pytest.approx(t["dram_bytes"] / 4.8e12 * 1e3)


def test_issue_floor_bound(result_50mp: dict) -> None:
    reason = _sass_available()
    if reason:
        pytest.skip(f"SASS unavailable: {reason}")
    t = result_50mp["totals"]
    assert result_50mp["toolchain"]["sass"] == "ok"
    assert t["issue_floor_ms"] is not None
    assert 0 < t["issue_floor_ms"] < BOUND * AFTER_ISSUE_FLOOR_MS, t["issue_floor_ms"]
    for row in result_50mp["kernels"]:
        assert row["sass_static"] > 0 and row["insts_per_thread"] > 0
        assert row["registers"] is not None and row["registers"] > 0
        assert 0 < row["occupancy"] <= 1
        warps = row["threads"] // 32
        assert row["issue_floor_ms"] == pytest.approx(
            warps * row["insts_per_thread"] / (132 * 4 * 1.98e9) * 1e3
        )
    assert t["frame_floor_ms"] == pytest.approx(sum(r["floor_ms"] for r in result_50mp["kernels"]))


def test_default_schedule_is_the_tiled_pass(result_50mp: dict) -> None:
    """At 50 MP -> 2048x1536 the frame is vf_tile_pass + vf_view_pass: no peaking chain."""
    names = [r["kernel"] for r in result_50mp["kernels"]]
    assert "vf_tile_pass" in names, names
    assert not [n for n in names if n.startswith("vf_peak_")], names
    assert "vf_preview_raw" not in names and "vf_raw_histogram" not in names, names
    tile = next(r for r in result_50mp["kernels"] if r["kernel"] == "vf_tile_pass")
    assert tile["table_entry"], "vf_tile_pass fell back to the default traffic rule"
    # persistent blocks as on an H200 (4 per SM, 132 SMs), not cudasim's host CPU count
    tiles = 205 * 154
    assert tile["grid"] == [4 * 132, 1, 1] and tile["threads"] == 4 * 132 * 256
    assert tile["tile"]["tiles"] == tiles and tile["tile"]["blocks"] == 4 * 132
    assert tile["tile"]["tiles_per_block"] == pytest.approx(tiles / 528)
    assert tile["grid_recorded"] != tile["grid"]
    # raw read once + the 4-site halo of 40 x 40 pool regions (48^2 / 40^2 = 1.44), view once
    assert tile["tile"]["tile_v"] == 10
    assert tile["tile"]["raw_load_overhead"] == pytest.approx(48**2 / 40**2, rel=0.01)
    assert tile["dram_read_bytes"] == pytest.approx(8192 * 6144 * 2 * 1.44, rel=0.02)
    assert tile["dram_write_bytes"] >= 2048 * 1536 * (4 + 1)
    # the histogram flush: once per block, not per tile
    assert tile["l2_atomics_max"] == 528 * 4 * 1024


def test_tile_pass_loops_all_have_trip_counts(result_50mp: dict, result_1080p: dict) -> None:
    """Every SASS loop of vf_tile_pass is keyed (a renamed ``for`` line fails here, not
    silently as a loop counted once), with the RAW zebra's pooling loops too, and the luma
    loop has the hand-checked trip counts (the module doc)."""
    if _sass_available():
        pytest.skip("SASS unavailable")
    all_1080p = gpu_model.model((1920, 1080), (1280, 720), "mhc", "all")
    for result in (result_50mp, result_1080p, all_1080p):
        tile = next(r for r in result["kernels"] if r["kernel"] == "vf_tile_pass")
        assert tile["loops"] and tile["loops_without_trip"] == 0, [
            lp["source"] for lp in tile["loops"] if not lp["trip_known"]
        ]
    tile = next(r for r in result_50mp["kernels"] if r["kernel"] == "vf_tile_pass")
    loops = {lp["source"]: lp for lp in tile["loops"]}
    tile_loop = loops["for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {"]
    luma = loops["for (int q = tid; q < nlp; q += nth) {"]
    assert tile_loop["trip"] == pytest.approx(205 * 154 / 528)
    assert luma["trip"] == pytest.approx(_luma_strip_trips())
    # 72 SASS instructions a strip of 4 (NVRTC 13.5): 9640 per thread
    per_iteration = luma["insts_per_thread"] / (tile_loop["trip"] * luma["trip"])
    assert 60 <= per_iteration <= 84, per_iteration
    # the loops account for nearly all of the count
    assert sum(lp["insts_per_thread"] for lp in tile["loops"]) > 0.95 * tile["insts_per_thread"]


def _luma_strip_trips() -> float:
    """The luma loop's mean trip count at 8192x6144 -> 2048x1536 by hand (the module doc):
    warp w runs ceil((n - 32 w) / 256) iterations of n = rows x strips of 4 a row; rows 43
    (top row of tiles), 46, 27 (bottom); strips 11 (left column), 12, 9 (right)."""

    def warps(n: int) -> float:
        return sum(max(0, -(-(n - 32 * w) // 256)) for w in range(8)) / 8

    rows, strips = {43: 1, 46: 152, 27: 1}, {11: 1, 12: 203, 9: 1}
    total = sum(rows[r] * strips[s] * warps(r * s) for r in rows for s in strips)
    assert warps(46 * 12) == 2.25  # interior tiles: warps 0-1 three, 2-7 two
    return total / (154 * 205)


def test_tile_model_trip_counts_by_hand() -> None:
    """The tile geometry without SASS (see the module doc's hand check)."""
    assert gpu_model._block_loop([2916], 256).tolist() == [[12] * 4 + [11] * 4]
    rem, unr = gpu_model._block_loop([4096], 256, by=4)
    assert rem.tolist() == [[0] * 8] and unr.tolist() == [[4] * 8]
    # a warp is two rows of 16 threads: 46 rows -> ty <= 13 run 3, ty 14-15 run 2
    R, C = gpu_model._loop2d([46], [46], (16, 16))
    assert R.tolist() == [[3] * 7 + [2]] and C.tolist() == [[3] * 8]
    R, C = gpu_model._loop2d([10], [10], (16, 16))
    assert R.tolist() == [[1] * 5 + [0] * 3] and C.tolist() == [[1] * 5 + [0] * 3]
    t = gpu_model._tile_model(8192, 6144, 2048, 1536, 10, 528, (16, 16), 0, 1024)
    assert t["tiles"] == 205 * 154 and t["tile_loop"] == pytest.approx(205 * 154 / 528)
    assert t["tiles_per_block_max"] == 60
    assert t["lum"] == pytest.approx(_luma_strip_trips())
    # load: 48 x 48 sites, 24 x 24 quads over 256 threads: warps 0-1 three iterations, 2-7
    # two (2.25); the last column of tiles (P 32 wide: 24 x 20 quads) warps 0-6 two, 7 one;
    # the last row (P 24 rows: 16 x 24) warps 0-3 two, 4-7 one; the corner 16 x 20 (1.25)
    quads = 153 * 204 * 2.25 + 153 * 1.875 + 204 * 1.5 + 1.25
    assert t["quad_interior"] + t["quad_edge"] == pytest.approx(quads / (154 * 205))
    assert t["raw_sites_loaded"] == (48 * 153 + 32) * (48 * 204 + 40)
    assert 0.5 < t["quad_hist"] < 1.0
    # 10 x 10 pixels, pixel p on thread p: warps 0-3 one iteration each (p < 100), 4-7 none
    assert t["pixels"] == pytest.approx(0.5)
    # blocks of 4 x 4 sites; in the bottom row of tiles (6 view rows) warps 2-3 have no pixel
    groups = 205 * 154 * 4
    assert t["pool_rows"] == pytest.approx(4 * (groups - 2 * 205) / groups)
    assert t["pool_quads"] == 1 and t["pool_peel"] == 0
    # 5 taps a side, one of weight 0: 4 x 4 sites demosaiced a view pixel, one colour arm each
    # (the warps without a pixel run no tap)
    assert t["tap_rows"] * t["ty"] == pytest.approx(4 * (groups - 2 * 205) / groups)
    assert t["tap_body"] * t["tx"] == 4
    assert t["arm_green"] == 0.5 and t["arm_rb"] == 0.5
    assert t["edge_fraction"] == pytest.approx((205 * 154 - 203 * 152) / (205 * 154))
    # 1080p: 16 x 16 pixels (two iterations for 20 x 20), blocks of 1 or 2 sites (the
    # remainder loop, peeled: 2 of 3)
    t = gpu_model._tile_model(1920, 1080, 1280, 720, 16, 528, (16, 16), 0, 1024)
    assert t["pixels"] == pytest.approx(1.0) and t["lane_use"] == pytest.approx(1.0)
    assert t["pool_quads"] == 0 and t["pool_peel"] == pytest.approx(2 / 3)
    t = gpu_model._tile_model(1920, 1080, 1280, 720, 20, 528, (16, 16), 0, 1024)
    assert t["pixels"] == pytest.approx((8 + 5) / 8)  # p = 256 + 32 w < 400: warps 0-4
    assert t["pool_quads"] == 0 and t["pool_peel"] == pytest.approx(2 / 3)


def test_bounds_1080p(result_1080p: dict) -> None:
    t = result_1080p["totals"]
    assert t["dram_bytes"] < BOUND * AFTER_1080P_DRAM_BYTES, t["dram_bytes"]
    if not _sass_available():
        assert t["issue_floor_ms"] < BOUND * AFTER_1080P_ISSUE_FLOOR_MS, t["issue_floor_ms"]


def test_straight_line_kernel_counts_each_instruction_once() -> None:
    """A kernel without loops issues its reachable SASS once per thread (the hand check of
    vf_peak_luma in the module doc), on the per-stage schedule that still launches it."""
    if _sass_available():
        pytest.skip("SASS unavailable")
    r = gpu_model.model((2048, 1536), (1024, 768), "mhc", "default", schedule="per-stage")
    names = [row["kernel"] for row in r["kernels"]]
    assert "vf_tile_pass" not in names, names
    rows = [row for row in r["kernels"] if row["kernel"] == "vf_peak_luma"]
    assert rows, names
    assert not rows[0]["loops"]
    assert rows[0]["insts_per_thread"] == rows[0]["sass_static"]


def test_without_sass_dram_only(monkeypatch) -> None:
    monkeypatch.setattr(
        gpu_model, "toolchain", lambda: {"compiler": None, "nvdisasm": None, "cuobjdump": None}
    )
    r = gpu_model.model((640, 480), (320, 240), "bilinear", "none")
    assert r["toolchain"]["sass"].startswith("unavailable")
    assert r["totals"]["issue_floor_ms"] is None and r["totals"]["dram_bytes"] > 640 * 480 * 2
    assert all(row["insts_per_thread"] is None for row in r["kernels"])
    assert "unavailable" in gpu_model.table(r) or "-" in gpu_model.table(r)


def test_default_traffic_reads_const_and_writes_the_rest() -> None:
    launch = gpu_model.Launch(
        "vf_new",
        None,
        (),
        (1, 1, 1),
        (32, 1, 1),
        [(True, "u2", 100), (False, "i4", 4), (True, "f4", 40)],
        {1: 7},
        [
            gpu_model.Param("raw", "unsigned short", True, True),
            gpu_model.Param("n", "int", False, False),
            gpu_model.Param("out", "float", True, False),
        ],
    )
    ctx = gpu_model.Ctx(launch, launch.named(), (10, 5), (5, 2))
    assert gpu_model.default_traffic(ctx) == (100, 40)
    assert launch.named() == {"raw": 100, "n": 7, "out": 40}


def test_signature_constness_from_the_preprocessed_source() -> None:
    sigs = gpu_model.module_signatures("histogram")
    params = {p.name: p for p in sigs["vf_raw_histogram"]}
    assert params["raw"].pointer and params["raw"].const
    assert params["hist"].pointer and not params["hist"].const
    assert not params["width"].pointer


def test_occupancy_limits() -> None:
    assert gpu_model.occupancy(32, 0, 256)["occupancy"] == 1.0
    occ = gpu_model.occupancy(64, 0, 256)  # 64 regs: 32 warps of 64
    assert occ["occupancy"] == 0.5 and occ["limited_by"] == "registers"
    occ = gpu_model.occupancy(32, 100_000, 256)  # two blocks of shared memory per SM
    assert occ["blocks_per_sm"] == 2 and occ["limited_by"] == "shared"


def test_cli_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "m.json"
    assert (
        gpu_model.main(["--size", "64x48", "--view", "32x24", "--no-sass", "--out", str(out)]) == 0
    )
    assert "frame (kernels)" in capsys.readouterr().out
    assert json.loads(out.read_text())["config"]["size"] == [64, 48]


def test_predicate_copies_of_uniform_branches_are_resolved() -> None:
    """A pointer argument tested once before a loop and copied into a predicate register
    inside it (PLOP3.LUT P1 = !UP0, nvcc's form), across a BSSY: the branch is known."""
    Ins = gpu_model.Ins

    def ins(off: int, op: str, operands: list[str], guard: str = "", target=None) -> Ins:
        return Ins(off, guard, op, operands, target, ())

    code = [
        ins(0, "ULDC.64", ["UR4", "c[0x0][0x210]"]),
        ins(1, "BSSY", ["B0"], target=".L_join"),
        ins(2, "UISETP.NE.U32.AND", ["UP0", "UPT", "UR4", "URZ", "UPT"]),
        ins(3, "UISETP.NE.AND.EX", ["UP0", "UPT", "UR5", "URZ", "UPT", "UP0"]),
        ins(4, "BSYNC", ["B0"]),  # .L_join: BSSY's reconvergence point, no path from 1
        ins(5, "IADD3", ["R0", "R0", "0x1", "RZ"]),  # .L_loop
        ins(6, "PLOP3.LUT", ["P1", "PT", "PT", "PT", "UP0", "0x40", "0x0"]),
        ins(7, "BRA", [], guard="@P1", target=".L_skip"),
        ins(8, "IADD3", ["R1", "R1", "0x1", "RZ"]),
        ins(9, "ISETP.GE.AND", ["P0", "PT", "R0", "R2", "PT"]),  # .L_skip
        ins(10, "BRA", [], guard="@!P0", target=".L_loop"),
        ins(11, "EXIT", []),
    ]
    labels = {".L_join": 4, ".L_loop": 5, ".L_skip": 9}
    for pointer, skipped in ((1, False), (0, True)):
        params = {0x210: (pointer, 32), 0x214: (0, 32)}
        known = gpu_model.resolve_uniform_branches(code, labels, params)
        assert known.get(7) is skipped, (pointer, known)
        assert 10 not in known  # the loop's own branch stays data-dependent
