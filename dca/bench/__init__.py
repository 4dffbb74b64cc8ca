"""Benchmarks (``python -m dca.bench models|data|train|metrics``): figures beside their references.

Each benchmark writes CSV and JSON under ``results/bench/`` and prints what it measured
next to what it compares to, measured side by side in the same run.
"""
