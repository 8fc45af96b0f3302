#!/usr/bin/env python3
"""Builds the seed corpus of every fuzz target in fuzz/corpus/<target>/ (git-ignored).

Sources:
- the project's fixtures (tests/fixtures/, wasm-loaders fixtures) and, when present, the
  shared corpora (../shared/corpora/ above the project), sorted by format;
- documents made here with the real `modelseal` binary and the committed test keys in
  fuzz/keys/: small bundles, their manifests and signature envelopes, a trust root with
  its history, a registry log, key files;
- the hand-written seeds committed under fuzz/seeds/<target>/.

Usage: python3 fuzz/make_seeds.py [--modelseal PATH]   (default: target/debug/modelseal,
built with `cargo build --bin modelseal`). Standard library only.
"""
import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
CORPUS = os.path.join(FUZZ, "corpus")
MAX_SEED = 1 << 20

# Guest targets and the file extensions they are seeded with.
GUEST = {
    "guest_pickle": (".pkl", ".pickle"),
    "guest_joblib": (".joblib", ".joblib.gz", ".joblib.bz2", ".joblib.xz", ".joblib.lzma",
                     ".joblib.lz4", ".joblib.z", ".joblib.default"),
    "guest_npy": (".npy",),
    "guest_npz": (".npz",),
    "guest_safetensors": (".safetensors",),
    "guest_keras": (".keras",),
    "guest_hdf5": (".h5",),
    "guest_onnx": (".onnx",),
    "guest_gguf": (".gguf",),
}
# Codec selector byte of guest_decompress (index into its CODECS table).
CODEC_SELECTOR = {".zlib": 1, ".z": 1, ".gz": 2, ".bz2": 3, ".xz": 4, ".lzma": 5, ".lz4": 6}


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name.replace("/", "_")), "wb") as f:
        f.write(data)


def files_under(*roots):
    for root in roots:
        for dirpath, _, names in os.walk(root):
            for n in sorted(names):
                p = os.path.join(dirpath, n)
                if os.path.isfile(p) and not os.path.islink(p) and os.path.getsize(p) <= MAX_SEED:
                    yield p


def shared_corpora():
    d = ROOT
    while True:
        c = os.path.join(d, "shared", "corpora")
        if os.path.isdir(c):
            return c
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def model_files():
    roots = [os.path.join(ROOT, "tests", "fixtures"), os.path.join(ROOT, "wasm-loaders", "tests")]
    c = shared_corpora()
    if c:
        roots.append(c)
    for p in files_under(*roots):
        if p.endswith((".json", ".py", ".rs", ".md", "LICENSE")):
            continue
        yield p


def seed_guest():
    for p in model_files():
        with open(p, "rb") as f:
            data = f.read()
        name = os.path.relpath(p, ROOT).replace(os.sep, "_")
        put("guest_auto", name, data)
        lower = p.lower()
        for target, exts in GUEST.items():
            if lower.endswith(exts):
                put(target, name, data)
        if data[:2] == b"PK":
            put("guest_zip", name, data)
            if lower.endswith((".pt", ".bin", ".pth")):
                put("guest_pytorch_zip", name, data)
        elif lower.endswith((".pt", ".bin", ".pth")):
            tar = len(data) > 262 and data[257:262] == b"ustar"
            put("guest_pytorch_tar" if tar else "guest_pytorch_legacy", name, data)
            put("guest_pickle", name, data)
        for ext, selector in CODEC_SELECTOR.items():
            if lower.endswith(ext):
                put("guest_decompress", name, bytes([selector]) + data)
        if lower.endswith(".safetensors"):
            put("safetensors_reader", name, data)


