"""Create the benchmark data (idempotent): a 2 GB model directory (one 1.5 GB file plus
many small ones) and a ~1 GB PyTorch checkpoint made by torch.save.

    python benches/make_data.py DIR
"""
import os
import pathlib
import sys

import numpy as np

root = pathlib.Path(sys.argv[1])
rng = np.random.default_rng(0)

model = root / "model-dir"
if not (model / ".complete").exists():
    (model / "shards").mkdir(parents=True, exist_ok=True)
    big = model / "weights.bin"
    with open(big, "wb") as f:
        for _ in range(15):  # 15 x 100 MB of incompressible bytes
            f.write(rng.integers(0, 256, size=100_000_000, dtype=np.uint8).tobytes())
    # 2,000 small files, 1 KB - 500 KB (about 0.5 GB): configs, shards, vocab pieces.
    sizes = rng.integers(1_000, 500_000, size=2_000)
    for i, n in enumerate(sizes):
        (model / "shards" / f"part-{i:05d}.bin").write_bytes(
            rng.integers(0, 256, size=int(n), dtype=np.uint8).tobytes()
        )
    (model / "config.json").write_text('{"hidden_size": 4096, "layers": 32}\n')
    (model / ".complete").write_text("")

ckpt = root / "checkpoint.pt"
if not ckpt.exists():
    import torch

    torch.manual_seed(0)
    state = {}
    for layer in range(16):  # 16 x 16M float32 = 1 GiB
        state[f"layers.{layer}.weight"] = torch.randn(4096, 4096)
    state["embed.weight"] = torch.randn(1000, 64)
    tmp = ckpt.with_suffix(".tmp")
    torch.save({"model_state_dict": state, "epoch": 3}, tmp)
    os.replace(tmp, ckpt)
print(f"data ready in {root}")
