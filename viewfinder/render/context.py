"""OpenGL 3.3 core contexts: a glfw window, a hidden glfw window, or EGL with no display.

The live viewer draws into a window; ``--headless`` draws the same frame into an offscreen
framebuffer object (FBO) of a hidden glfw window when an X display exists, or of an EGL
context with no display at all (Mesa's surfaceless platform, or an NVIDIA EGL device on GPU
servers). PyOpenGL picks its platform (GLX or EGL) once, at import, so
:func:`prepare_platform` must run before anything imports ``OpenGL``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import re
import socket
import sys
import warnings
from typing import Any

import numpy as np

NO_DISPLAY_HINT = (
    "no display: DISPLAY is not set (start an X server or run under xvfb-run), or use --headless"
)
NO_EGL_HINT = (
    "no OpenGL for headless rendering: no display and no usable EGL "
    "(install libegl1 libegl-mesa0 libgl1-mesa-dri, or an NVIDIA driver; or run under xvfb-run)"
)
_EGL_PLATFORM_SURFACELESS_MESA = 0x31DD
_EGL_PLATFORM_DEVICE_EXT = 0x313F


class DisplayUnavailable(RuntimeError):
    """No OpenGL context can be made here; the message says what to install or do."""


def has_display() -> bool:
    """Whether a display is there to open: a Wayland display named in the environment, or an
    X display named in ``DISPLAY`` that answers (see :func:`display_problem`)."""
    if os.environ.get("WAYLAND_DISPLAY"):
        return True
    return bool(os.environ.get("DISPLAY")) and display_problem() is None


def no_display_message() -> str:
    """One line saying why no window can open here and what to do instead."""
    problem = display_problem()
    if problem is None or not os.environ.get("DISPLAY"):
        return NO_DISPLAY_HINT
    return f"{problem}: use --headless, or start an X server there (or run under xvfb-run)"


def display_problem() -> str | None:
    """Why the X display named in ``DISPLAY`` cannot be opened, or None when it can (or
    when that cannot be told here: no libX11). ``"cannot open display ':99' (no X server
    there)"``; an unset ``DISPLAY`` is "DISPLAY is not set"."""
    name = os.environ.get("DISPLAY", "")
    if not name:
        return "DISPLAY is not set"
    return _x_display_problem(name)


@functools.lru_cache(maxsize=8)
def _x_display_problem(name: str) -> str | None:
    """Opens the display ``name`` with libX11 (as glfw would, and closes it again)."""
    try:
        libx11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    except OSError:  # no libX11 here: glfw will say what it finds
        return None
    libx11.XOpenDisplay.restype = ctypes.c_void_p
    libx11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    libx11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    handle = libx11.XOpenDisplay(name.encode())
    if handle:
        libx11.XCloseDisplay(handle)
        return None
    cause = (
        "its X server refused the connection: check XAUTHORITY or xhost"
        if _x_socket_answers(name)
        else "no X server there"
    )
    return f"cannot open display {name!r} ({cause})"


def _x_socket_answers(name: str) -> bool:
    """Whether anything listens where the X display ``name`` ("[host]:N[.S]") would be."""
    host, _, number = name.rpartition(":")
    number = number.split(".")[0]
    if not number.isdigit():
        return False
    if host in ("", "unix"):
        paths = [f"\0/tmp/.X11-unix/X{number}", f"/tmp/.X11-unix/X{number}"]
        for path in paths:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                try:
                    sock.connect(path)
                    return True
                except OSError:
                    continue
        return False
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=2.0):
            return True
    except OSError:
        return False


def prepare_platform(headless: bool) -> str:
    """Choose PyOpenGL's platform before ``OpenGL`` is imported; returns "egl" or "glx".

    Headless with no display selects EGL. A platform already chosen (by the environment, or
    because ``OpenGL`` is imported) is kept.
    """
    chosen = os.environ.get("PYOPENGL_PLATFORM")
    if chosen:
        return chosen
    if "OpenGL" in sys.modules:  # too late to change: whatever PyOpenGL picked stays
        return "egl" if "OpenGL.EGL" in sys.modules else "glx"
    if headless and not has_display():
        os.environ["PYOPENGL_PLATFORM"] = "egl"
        return "egl"
    return "glx"


class Offscreen:
    """An RGBA8 framebuffer object of ``size`` (width, height) pixels."""

    def __init__(self, size: tuple[int, int]) -> None:
        from OpenGL import GL

        self.size = size
        self.fbo = int(GL.glGenFramebuffers(1))
        self.rbo = int(GL.glGenRenderbuffers(1))
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, self.rbo)
        GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_RGBA8, size[0], size[1])
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glFramebufferRenderbuffer(
            GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, self.rbo
        )
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise DisplayUnavailable(f"offscreen framebuffer incomplete (status 0x{status:x})")

    def bind(self) -> None:
        from OpenGL import GL

        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)


