"""Helpers the test modules and the benchmarks share (the pytest fixtures stay in tests/conftest.py)."""
