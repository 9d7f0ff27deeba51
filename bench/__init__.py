"""Evaluation harnesses and benchmarks: they measure the product and are not part of it.

Not in the wheel, so a user's install carries none of it; ``make setup`` puts the checkout on the
venv's path, where ``dora eval`` and ``dora bench`` import it. Shared pieces live in
:mod:`bench.common`, the stand-ins they run against in :mod:`testkit`.
"""
