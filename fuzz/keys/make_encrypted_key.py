#!/usr/bin/env python3
"""Writes fuzz/keys/encrypted.key: a passphrase-encrypted secret key (docs/format.md §8.1)
with the cheapest KDF parameters readers accept (scrypt log_n 10, r 1, p 1), so the
key_files fuzz target can decrypt its seeds quickly. Passphrase: "fuzz". Test key only.

Needs the `cryptography` package (Ed25519 and ChaCha20-Poly1305); XChaCha20 is built
from HChaCha20 (draft-irtf-cfrg-xchacha §2.2) here.
"""
import base64, hashlib, json, os, struct, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

def rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))

def quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)

def hchacha20(key, nonce16):
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        quarter(s, 0, 4, 8, 12); quarter(s, 1, 5, 9, 13)
        quarter(s, 2, 6, 10, 14); quarter(s, 3, 7, 11, 15)
        quarter(s, 0, 5, 10, 15); quarter(s, 1, 6, 11, 12)
        quarter(s, 2, 7, 8, 13); quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))

def xchacha_seal(key, nonce24, msg, aad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0\0\0\0" + nonce24[16:], msg, aad)

def canonical(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

def main(out):
    seed = os.urandom(32)
    pk = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(b"modelseal-key-id-v1\0ed25519\0" + pk).digest()[:16].hex()
    salt, nonce = os.urandom(32), os.urandom(24)
    f = {
        "type": "modelseal-encrypted-secret-key", "algorithm": "ed25519", "key_id": key_id,
        "public_key": base64.b64encode(pk).decode(), "comment": "fuzz test key (passphrase: fuzz)",
        "kdf": {"name": "scrypt", "log_n": 10, "r": 1, "p": 1,
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "xchacha20poly1305", "nonce": base64.b64encode(nonce).decode()},
    }
    k = hashlib.scrypt(b"fuzz", salt=salt, n=1 << 10, r=1, p=1, dklen=32)
    aad = b"modelseal-encrypted-key-v1\0" + canonical(f)
    f["ciphertext"] = base64.b64encode(xchacha_seal(k, nonce, seed, aad)).decode()
    with open(out, "w") as fh:
        json.dump(f, fh, indent=2)
        fh.write("\n")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "encrypted.key"))
