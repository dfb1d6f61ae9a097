"""Finding, loading and compiling the GLSL sources in ``shaders/``.

In a source checkout the shaders sit at ``<repo>/shaders``; in an installed wheel they are
shipped inside the package at ``viewfinder/shaders``. :func:`shader_path` looks in both.
GLSL has no ``#include``: a line ``#pragma include "name.glsl"`` is replaced by that file.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # viewfinder/
_INCLUDE_RE = re.compile(r'^\s*#pragma\s+include\s+"([^"]+)"\s*$', re.MULTILINE)


class ShaderError(RuntimeError):
    """A shader is missing, or does not compile or link: the message carries the GL log."""


def shader_dirs() -> tuple[Path, ...]:
    """Folders searched for shaders, in order: the wheel's, then the checkout's."""
    return (_PACKAGE_DIR / "shaders", _PACKAGE_DIR.parent / "shaders")


def shader_path(name: str) -> Path:
    """Path of the shader file ``name`` (e.g. ``"view.frag"``); ``ShaderError`` if absent."""
    for folder in shader_dirs():
        path = folder / name
        if path.is_file():
            return path
    where = ", ".join(str(d) for d in shader_dirs())
    raise ShaderError(f"shader {name!r} not found (looked in {where})")


@cache
def load_shader(name: str, defines: tuple[tuple[str, int], ...] = ()) -> str:
    """GLSL text of ``name``: ``#pragma include`` lines expanded (one level deep), and
    ``#define NAME VALUE`` lines for ``defines`` put right after the ``#version`` line."""
    text = shader_path(name).read_text(encoding="utf-8")

    def splice(match: re.Match[str]) -> str:
        return shader_path(match.group(1)).read_text(encoding="utf-8")

    text = _INCLUDE_RE.sub(splice, text)
    if defines:
        first, _, rest = text.partition("\n")
        if not first.startswith("#version"):
            raise ShaderError(f"{name} must start with a #version line to take defines")
        lines = "".join(f"#define {key} {int(value)}\n" for key, value in defines)
        text = f"{first}\n{lines}{rest}"
    return text


def compile_program(vertex: str, fragment: str, defines: tuple[tuple[str, int], ...] = ()) -> int:
    """Compile and link the shader files ``vertex`` and ``fragment``; the GL program id.

    ``defines`` go into the fragment shader. Needs a current OpenGL 3.3 core context.
    """
    from OpenGL import GL

    def compile_one(name: str, kind: int, defs: tuple[tuple[str, int], ...] = ()) -> int:
        shader = GL.glCreateShader(kind)
        GL.glShaderSource(shader, load_shader(name, defs))
        GL.glCompileShader(shader)
        if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
            log = GL.glGetShaderInfoLog(shader)
            log = log.decode(errors="replace") if isinstance(log, bytes) else str(log)
            GL.glDeleteShader(shader)
            raise ShaderError(f"{name} does not compile: {log.strip()}")
        return shader

    vs = compile_one(vertex, GL.GL_VERTEX_SHADER)
    fs = compile_one(fragment, GL.GL_FRAGMENT_SHADER, defines)
    program = GL.glCreateProgram()
    GL.glAttachShader(program, vs)
    GL.glAttachShader(program, fs)
    GL.glLinkProgram(program)
    GL.glDeleteShader(vs)
    GL.glDeleteShader(fs)
    if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
        log = GL.glGetProgramInfoLog(program)
        log = log.decode(errors="replace") if isinstance(log, bytes) else str(log)
        raise ShaderError(f"{vertex} + {fragment} do not link: {log.strip()}")
    return int(program)
