"""The Python reference path for `modelseal import`: torch.load(weights_only=True), then
safetensors.torch.save_file of the flattened state dict.

    python benches/torch_import.py IN.pt OUT.safetensors
"""
import sys

import torch
from safetensors.torch import save_file

obj = torch.load(sys.argv[1], weights_only=True, map_location="cpu")
flat = {}


def walk(prefix, value):
    if isinstance(value, torch.Tensor):
        flat[prefix] = value.contiguous()
    elif isinstance(value, dict):
        for k, v in value.items():
            walk(f"{prefix}.{k}" if prefix else str(k), v)


walk("", obj)
save_file(flat, sys.argv[2])
