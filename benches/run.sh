#!/usr/bin/env bash
# Benchmarks modelseal against the references, all measured in the same run:
#   sign / verify of a 2 GB model directory   vs  model_signing (key mode), sha256sum,
#                                                 the all-core `openssl speed` SHA-256 limit, cp
#   import of a ~1 GB PyTorch checkpoint       vs  torch.load(weights_only=True) + save_file
# Reports median wall time of REPEAT runs, peak RSS, and ratios. Needs: a release build,
# python3 with torch, safetensors, numpy and model-signing (pip install model-signing).
#
#   BENCH_DIR=/var/tmp/modelseal-bench REPEAT=3 ./benches/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/var/tmp/modelseal-bench}
REPEAT=${REPEAT:-3}
PY=${PYTHON:-python3}
MS=$PWD/target/release/modelseal
[ -x "$MS" ] || cargo build --release --locked
mkdir -p "$BENCH_DIR"
"$PY" benches/make_data.py "$BENCH_DIR"
cd "$BENCH_DIR"
rm -rf out && mkdir -p out
"$MS" keygen --out out/k --force >/dev/null 2>&1
openssl ecparam -name prime256v1 -genkey -noout -out out/ms.pem 2>/dev/null
openssl ec -in out/ms.pem -pubout -out out/ms.pub.pem 2>/dev/null

dir_bytes=$(du -sb model-dir | cut -f1)
ckpt_bytes=$(stat -c %s checkpoint.pt)

# Every run starts with a hot page cache for its inputs (the same for every tool), so the
# numbers compare CPU work, not the disk.
warm() { find model-dir -type f -print0 | xargs -0 cat > /dev/null; cat checkpoint.pt out/b.zip > /dev/null 2>&1 || true; }

# median wall seconds and max RSS (MB) of REPEAT runs of a command
measure() {
  local name=$1; shift
  local times=() rss=0
  for _ in $(seq "$REPEAT"); do
    sync; warm
    /usr/bin/time -f "%e %M" -o out/time.txt "$@" >/dev/null 2>out/stderr.txt || { cat out/stderr.txt >&2; echo "$name failed" >&2; exit 1; }
    read -r t m < out/time.txt
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  printf '%s %s %s\n' "$name" "$median" "$((rss / 1024))" | tee -a out/results.txt
}
: > out/results.txt

# The physical limit: SHA-256 on every core (openssl speed, SHA extensions).
cores=$(nproc)
limit_kbs=$(openssl speed -evp sha256 -bytes 1048576 -seconds 3 -multi "$cores" 2>/dev/null | awk '/^sha256/{print $2}' | tr -d k)
single_kbs=$(openssl speed -evp sha256 -bytes 1048576 -seconds 3 2>/dev/null | awk '/^sha256/{print $2}' | tr -d k)

measure "cp -r (copy reference)" sh -c "rm -rf out/copy && cp -r model-dir out/copy"
rm -rf out/copy
measure "sha256sum (1 core)" sh -c "find model-dir -type f -print0 | xargs -0 sha256sum"
measure "modelseal sign (bundle)" "$MS" sign model-dir --key out/k.key --out out/b.zip -q
measure "modelseal verify (bundle)" "$MS" verify out/b.zip --trust out/k.pub -q
measure "modelseal sign --detached" "$MS" sign model-dir --key out/k.key --out out/d.zip --detached -q
measure "modelseal verify --files" "$MS" verify out/d.zip --trust out/k.pub --files model-dir -q
measure "modelseal verify --files, 1 thread" "$MS" verify out/d.zip --trust out/k.pub --files model-dir -q --threads 1
measure "model_signing sign" "$PY" -m model_signing sign key model-dir --private_key out/ms.pem --signature out/model.sig
measure "model_signing verify" "$PY" -m model_signing verify key model-dir --public_key out/ms.pub.pem --signature out/model.sig
measure "modelseal import" "$MS" import checkpoint.pt --out out/ckpt.safetensors --quiet
measure "torch.load + save_file" "$PY" "$OLDPWD/benches/torch_import.py" checkpoint.pt out/ref.safetensors
"$PY" - <<'PYEOF'
from safetensors.numpy import load_file
import numpy as np
a, b = load_file("out/ckpt.safetensors"), load_file("out/ref.safetensors")
same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
print(f"import output equals the Python reference tensor for tensor: {same} ({len(a)} tensors)")
PYEOF

