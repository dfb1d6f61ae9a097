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
