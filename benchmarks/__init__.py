"""coaxlike benchmarks: every figure is measured beside a hand-written floor in the same run.

Run ``python -m benchmarks.run`` (see ``benchmarks/README.md``).
"""
