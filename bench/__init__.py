"""Benchmarks run in-process against a throw-away database: ``python -m bench --help``."""
