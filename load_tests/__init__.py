"""Benchmarks (`make bench`) and a small load driver (`make load`) for the elevins services.

Kept out of ``services`` and ``shared`` on purpose: nothing here ships, and nothing in the
services may depend on it. Both entry points talk to the real gRPC API, so what they measure
is what a caller sees.
"""
