from viewfinder.cli import build_parser, main


def test_bare_command_takes_run_options(monkeypatch):
    seen = {}
    import viewfinder.app

    monkeypatch.setattr(viewfinder.app, "cli_run", lambda args: seen.setdefault("a", args) and 0)
    assert main(["--headless", "--frames", "3"]) == 0
    assert seen["a"].command == "run" and seen["a"].frames == 3 and seen["a"].headless


def test_lenses_lists_one_lens_a_line_id_first(capsys):
    assert main(["lenses"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ids = [line.split()[0] for line in lines]
    assert "summilux-35" in ids and "builtin" in ids and len(ids) >= 7


def test_errors_are_one_line_and_nonzero(capsys):
    assert main(["run", "--headless", "--frames", "1", "--lens", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown" in err[0] and "nope" in err[0]


def test_parser_knows_every_command():
    parser = build_parser()
    for cmd in ("run", "lenses", "devices", "capture"):
        assert parser.parse_args([cmd]).command == cmd


def test_version_and_defaults_in_help(capsys):
    import pytest

    from viewfinder import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"viewfinder {__version__}"
    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    assert "(default: mhc)" in text and "(default: sim)" in text and "--lens-file" in text
    assert "--clean" in text and "--verbose" in text
    top = " ".join(build_parser().format_help().split())
    assert "is `viewfinder run" in top
    capture = build_parser()._subparsers._group_actions[0].choices["capture"].format_help()
    assert "JPEG" in capture and "--lens-file" in capture


def test_lens_file_lenses_work_with_capture(tmp_path, capsys):
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "samples" / "my_lenses.toml"
    args = ["capture", "--lens-file", str(sample), "--lens", "summaron-28", "--size", "64x48"]
    assert main([*args, "--out", str(tmp_path)]) == 0, capsys.readouterr().err
    assert len(list(tmp_path.glob("*.dng"))) == 1
    assert main(["capture", "--lens", "summaron-28", "--size", "64x48", "--out", str(tmp_path)])
    assert "summaron-28" in capsys.readouterr().err


def test_snapshot_paths_are_checked_before_any_work(tmp_path, capsys):
    import time

    cases = {
        str(tmp_path / "snap"): "no extension",
        str(tmp_path / "snap.txt"): "extension '.txt'",
        str(tmp_path / "missing" / "a.png"): "does not exist",
        str(tmp_path): "is a folder",
    }
    for path, cause in cases.items():
        t = time.perf_counter()
        assert main(["run", "--headless", "--frames", "50", "--snapshot", path]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and path in err[0] and cause in err[0], err
        assert time.perf_counter() - t < 2.0  # refused before the camera or GL start
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if not os.access(ro, os.W_OK):  # root writes anywhere
            assert main(["run", "--headless", "--snapshot", str(ro / "a.png")]) == 2
            assert "not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)
    assert main(["run", "--headless", "--view", "2x2"]) == 2
    assert "--view must be WIDTHxHEIGHT from 320x240" in capsys.readouterr().err


def test_lenses_table_columns_line_up(capsys):
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "samples" / "my_lenses.toml"
    assert main(["lenses", "--file", str(sample)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for word in ("min focus", "  mount "):
        assert len({line.index(word) for line in lines}) == 1, word
