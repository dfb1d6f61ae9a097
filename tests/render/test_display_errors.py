"""A dead or refusing X display: one line that names it and the cause, no glfw warning."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from viewfinder.render import context
from viewfinder.render.context import _x_socket_answers, display_problem


def _dead_display() -> str:
    """A display number nothing listens on."""
    for n in range(73, 200):
        if not _x_socket_answers(f":{n}"):
            return f":{n}"
    pytest.skip("every display :73..:199 answers")


def _viewfinder(*args: str, display: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "DISPLAY")}
    env["DISPLAY"] = display
    return subprocess.run(
        [sys.executable, "-m", "viewfinder.cli", "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_dead_display_is_one_line_naming_it_and_the_cause():
    display = _dead_display()
    proc = _viewfinder("--frames", "1", display=display)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"viewfinder run: error: cannot open display {display!r} (no X server there): "
        "use --headless, or start an X server there (or run under xvfb-run)"
    ]  # before: a GLFWError warning, then "DISPLAY is not set"


def test_headless_with_a_dead_display_renders_without_it(tmp_path):
    snap = tmp_path / "snap.png"
    proc = _viewfinder(
        "--headless", "--size", "320x240", "--snapshot", str(snap), display=_dead_display()
    )
    if "no usable EGL" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr  # before: glfw's warning and exit status 2
    assert snap.stat().st_size > 0 and "GLFWError" not in proc.stderr


@pytest.fixture
def refusing_display(monkeypatch):
    """A display whose socket answers and hangs up at once, as a server refusing us would."""
    for n in range(173, 300):
        if not _x_socket_answers(f":{n}"):
            break
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(f"\0/tmp/.X11-unix/X{n}")  # Linux's abstract name: no file to clean up
    server.listen(8)
    stop = threading.Event()

    def hang_up() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    monkeypatch.setenv("DISPLAY", f":{n}")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    yield f":{n}"
    stop.set()
    server.close()
    context._x_display_problem.cache_clear()


def test_a_display_that_refuses_us_says_so(refusing_display):
    assert display_problem() == (
        f"cannot open display {refusing_display!r} "
        "(its X server refused the connection: check XAUTHORITY or xhost)"
    )
    assert not context.has_display()


def test_glfw_words_drop_the_code_and_the_bytes():
    said = "(65550) b'X11: Failed to open display :99'"
    assert context._glfw_words(said) == "X11: Failed to open display :99"
    assert context._glfw_words("something else") == "something else"
