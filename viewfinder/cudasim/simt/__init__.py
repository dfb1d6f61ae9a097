"""SIMT: the CPU runtime that runs the project's unmodified CUDA kernels (g++, fibers)."""

from .module import RawKernel, RawModule

__all__ = ["RawKernel", "RawModule"]
