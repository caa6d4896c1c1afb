"""Benchmarks comparing taylorjit with heyoka, numpy and sympy (run ``python -m benchmarks``)."""