def run(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {r.stderr}")
    return r.stdout


def seed_host(binary):
    keys = os.path.join(FUZZ, "keys")
    tmp = tempfile.mkdtemp(prefix="modelseal-seeds-")
    try:
        # Secret keys must not be readable by others (git does not keep the mode).
        kdir = os.path.join(tmp, "keys")
        shutil.copytree(keys, kdir)
        for n in os.listdir(kdir):
            if n.endswith(".key"):
                os.chmod(os.path.join(kdir, n), stat.S_IRUSR | stat.S_IWUSR)
        signer = os.path.join(kdir, "signer.key")

        # Bundles: a deflated text file, a stored binary, an empty file, nesting.
        model = os.path.join(tmp, "model")
        os.makedirs(os.path.join(model, "sub"))
        with open(os.path.join(model, "config.json"), "w") as f:
            f.write('{"layers": 2, "hidden": 8}\n' * 20)
        with open(os.path.join(model, "sub", "weights.bin"), "wb") as f:
            f.write(bytes((i * 7) & 0xFF for i in range(300)))
        open(os.path.join(model, "empty"), "wb").close()
        meta = os.path.join(tmp, "meta.json")
        with open(meta, "w") as f:
            json.dump({"framework": "fuzz", "metrics": {"accuracy": 0.5, "loss": [1, 2.5e-3]},
                       "text": "caf\u00e9 \"quoted\" \\ \u0001"}, f)
        bundles = []
        for i, (inputs, name, version) in enumerate([
            ([model], "fuzz-0", "1.0.0"),
            ([os.path.join(model, "config.json")], "fuzz-1", "1.0.0"),
            ([os.path.join(model, "empty")], "fuzz-2", "1.0.0"),
            ([model, os.path.join(model, "sub")], "fuzz-0", "2.0.0"),
        ]):
            out = os.path.join(tmp, f"bundle{i}.zip")
            run(binary, "sign", *inputs, "--key", signer, "--out", out, "--name", name,
                "--version", version, "--metadata", meta, "--created", "2026-01-01T00:00:00Z",
                "--quiet")
            bundles.append(out)
        example = os.path.join(ROOT, "examples", "iris-1.0.0.zip")
        if os.path.getsize(example) <= MAX_SEED:
            bundles.append(example)
        for b in bundles:
            with open(b, "rb") as f:
                put("bundle_verify", os.path.basename(b), f.read())
            with zipfile.ZipFile(b) as z:
                m, s = z.read("manifest.json"), z.read("signatures.json")
            put("manifest", os.path.basename(b) + ".manifest.json", m)
            put("signatures", os.path.basename(b) + ".signatures.json", s)
            put("canonical", os.path.basename(b) + ".manifest.json", m)
            put("canonical", os.path.basename(b) + ".signatures.json", s)

        # Trust root: version 1 (two root keys, threshold 2), version 2 adds the signer.
        trust = os.path.join(tmp, "trust", "trust.json")
        roots = ["--root-key", os.path.join(kdir, "root1.key"),
                 "--root-key", os.path.join(kdir, "root2.key")]
        run(binary, "keys", "init", *roots, "--threshold", "2", "--out", trust, "--no-pin",
            "--expires", "2035-01-01T00:00:00Z")
        run(binary, "keys", "add", trust, "--pub", os.path.join(kdir, "signer.pub"),
            "--scope", "fuzz-*", *roots, "--no-pin")
        run(binary, "keys", "add", trust, "--pub", os.path.join(kdir, "signer2.pub"),
            "--scope", "fuzz-0", "--not-after", "2034-01-01T00:00:00Z", *roots, "--no-pin")
        run(binary, "keys", "threshold", trust, "--scope", "fuzz-0", "--signatures", "2",
            *roots, "--no-pin")
        versions = sorted(os.listdir(os.path.join(tmp, "trust", "trust.d")))
        docs = [open(os.path.join(tmp, "trust", "trust.d", v), "rb").read() for v in versions]
        docs.append(open(trust, "rb").read())
        for i, d in enumerate(docs):
            put("trust_root", f"v{i + 1}.json", d)
            put("trust_root", f"resign_v{i + 1}.json", b"R" + d)
            put("canonical", f"trust_v{i + 1}.json", d)
        put("trust_root", "chain.json", b"\n--\n".join(docs))
        put("trust_root", "resign_chain.json", b"R" + b"\n--\n".join(docs))

        # Registry log: publish, promote to staging and production, roll back.
        reg = os.path.join(tmp, "registry")
        trust_pub = os.path.join(kdir, "signer.pub")
        common = ["--registry", reg, "--trust", trust_pub]
        run(binary, "registry", "publish", bundles[0], "--key", signer, *common)
        run(binary, "registry", "publish", bundles[1], "--key", signer, *common)
        for name, stage in [("fuzz-0@1.0.0", "staging"), ("fuzz-0@1.0.0", "production"),
                            ("fuzz-1@1.0.0", "production")]:
            run(binary, "registry", "promote", name, "--stage", stage, "--key", signer, *common)
        run(binary, "registry", "publish", bundles[3], "--key", signer, *common)
        run(binary, "registry", "promote", "fuzz-0@2.0.0", "--stage", "staging", "--key", signer,
            *common)
        run(binary, "registry", "rollback", "fuzz-0", "--stage", "staging", "--key", signer,
            *common)
        logdir = os.path.join(reg, "log")
        entries = [open(os.path.join(logdir, n), "rb").read()
                   for n in sorted(os.listdir(logdir)) if n.endswith(".json")]
        put("registry_log", "log.json", b"\n--\n".join(entries))
        bodies = [json.dumps(json.loads(e)["body"]).encode() for e in entries]
        put("registry_log", "resign_log.json", b"R" + b"\n--\n".join(bodies))
        for i, e in enumerate(entries):
            put("registry_log", f"entry{i}.json", e)
            put("canonical", f"log_entry{i}.json", e)

        # Key files.
        for n in sorted(os.listdir(kdir)):
            if n.endswith((".key", ".pub")):
                put("key_files", n, open(os.path.join(kdir, n), "rb").read())
    finally:
        shutil.rmtree(tmp)


def seed_committed():
    seeds = os.path.join(FUZZ, "seeds")
    if not os.path.isdir(seeds):
        return
    for target in sorted(os.listdir(seeds)):
        for p in files_under(os.path.join(seeds, target)):
            put(target, os.path.basename(p), open(p, "rb").read())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modelseal", default=os.path.join(ROOT, "target", "debug", "modelseal"))
    args = ap.parse_args()
    if not os.path.isfile(args.modelseal):
        sys.exit(f"{args.modelseal} not found: run `cargo build --bin modelseal` first")
    seed_guest()
    seed_host(args.modelseal)
    seed_committed()
    for t in sorted(os.listdir(CORPUS)):
        print(f"{t}: {len(os.listdir(os.path.join(CORPUS, t)))} seeds")


if __name__ == "__main__":
    main()
