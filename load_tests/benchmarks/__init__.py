"""Benchmarks, one module per service; `load_tests.bench.BENCHMARKS` lists them all."""
