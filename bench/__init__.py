"""Evaluation harnesses and benchmarks: they measure the product and are not part of it."""
