#!/usr/bin/env bash
# Validate and plan N copies of recipes/ec2/web-storefront-full.yaml (with its includes, script and
# files) through the release binary: `recipe validate`, and `recipe plan --refresh=false --format json`
# (no cloud calls; no state, so every recipe is a first build). Reports wall time (best of RUNS) and
# peak memory, per N.
#
# Usage: tests/bench/plan-copies.sh [N...]     (default: 10 100 1000 10000)
# Env:   RUNS (default 5), OUT (markdown results file; default standard output), RECIPE (a recipe
#        binary to measure instead of building this tree's, e.g. another commit's, for before/after).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
counts=${*:-10 100 1000 10000}
runs=${RUNS:-5}
out=${OUT:-/dev/stdout}
if [ -z "${RECIPE:-}" ]; then
  cargo build --release --locked --quiet -p recipe-cli
fi
recipe=${RECIPE:-$root/target/release/recipe}
export AWS_ACCESS_KEY_ID=123456789012 AWS_SECRET_ACCESS_KEY=x AWS_REGION=eu-west-2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_set() { # N DIR
  rm -rf "$2"
  mkdir -p "$2/ec2"
  cp -r recipes/components "$2/components"
  cp -r recipes/ec2/scripts recipes/ec2/files "$2/ec2/"
  for i in $(seq 1 "$1"); do
    sed "s/^name: web-storefront$/name: web-storefront-$i/" recipes/ec2/web-storefront-full.yaml >"$2/ec2/web-storefront-$i.yaml"
  done
}

# best LABEL CMD...: best wall time and the peak memory of that run, over RUNS runs.
best() {
  local label=$1; shift
  local best_s="" best_kb=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$work/t" "$@" >/dev/null 2>"$work/err" || {
      echo "$label failed:" >&2; tail -20 "$work/err" >&2; exit 1; }
    read -r s kb <"$work/t"
    if [ -z "$best_s" ] || awk "BEGIN{exit !($s < $best_s)}"; then best_s=$s; best_kb=$kb; fi
  done
  printf '| %s | %s s | %d MB |\n' "$label" "$best_s" $((best_kb / 1024)) >>"$out"
}

echo "| run | wall (best of $runs) | peak memory |" >>"$out"
echo "|---|---|---|" >>"$out"
for n in $counts; do
  make_set "$n" "$work/set"
  best "validate, $n recipes" "$recipe" validate "$work/set"
  best "plan --refresh=false --format json, $n recipes" \
    "$recipe" plan "$work/set" --refresh=false --format json --state "$work/state"
done
