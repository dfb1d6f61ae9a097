"""viewfinder.bench.report: the run table, the compare table and the charts."""

from __future__ import annotations

import json

import pytest

from viewfinder.bench import report, suite


def _payload(started, rows, cpu="Test CPU", gpu=None, backend="numpy"):
    return {
        "schema": suite.SCHEMA,
        "tool": "viewfinder bench",
        "started": started,
        "duration_s": 1.0,
        "options": {"backend": backend, "quick": True, "suites": ["pipeline"]},
        "machine": {
            "cpu": cpu,
            "cpu_count": 2,
            "load_average": [1.0, 1.0, 1.0],
            "gpu": gpu,
            "gpu_driver": None,
            "cuda_runtime": None,
            "cupy": None,
        },
        "roofline": None,
        "rows": rows,
        "notes": [],
    }


def _row(rid, ms, kind="ours", **kw):
    return suite.make_row(
        id=rid,
        suite="pipeline",
        size="1920x1080",
        case="c",
        stage="total",
        impl=kw.pop("impl", "viewfinder"),
        kind=kind,
        timer="wall",
        median_ms=ms,
        p10_ms=ms,
        p90_ms=ms,
        n=3,
        **kw,
    )


A = _payload(
    "2026-12-01T10:00:00+00:00",
    [
        _row("pipeline total", 10.0, peer="peer ocv", x_peer=5.0),
        _row("peer ocv", 2.0, kind="peer", impl="opencv bilinear"),
        _row("only in A", 1.0),
    ],
)
B = _payload(
    "2026-12-02T10:00:00+00:00",
    [_row("pipeline total", 20.0), _row("peer ocv", 1.0, kind="peer"), _row("only in B", 3.0)],
    cpu="Other CPU",
    gpu="NVIDIA H200",
    backend="cupy",
)


def _cells(table, rid):
    for line in table.splitlines():
        if line.startswith(rid + " ") or line == rid:
            return line[len(rid) :].split()
    raise AssertionError(f"no row {rid!r} in\n{table}")


def test_compare_table_side_by_side_with_ratios():
    table = report.compare_table([A, B], ["a.json", "b.json"])
    lines = table.splitlines()
    assert lines[0].startswith("A: a.json — Test CPU (2 cores)")
    assert lines[1].startswith("B: b.json — Other CPU (2 cores), NVIDIA H200")
    assert lines[2].split() == ["what", "A", "ms", "B", "ms", "B/A"]
    assert _cells(table, "pipeline total") == ["10.0", "20.0", "2.00"]
    assert _cells(table, "peer ocv") == ["2.00", "1.00", "0.50"]
    assert _cells(table, "only in A") == ["1.00", "-"]
    assert _cells(table, "only in B") == ["-", "3.00"]
    # rows in the order they first appear: A's, then B's new ones
    order = [line.split()[0] + " " + line.split()[1] for line in lines[4:8]]
    assert order == ["pipeline total", "peer ocv", "only in", "only in"]


def test_compare_three_runs_ratios_against_the_first():
    C = json.loads(json.dumps(B))
    C["rows"][0]["median_ms"] = 5.0
    table = report.compare_table([A, B, C])
    assert _cells(table, "pipeline total") == ["10.0", "20.0", "2.00", "5.00", "0.50"]


def test_compare_needs_two_runs():
    with pytest.raises(ValueError, match="two or more"):
        report.compare_table([A])


def test_run_table_shows_ratio_and_peer_name():
    table = report.run_table(A)
    assert _cells(table, "pipeline total")[:4] == ["10.0", "10.0-10.0", "x5.00", "opencv"]


def test_load_rejects_what_is_not_a_result(tmp_path):
    good = tmp_path / "a.json"
    good.write_text(json.dumps(A))
    assert report.load(good)["rows"][0]["id"] == "pipeline total"
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="b.json is not JSON"):
        report.load(bad)
    other = tmp_path / "c.json"
    other.write_text(json.dumps({"benchmark": "pipeline"}))
    with pytest.raises(ValueError, match="c.json: not a viewfinder bench result"):
        report.load(other)
    with pytest.raises(ValueError, match="cannot read"):
        report.load(tmp_path / "missing.json")


def test_charts_are_pngs(tmp_path):
    png = report.compare_chart([A, B], tmp_path / "cmp.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    png = report.chart(A, tmp_path / "run.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
