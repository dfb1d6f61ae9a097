"""RawModule / RawKernel of the cudasim stand-in (placeholder until the runtime lands)."""

from __future__ import annotations


class RawModule:
    def __init__(self, code: str | None = None, *, path=None, options=(), backend="nvrtc",
                 translate_cucomplex=False, name_expressions=None, jitify=False) -> None:
        self.code = code
        self.options = tuple(options)

    def compile(self, log_stream=None) -> None:
        raise RuntimeError("cudasim runtime not built yet")

    def get_function(self, name: str) -> RawKernel:
        return RawKernel(self, name)


class RawKernel:
    def __init__(self, module: RawModule, name: str) -> None:
        self.module = module
        self.name = name

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None) -> None:
        raise RuntimeError("cudasim runtime not built yet")
