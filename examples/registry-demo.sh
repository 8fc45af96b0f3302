#!/usr/bin/env bash
# The registry loop on the built-in example, end to end:
#   sign three versions of the iris model -> publish -> compare / best -> promote ->
#   deploy --watch (hot-swap) -> a tampered bundle refused -> rollback (the deployer follows).
# Usage: ./examples/registry-demo.sh   (after: cargo build --release --locked)
set -euo pipefail
cd "$(dirname "$0")/.."
MS=${MODELSEAL:-$PWD/target/release/modelseal}
[ -x "$MS" ] || { echo "build first: cargo build --release --locked" >&2; exit 2; }
examples=$PWD/examples
work=$(mktemp -d)
watcher=
trap '[ -n "$watcher" ] && kill "$watcher" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
T=(--trust release.pub)

echo "== 1. a release key; three trained versions, signed with their metrics"
"$MS" keygen --out release --comment "demo release key"
for v in 1.0.0:0.9474 1.1.0:0.9737 1.2.0:0.9605; do
  version=${v%%:*} accuracy=${v##*:}
  mkdir -p "model-$version" && cp "$examples"/iris/* "model-$version/"
  echo "$version" > "model-$version/VERSION"
  sed "s/\"accuracy\": [0-9.]*/\"accuracy\": $accuracy/" "$examples/iris-metadata.json" > "meta-$version.json"
  "$MS" sign "model-$version" --key release.key --out "iris-$version.zip" \
        --name iris --version "$version" --metadata "meta-$version.json" --quiet
done

echo "== 2. publish (each bundle is verified first; the registry is ./registry)"
for v in 1.0.0 1.1.0 1.2.0; do
  "$MS" registry publish "iris-$v.zip" --key release.key "${T[@]}"
done
"$MS" registry list iris "${T[@]}"

echo "== 3. compare and pick"
"$MS" registry compare iris 1.0.0 1.1.0 "${T[@]}"
"$MS" registry best iris --metric accuracy "${T[@]}"

echo "== 4. promote 1.0.0 and start a deployer that watches production"
"$MS" registry promote iris@1.0.0 --stage production --key release.key "${T[@]}"
"$MS" deploy "${T[@]}" --name iris --stage production --target srv --watch --interval 200ms &
watcher=$!
sleep 1
echo "serving: $(cat srv/current/VERSION)"

echo "== 5. promote 1.1.0: hot-swapped"
"$MS" registry promote iris@1.1.0 --stage production --key release.key "${T[@]}"
sleep 1
echo "serving: $(cat srv/current/VERSION)"

echo "== 6. a tampered bundle cannot be published (exit 1)"
cp iris-1.2.0.zip evil.zip
offset=$(grep -abo 'sklearn.pipeline' evil.zip | head -1 | cut -d: -f1)
printf 'X' | dd of=evil.zip bs=1 seek="$offset" conv=notrunc status=none
if "$MS" registry publish evil.zip --key release.key "${T[@]}"; then
  echo "tampered bundle published: this is a bug" >&2; exit 1
fi

echo "== 7. roll back: the deployer follows"
"$MS" registry rollback iris --stage production --key release.key "${T[@]}"
sleep 1
echo "serving: $(cat srv/current/VERSION)"
"$MS" registry log iris "${T[@]}"
kill "$watcher"; wait "$watcher" 2>/dev/null || true; watcher=
echo "== registry demo OK"
