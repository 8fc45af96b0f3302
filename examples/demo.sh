#!/usr/bin/env bash
# The main job on the built-in example, end to end:
#   1. verify the committed, pre-signed example bundle against keys/example.pub;
#   2. make a throwaway key, sign the example model (a scikit-learn pipeline) with its
#      metadata, verify it, extract it, and show that a one-byte change is caught;
#   3. import untrusted models in the sandbox: a malicious pickle is refused, a PyTorch
#      checkpoint becomes a signed safetensors bundle.
# Usage: ./examples/demo.sh   (after: cargo build --release --locked)
set -euo pipefail
cd "$(dirname "$0")/.."
MS=${MODELSEAL:-./target/release/modelseal}
[ -x "$MS" ] || { echo "build first: cargo build --release --locked" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== 1. verify the shipped example bundle"
"$MS" verify examples/iris-1.0.0.zip --trust keys/example.pub

echo "== 2. sign the example model with a fresh key"
"$MS" keygen --out "$work/keys/demo" --comment "demo key"
"$MS" sign examples/iris --key "$work/keys/demo.key" --out "$work/iris.zip" \
      --name iris --version 1.0.1 --metadata examples/iris-metadata.json
"$MS" inspect "$work/iris.zip" --trust "$work/keys/demo.pub"

echo "== 3. verify and extract"
"$MS" verify "$work/iris.zip" --trust "$work/keys/demo.pub" --extract "$work/deployed"
ls -l "$work/deployed"

echo "== 4. tamper with one byte: verification must fail (exit 1)"
cp "$work/iris.zip" "$work/tampered.zip"
offset=$(grep -abo 'sklearn.pipeline' "$work/tampered.zip" | head -1 | cut -d: -f1)
printf 'X' | dd of="$work/tampered.zip" bs=1 seek="$offset" conv=notrunc status=none
if "$MS" verify "$work/tampered.zip" --trust "$work/keys/demo.pub"; then
  echo "tampered bundle verified: this is a bug" >&2; exit 1
fi
echo "== 5. import untrusted models: parsed in the sandbox, nothing executed"
if "$MS" inspect examples/untrusted/evil.pkl; then
  echo "a pickle calling os.system was accepted: this is a bug" >&2; exit 1
fi
"$MS" import examples/untrusted/mlp-checkpoint.pt --out "$work/mlp.zip" --key "$work/keys/demo.key" \
      --name mlp --version 1.0.0
"$MS" verify "$work/mlp.zip" --trust "$work/keys/demo.pub" --extract "$work/mlp"
ls -l "$work/mlp"
echo "== demo OK: tampering and a malicious pickle were refused; the checkpoint became a signed safetensors bundle"