# Memory does not grow with the model: a 5 GB bundle (a sparse 5 GB file: cheap to make,
# still hashed byte by byte).
rm -rf out/big && mkdir -p out/big
truncate -s 5000000000 out/big/huge.bin
printf 'not only zeros' | dd of=out/big/huge.bin bs=1 seek=4999999000 conv=notrunc status=none
measure "5 GB bundle: sign" "$MS" sign out/big --key out/k.key --out out/big.zip -q
measure "5 GB bundle: verify" "$MS" verify out/big.zip --trust out/k.pub -q
rm -rf out/big out/big.zip

"$PY" - "$dir_bytes" "$ckpt_bytes" "$limit_kbs" "$single_kbs" "$cores" <<'PYEOF'
import sys
dir_bytes, ckpt_bytes = int(sys.argv[1]), int(sys.argv[2])
limit = float(sys.argv[3]) * 1000  # bytes/s, all cores
single = float(sys.argv[4]) * 1000
cores = sys.argv[5]
rows = {}
for line in open("out/results.txt"):
    *name, t, rss = line.split()
    rows[" ".join(name)] = (float(t), int(rss))
limit_t = dir_bytes / limit
print(f"\nmodel directory: {dir_bytes/1e9:.2f} GB; checkpoint: {ckpt_bytes/1e9:.2f} GB; {cores} cores")
print(f"SHA-256 limit (openssl speed): {single/1e9:.2f} GB/s on one core, {limit/1e9:.2f} GB/s on all cores "
      f"-> {limit_t:.2f} s for the directory\n")
print("| run | median s | GB/s | % of all-core SHA-256 limit | peak RSS MB |")
print("|---|---|---|---|---|")
for name, (t, rss) in rows.items():
    size = ckpt_bytes if "import" in name or "torch" in name else dir_bytes
    if name.startswith("5 GB"):
        size = 5e9
    pct = f"{100*size/limit/t:.0f} %" if "import" not in name and "torch" not in name else ""
    print(f"| {name} | {t:.2f} | {size/t/1e9:.2f} | {pct} | {rss} |")
def ratio(a, b):
    return rows[b][0] / rows[a][0]
print()
print(f"- sign --detached (hash in place, as model_signing does): {ratio('modelseal sign --detached', 'model_signing sign'):.1f}x faster than model_signing sign")
print(f"- verify --files (in place):  {ratio('modelseal verify --files', 'model_signing verify'):.1f}x faster than model_signing verify")
print(f"- verify (bundle):            {ratio('modelseal verify (bundle)', 'model_signing verify'):.1f}x faster than model_signing verify")
print(f"- sign (bundle, writes and fsyncs a {dir_bytes/1e9:.1f} GB zip): {ratio('modelseal sign (bundle)', 'cp -r (copy reference)'):.2f}x the speed of cp -r (the write floor), "
      f"{ratio('modelseal sign (bundle)', 'model_signing sign'):.1f}x model_signing sign (which writes nothing)")
one = rows.get("modelseal verify --files, 1 thread")
if one:
    print(f"- SHA-256 path: one modelseal thread hashes at {dir_bytes/one[0]/1e9:.2f} GB/s = "
          f"{100*dir_bytes/one[0]/single:.0f} % of openssl's single-core rate (CPU sha_ni flag: "
          f"{'yes' if 'sha_ni' in open('/proc/cpuinfo').read() else 'no'}); a software SHA-256 runs at about a third of that")
print(f"- import: {ratio('modelseal import', 'torch.load + save_file'):.1f}x faster than torch.load + save_file; "
      f"peak RSS {rows['modelseal import'][1]} MB = {100*rows['modelseal import'][1]*2**20/ckpt_bytes:.0f} % of the checkpoint "
      f"(Python: {rows['torch.load + save_file'][1]} MB)")
PYEOF
