"""`viewfinder bench`: bad input is one line on stderr and exit 2, before anything runs; a
small run writes its JSON and PNG in --out; `bench compare` prints the table."""

from __future__ import annotations

import json

import pytest

from viewfinder import cli
from viewfinder.bench import suite


@pytest.fixture
def nothing_runs(monkeypatch):
    """Fail the test if a run starts."""

    def boom(*a, **k):
        raise AssertionError("a run started")

    monkeypatch.setattr(suite, "Run", boom)


def _one_line_error(capsys, argv):
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err.strip()


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["--suite", "pipeline,gpu"],
            "unknown suite 'gpu': choose from pipeline, sim, view, capture",
        ),
        (
            ["--sizes", "640x480"],
            "unknown size '640x480': choose from 1920x1080, 3840x2160, 4096x3072, 8192x6144",
        ),
        (["--sizes", "huge"], "unknown size 'huge'"),
        (["--backend", "metal"], "unknown backend 'metal': choose from numpy, cupy, cudasim"),
        (["--repeat", "0"], "--repeat must be a whole number"),
        (["frobnicate"], "unknown bench command 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line(capsys, nothing_runs, tmp_path, argv, words):
    err = _one_line_error(capsys, ["bench", "--out", str(tmp_path), *argv])
    assert err.startswith("viewfinder bench: error: ")
    assert words in err


def test_cupy_without_a_gpu_is_one_line(capsys, nothing_runs, monkeypatch, tmp_path):
    from viewfinder import backend

    monkeypatch.setattr(backend, "gpu_available", lambda: False)
    err = _one_line_error(capsys, ["bench", "--backend", "cupy", "--out", str(tmp_path)])
    assert "--backend cupy needs CuPy with a CUDA device" in err


def test_unwritable_out_is_one_line_before_anything_runs(capsys, nothing_runs, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    err = _one_line_error(capsys, ["bench", "--quick", "--out", str(blocker / "sub")])
    assert f"--out {blocker / 'sub'} cannot be written" in err
    # compare checks its --out too
    err = _one_line_error(capsys, ["bench", "compare", "a.json", "b.json", "--out", str(blocker)])
    assert "cannot be written" in err


def test_compare_bad_files_are_one_line(capsys, tmp_path):
    err = _one_line_error(capsys, ["bench", "compare", "a.json", "--out", str(tmp_path)])
    assert "two or more result files" in err
    junk = tmp_path / "junk.json"
    junk.write_text("[]")
    err = _one_line_error(
        capsys, ["bench", "compare", str(junk), str(junk), "--out", str(tmp_path)]
    )
    assert "junk.json: not a viewfinder bench result" in err


def test_small_run_then_compare(capsys, monkeypatch, tmp_path):
    # the CLI's suite at a small frame size (its own sizes are the standard ones)
    real_parse = suite.parse_size_list
    monkeypatch.setattr(
        suite, "parse_size_list", lambda text: [(64, 48)] if text == "tiny" else real_parse(text)
    )
    for out in ("r1", "r2"):
        argv = [
            "bench",
            "--suite",
            "pipeline",
            "--sizes",
            "tiny",
            "--backend",
            "numpy",
            "--repeat",
            "2",
            "--no-peers",
            "--out",
            str(tmp_path / out),
        ]
        assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "pipeline 64x48 view16x12 default assists total" in text
    files = sorted((tmp_path / "r1").iterdir())
    assert [f.suffix for f in files] == [".json", ".png"]
    payload = suite.validate(json.loads(files[0].read_text()))
    assert payload["command"][:2] == ["viewfinder", "bench"]
    a, b = files[0], next((tmp_path / "r2").glob("*.json"))
    assert cli.main(["bench", "compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"A: {a} — ")
    assert "B/A" in text and "pipeline 64x48 view16x12 all assists total" in text
    assert len(list((tmp_path / "cmp").glob("compare-*.png"))) == 1
