"""Deterministic sample-data generator (the 22 delivered files + ground truth).

``python -m rootdb.sample.generate --out DIR --persons N --seed S`` or
``rootdb.sample.generate.generate(out_dir, persons=3000, seed=20261101)``.
"""
