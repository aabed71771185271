"""Deterministic sample-data generator (the 22 delivered files + ground truth).

A development tool beside the `rootdb` package, not installed with it: `rootdb demo`
uses the files it wrote once (sample_data/, bundled in the wheel). Run from the
repository root: ``python -m samplegen.generate --out DIR --persons N --seed S`` or
``samplegen.generate.generate(out_dir, persons=3000, seed=20261101)``.
"""
