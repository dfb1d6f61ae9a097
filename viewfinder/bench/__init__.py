"""Benchmarks of the engine, installed with it: ``viewfinder bench`` (the standard suite with
peers in the same process, a table, JSON and a PNG chart; ``viewfinder bench compare``).

Modules: :mod:`~viewfinder.bench.suite` (what the standard suite runs and its JSON),
:mod:`~viewfinder.bench.peers` (OpenCV, colour-demosaicing, NPP, a plain CuPy bilinear, the copy
bandwidth), :mod:`~viewfinder.bench.report` (table, chart, compare),
:mod:`~viewfinder.bench.harness` (timing, the machine); and the detailed benchmarks that
``python -m bench.bench_X`` runs in a checkout: ``pipeline``, ``assists``, ``sim``, ``view``,
``capture``, ``demosaic``.

Benchmarks are not tests: medians over repeated runs after a warm-up, GPU work timed with CUDA
events, peers in the same run so that ratios hold on a noisy machine.
"""
