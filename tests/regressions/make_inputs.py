#!/usr/bin/env python3
"""Inputs of the regression tests that are easier to make with the real libraries than by
hand (the others are built in the tests). Named after the fuzz target or review that
found the bug. Run with /work/venv/bin/python."""
import os
import pickle

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def metadata_budget():
    # One tensor and ten thousand references to one 4 KiB string: 40 MB of metadata once
    # flattened, from a 40 KB file.
    s = "x" * 4096
    obj = {"weights": np.arange(3, dtype=np.float32), "notes": [s] * 10_000}
    with open(os.path.join(HERE, "guest_auto_metadata_budget.pkl"), "wb") as f:
        pickle.dump(obj, f, protocol=4)


if __name__ == "__main__":
    metadata_budget()