class GLContext:
    """A current OpenGL context and the framebuffer the viewer draws into.

    Attributes
    ----------
    kind : {"window", "hidden-window", "egl"}
    window : glfw window handle or None
    offscreen : Offscreen or None
        Set for headless contexts: frames are drawn into it and read back.
    """

    def __init__(
        self,
        kind: str,
        size: tuple[int, int],
        window: Any = None,
        egl: tuple[Any, Any] | None = None,
    ) -> None:
        from OpenGL import GL

        self.kind = kind
        self.window = window
        self._egl = egl
        self._size = size
        self.offscreen = Offscreen(size) if kind != "window" else None
        self.vendor = _gl_string(GL.GL_VENDOR)
        self.renderer = _gl_string(GL.GL_RENDERER)
        self.version = _gl_string(GL.GL_VERSION)

    @property
    def headless(self) -> bool:
        return self.offscreen is not None

    @property
    def window_address(self) -> int:
        """The GLFWwindow pointer as an int (what imgui-bundle's glfw backend takes)."""
        return int(ctypes.cast(self.window, ctypes.c_void_p).value or 0)

    def framebuffer_size(self) -> tuple[int, int]:
        """(width, height) in pixels of what the viewer draws into."""
        if self.offscreen is None:
            import glfw

            return tuple(glfw.get_framebuffer_size(self.window))  # type: ignore[return-value]
        return self._size

    def bind(self) -> None:
        """Bind the target framebuffer (the FBO when headless, the window otherwise)."""
        from OpenGL import GL

        if self.offscreen is not None:
            self.offscreen.bind()
        else:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def present(self) -> None:
        """Swap buffers (window; waits for vsync) or finish the offscreen frame."""
        if self.offscreen is None:
            import glfw

            glfw.swap_buffers(self.window)
        else:
            from OpenGL import GL

            GL.glFlush()

    def read_pixels(self) -> np.ndarray:
        """The target framebuffer as (h, w, 4) uint8 RGBA, top row first."""
        from OpenGL import GL

        self.bind()
        w, h = self.framebuffer_size()
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        if self.offscreen is None:
            GL.glReadBuffer(GL.GL_BACK)
        data = GL.glReadPixels(0, 0, w, h, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
        return np.frombuffer(data, np.uint8).reshape(h, w, 4)[::-1].copy()

    def should_close(self) -> bool:
        if self.window is None:
            return False
        import glfw

        return bool(glfw.window_should_close(self.window))

    def close(self) -> None:
        if self.window is not None:
            import glfw

            glfw.destroy_window(self.window)
            self.window = None
        if self._egl is not None:
            from OpenGL import EGL

            display, context = self._egl
            EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
            EGL.eglDestroyContext(display, context)
            self._egl = None


def _gl_string(name: int) -> str:
    from OpenGL import GL

    value = GL.glGetString(name)
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


def create_context(
    headless: bool, size: tuple[int, int], title: str = "viewfinder", prefer_gpu: bool = False
) -> GLContext:
    """Make an OpenGL 3.3 core context (window, or offscreen when ``headless``).

    ``prefer_gpu`` asks EGL for a hardware (non-llvmpipe) device first, which CUDA-GL
    interop needs. Raises :class:`DisplayUnavailable` with a one-line hint when none can
    be made.
    """
    w, h = int(size[0]), int(size[1])
    if w < 64 or h < 64:
        raise ValueError(f"window size must be at least 64x64, got {w}x{h}")
    platform = prepare_platform(headless)
    if not headless:
        if not has_display():
            raise DisplayUnavailable(no_display_message())
        return _glfw_context((w, h), title, visible=True)
    if platform == "egl":
        return _egl_context((w, h), prefer_gpu)
    if has_display():
        return _glfw_context((w, h), title, visible=False)
    raise DisplayUnavailable(NO_EGL_HINT)


def _glfw_context(size: tuple[int, int], title: str, visible: bool) -> GLContext:
    import glfw
    import imgui_bundle  # noqa: F401  (first: makes pyglfw load imgui-bundle's libglfw)

    # glfw's own complaints (a GLFWError warning on stderr) go into the one line we raise
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ok = glfw.init()
    if not ok:
        why = "; ".join(_glfw_words(w.message) for w in said) or "glfw.init() failed"
        hint = "use --headless" if visible else NO_EGL_HINT
        raise DisplayUnavailable(
            f"cannot open display {os.environ.get('DISPLAY')!r} ({why}): {hint}"
        )
    glfw.default_window_hints()
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
    glfw.window_hint(glfw.VISIBLE, visible)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        window = glfw.create_window(size[0], size[1], title, None, None)
    if not window:
        why = "; ".join(_glfw_words(w.message) for w in said)
        raise DisplayUnavailable(
            "glfw could not create an OpenGL 3.3 core window"
            + (f" ({why})" if why else "")
            + ": update the GL driver, or install Mesa (libgl1-mesa-dri)"
        )
    glfw.make_context_current(window)
    if visible:
        glfw.swap_interval(1)  # present at vsync
    return GLContext("window" if visible else "hidden-window", size, window=window)


def _glfw_words(message: object) -> str:
    """What a GLFWError warning says, without its code and bytes: "X11: Failed to open
    display :99"."""
    text = str(message).strip()
    said = re.fullmatch(r"\(\d+\) b?(['\"])(.*)\1", text)  # "(65550) b'X11: ...'"
    return said[2] if said else text


def _egl_context(size: tuple[int, int], prefer_gpu: bool) -> GLContext:
    try:
        from OpenGL import EGL
    except Exception as exc:  # libEGL missing
        raise DisplayUnavailable(NO_EGL_HINT) from exc
    fallback = None
    for display in _egl_displays(EGL, prefer_gpu):
        made = _egl_try(EGL, display)
        if made is None:
            continue
        renderer = _gl_string(0x1F01).lower()  # GL_RENDERER
        if prefer_gpu and ("llvmpipe" in renderer or "softpipe" in renderer):
            fallback = fallback or made
            continue
        return GLContext("egl", size, egl=made)
    if fallback is not None:
        EGL.eglMakeCurrent(fallback[0], EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, fallback[1])
        return GLContext("egl", size, egl=fallback)
    raise DisplayUnavailable(NO_EGL_HINT)


def _egl_displays(EGL: Any, prefer_gpu: bool) -> list[Any]:
    """Candidate EGL displays: GPU devices (when preferred), Mesa surfaceless, the default."""
    out: list[Any] = []
    get_platform = getattr(EGL, "eglGetPlatformDisplayEXT", None)
    if prefer_gpu and get_platform is not None:
        try:
            from OpenGL.EGL.EXT.device_enumeration import eglQueryDevicesEXT

            devices = (EGL.EGLDeviceEXT * 8)()
            count = EGL.EGLint()
            if eglQueryDevicesEXT(8, devices, ctypes.pointer(count)):
                for i in range(count.value):
                    out.append(get_platform(_EGL_PLATFORM_DEVICE_EXT, devices[i], None))
        except Exception:  # no device enumeration: fall through to the other displays
            pass
    if get_platform is not None:
        try:
            out.append(get_platform(_EGL_PLATFORM_SURFACELESS_MESA, EGL.EGL_DEFAULT_DISPLAY, None))
        except Exception:
            pass
    try:
        out.append(EGL.eglGetDisplay(EGL.EGL_DEFAULT_DISPLAY))
    except Exception:
        pass
    return [d for d in out if d]


def _egl_try(EGL: Any, display: Any) -> tuple[Any, Any] | None:
    """Initialise ``display`` and make a current 3.3 core context on it (no surface)."""
    try:
        major, minor = EGL.EGLint(), EGL.EGLint()
        if not EGL.eglInitialize(display, ctypes.pointer(major), ctypes.pointer(minor)):
            return None
        EGL.eglBindAPI(EGL.EGL_OPENGL_API)
        attrs = (EGL.EGLint * 5)(
            EGL.EGL_SURFACE_TYPE,
            EGL.EGL_PBUFFER_BIT,
            EGL.EGL_RENDERABLE_TYPE,
            EGL.EGL_OPENGL_BIT,
            EGL.EGL_NONE,
        )
        config, n = EGL.EGLConfig(), EGL.EGLint()
        if not EGL.eglChooseConfig(display, attrs, ctypes.pointer(config), 1, ctypes.pointer(n)):
            return None
        ctx_attrs = (EGL.EGLint * 7)(
            EGL.EGL_CONTEXT_MAJOR_VERSION,
            3,
            EGL.EGL_CONTEXT_MINOR_VERSION,
            3,
            EGL.EGL_CONTEXT_OPENGL_PROFILE_MASK,
            EGL.EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT,
            EGL.EGL_NONE,
        )
        context = EGL.eglCreateContext(
            display, config if n.value else None, EGL.EGL_NO_CONTEXT, ctx_attrs
        )
        if not context:
            return None
        if not EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, context):
            EGL.eglDestroyContext(display, context)
            return None
        return display, context
    except Exception:  # an EGL error on one display: try the next
        return None
