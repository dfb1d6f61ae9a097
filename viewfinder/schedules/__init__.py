"""Schedules: how the stages' maths is fused and run, apart from the maths itself.

``viewfinder/stages/`` defines what each stage computes (its NumPy reference, and its
per-pixel CUDA functions in ``kernels/*.cuh``). This package holds the ways of running several
stages in one pass over the data, as Halide separates an algorithm from its schedule:

- :mod:`.cuda_tile`: the GPU's raw-side pass (``kernels/tile.cu``): develop, peaking, RAW
  zebra and RAW histogram from one read of each photosite.
"""
