"""csapi benchmarks: `python -m bench <scenario|all>` (or `bench/run ...`).

Every figure is a ratio against a baseline measured in the same run, or a latency percentile,
and each is the median of several runs: the machines these run on are shared and noisy, so
absolute numbers from different runs are not comparable. Results go to `bench/RESULTS.md`.
Nothing here is imported by the test suite; all traffic stays on 127.0.0.1.
"""
