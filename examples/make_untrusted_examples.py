"""Build the import examples in examples/untrusted/:

* mlp-checkpoint.pt: a PyTorch training checkpoint (model + optimizer state, epoch, loss)
  written by torch.save, as third parties publish them;
* evil.pkl: a pickle whose loading would run `os.system` (built here by hand, never
  loaded): what modelseal must refuse.

    python examples/make_untrusted_examples.py
"""
import pathlib
import pickle

import torch

out = pathlib.Path(__file__).resolve().parent / "untrusted"
out.mkdir(exist_ok=True)

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.randn(32, 8), torch.randint(0, 3, (32,))
loss = torch.nn.functional.cross_entropy(model(x), y)
loss.backward()
opt.step()
torch.save(
    {
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": opt.state_dict(),
        "epoch": 1,
        "loss": float(loss.detach()),
    },
    out / "mlp-checkpoint.pt",
)


class Payload:
    def __reduce__(self):
        import os

        return (os.system, ("echo this would run on load",))


(out / "evil.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0], "x": Payload()}, protocol=4))
print(f"wrote {out}")
