#!/usr/bin/env python3
"""Fast supply-chain gate for CI machines without cargo-deny: every package in the
dependency graph (all features, all targets) has a licence expression satisfied by the
allow-list in deny.toml, and comes from crates.io or this workspace.

cargo-deny does the same and more (bans, advisories) and .ci/run uses it when it is
installed; building it takes longer than the rest of CI, and its advisory database is on
GitHub, which CI machines cannot reach. deny.toml stays the one source of the allow-list.

    python3 .ci/licenses.py          # exit 1 and a list of offenders if anything fails
"""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def allowed_licences():
    with open(ROOT / "deny.toml", "rb") as f:
        return set(tomllib.load(f)["licenses"]["allow"])


def satisfied(expression, allowed):
    """Evaluate an SPDX expression (AND binds tighter than OR; `/` is the old OR)."""
    tokens = re.findall(r"\(|\)|[A-Za-z0-9.+-]+", expression.replace("/", " OR "))
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom():
        if peek() == "(":
            take()
            value = either()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return value
        name = take()
        if peek() == "WITH":
            take()
            name = f"{name} WITH {take()}"
        return name in allowed

    def chain(operator, operand, combine):
        value = operand()
        while peek() == operator:
            take()
            value = combine(operand(), value)
        return value

    def both():
        return chain("AND", atom, lambda a, b: a and b)

    def either():
        return chain("OR", both, lambda a, b: a or b)

    try:
        value = either()
        return value and pos == len(tokens)
    except (IndexError, ValueError):
        return False


def main():
    allowed = allowed_licences()
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--locked", "--all-features", "--format-version", "1"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    problems = []
    for p in meta["packages"]:
        who = f"{p['name']} {p['version']}"
        if p["id"] not in members and p.get("source") != CRATES_IO:
            problems.append(f"{who}: source {p.get('source')!r} is not crates.io")
        licence = p.get("license")
        if not licence:
            problems.append(f"{who}: no SPDX licence expression")
        elif not satisfied(licence, allowed):
            problems.append(f"{who}: licence {licence!r} is not in deny.toml's allow-list")
    if problems:
        print("supply chain check failed:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(f"licences and sources: {len(meta['packages'])} packages OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
