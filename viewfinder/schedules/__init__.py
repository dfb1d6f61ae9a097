"""Schedules: how the stages' maths is fused and run, apart from the maths itself.

``viewfinder/stages/`` defines what each stage computes (its NumPy reference, and its
per-pixel CUDA functions in ``kernels/*.cuh``). This package holds the ways of running several
stages in one pass over the data, as Halide separates an algorithm from its schedule:

- :mod:`.cuda_tile`: the GPU's raw-side pass (``kernels/tile.cu``): develop, peaking, RAW
  zebra and RAW histogram from one read of each photosite.
- :mod:`.cpu_preview`: the host develop, two Numba passes (normalise into a padded plane;
  demosaic, area downscale, matrix and tone per view pixel).
- :mod:`.cpu_peaking`: the host peaking passes (Numba row loops beside OpenCV's filters)
  and the max-pooling onto the view.
- :mod:`.cpu_assists`: the host view pass (scopes, zebra, false colour, composite).

Where a stage is defined: ``stages/<stage>.py`` (its API and NumPy reference; peaking's
reference in ``stages/peaking_reference.py``, its settings and noise model beside it) and,
for the device, its per-pixel maths in ``kernels/vf_*.cuh``. How it runs: here, and the
per-stage CUDA kernels in ``kernels/*.cu``.
"""
