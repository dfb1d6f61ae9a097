"""viewfinder.bench.suite: the JSON of a run (schema, rows, machine, ratios) and its checks.

Small frames (the suite's sizes are the CLI's business): the figures are not looked at, only
the shape of what a run writes.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from viewfinder.bench import suite

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def payload():
    options = suite.Options(
        suites=["pipeline"], sizes=[(64, 48)], backend="numpy", quick=True, repeat=2
    )
    return suite.run(options, command=["viewfinder", "bench", "test"])


def test_payload_is_valid_json_with_the_schema(payload):
    back = json.loads(json.dumps(payload))
    assert suite.validate(back) is back
    assert back["schema"] == suite.SCHEMA
    assert back["options"] == {
        "suites": ["pipeline"],
        "sizes": ["64x48"],
        "backend": "numpy",
        "quick": True,
        "repeat": 2,
        "peers": True,
    }
    assert back["notes"] == [] or all(isinstance(n, str) for n in back["notes"])


def test_machine_names_cpu_gpu_and_load(payload):
    m = payload["machine"]
    assert m["cpu"] and m["cpu_count"] >= 1
    assert len(m["load_average"]) == 3
    # on the numpy backend the GPU fields are there, and None
    for key in ("gpu", "gpu_driver", "cuda_runtime", "cuda_driver", "cupy"):
        assert key in m and m[key] is None
    assert "numpy" in m["versions"]


def test_rows_cover_stages_peers_and_roofline(payload):
    rows = {r["id"]: r for r in payload["rows"]}
    assert all(set(r) == set(suite.ROW_KEYS) for r in payload["rows"])
    total = rows["pipeline 64x48 view16x12 default assists total"]
    assert total["kind"] == "ours" and total["timer"] == "wall" and total["n"] == 2
    assert {
        "pipeline 64x48 view16x12 all assists develop",
        "pipeline 64x48 view16x12 all assists assists",
        "demosaic 64x48 mhc",
        "peer 64x48 opencv bilinear",
        "peer 64x48 opencv VNG",
    } <= set(rows)
    roof = [r for r in payload["rows"] if r["kind"] == "roofline"]
    assert len(roof) == 1 and payload["roofline"]["gb_per_s"] > 0
    # ratios: against OpenCV's bilinear at the same size, and the roofline
    peer = rows["peer 64x48 opencv bilinear"]
    assert total["peer"] == peer["id"]
    assert total["x_peer"] == pytest.approx(total["median_ms"] / peer["median_ms"])
    assert total["x_roofline"] == pytest.approx(total["median_ms"] / total["roofline_ms"])
    expect = (64 * 48 * 2 + 16 * 12 * 4) / (payload["roofline"]["gb_per_s"] * 1e9) * 1e3
    assert total["roofline_ms"] == pytest.approx(expect)


def _broken(payload, how):
    p = copy.deepcopy(payload)
    how(p)
    return p


@pytest.mark.parametrize(
    "how, message",
    [
        (lambda p: p.update(schema="other/1"), "schema"),
        (lambda p: p.pop("machine"), "'machine'"),
        (lambda p: p["machine"].pop("gpu"), "machine has no 'gpu'"),
        (lambda p: p["rows"].append(dict(p["rows"][0])), "repeated"),
        (lambda p: p["rows"][0].update(kind="mine"), "kind"),
        (lambda p: p["rows"][0].pop("x_peer"), "row keys"),
        (lambda p: p["rows"][0].update(median_ms=None), "median_ms"),
        (lambda p: p.update(rows="none"), "'rows'"),
    ],
)
def test_validate_names_what_is_wrong(payload, how, message):
    with pytest.raises(ValueError, match=message):
        suite.validate(_broken(payload, how))
    with pytest.raises(ValueError, match="not a JSON object"):
        suite.validate([1, 2])


def test_size_and_suite_lists():
    assert suite.parse_size_list("1920x1080, 50mp") == [(1920, 1080), (8192, 6144)]
    assert suite.parse_size_list(None) is None
    with pytest.raises(ValueError, match=r"unknown size '640x480': choose from 1920x1080, "):
        suite.parse_size_list("640x480")
    assert suite.parse_suite_list("sim,view,sim") == ["sim", "view"]
    with pytest.raises(ValueError, match="unknown suite 'gpu': choose from pipeline, sim, view"):
        suite.parse_suite_list("sim,gpu")


def test_quick_runs_no_50mp_on_the_cpu():
    assert (8192, 6144) not in suite.default_sizes("numpy", quick=True)
    assert (8192, 6144) in suite.default_sizes("numpy", quick=False)
    assert (8192, 6144) in suite.default_sizes("cupy", quick=True)
    run = suite.Run(suite.Options(backend="numpy", quick=True))
    labels = [label for label, _ in run.plan()]
    assert not any("8192x6144" in label for label in labels)
    assert labels[0].startswith("roofline") and labels[-1] == "capture writes"


@pytest.mark.cudasim
def test_cudasim_run_times_with_events_and_skips_gpu_peers():
    options = suite.Options(
        suites=["pipeline"], sizes=[(64, 48)], backend="cudasim", quick=True, repeat=1
    )
    payload = suite.validate(suite.run(options))
    rows = {r["id"]: r for r in payload["rows"]}
    total = rows["pipeline 64x48 view16x12 default assists total"]
    assert total["timer"] == "cuda-events"
    # the pipeline's own CUDA-event stages, named without their gpu_ prefix
    assert "pipeline 64x48 view16x12 all assists develop" in rows
    assert rows["demosaic 64x48 mhc"]["timer"] == "cuda-events"
    assert not any("npp" in r or "cupy bilinear" in r for r in rows)
    assert payload["roofline"] is None
    assert any("GPU peers" in n for n in payload["notes"])
    assert np.isfinite(total["median_ms"])
