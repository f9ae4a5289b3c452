#!/usr/bin/env bash
# Wall time against the critical path: N recipes, each built in one region, copied to R-1 more and
# shared with A accounts in every region, applied against aws-sim with realistic relative durations
# (a builder starts in 4 s, an image takes 30 s, a copy 40 s; tags, shares and calls take what aws-sim
# takes). The plan's critical path is computed with the same durations (`--estimate`), so the ratio
# wall / critical path says how much the engine adds: scheduling, limits, polling.
#
# Usage: tests/bench/critical-path.sh [N] [R] [A]     (default 50 3 2)
# Env:   RECIPE_ARGS (extra `recipe apply` options), OUT (markdown results file).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
n=${1:-50}
r=${2:-3}
a=${3:-2}
out=${OUT:-/dev/stdout}
cargo build --release --locked --quiet -p recipe-cli -p aws-sim
recipe=$root/target/release/recipe
export AWS_ACCESS_KEY_ID=123456789012 AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 CI=1
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$root/target/release/aws-sim" --listen "127.0.0.1:$port" >"$work/sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; rm -rf "$work"' EXIT
url=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$url/_sim/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs -X PUT "$url/_sim/durations" \
  -d '{"instance-start-ms": 4000, "instance-stop-ms": 4000, "image-create-ms": 30000, "image-copy-ms": 40000}' >/dev/null

regions=$(python3 -c "import sys; print(', '.join(['us-east-1', 'eu-west-1', 'eu-west-2', 'eu-central-1', 'ap-northeast-1', 'ap-southeast-2', 'us-west-2', 'us-east-2'][:$r]))")
accounts=$(python3 -c "print(', '.join('\"%012d\"' % (111111111111 * (i + 1)) for i in range($a)))")
mkdir -p "$work/recipes"
for i in $(seq 1 "$n"); do
  cat >"$work/recipes/cp-$i.yaml" <<YAML
name: cp-$i
description: Critical-path benchmark image $i.
target: ec2-ami
strategy: zero
os: linux
version: 1.0.0
base:
  ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
builder:
  region: us-east-1
  instance-type: t3.small
steps: []
image:
  name: cp-$i-\${build_id}
distribute:
  regions: [$regions]
  share:
    accounts: [$accounts]
YAML
done
estimates=(--estimate resolve-base=0s --estimate launch-builder=4s --estimate capture=0s
  --estimate wait-available=30s --estimate tag=0s --estimate terminate-builder=0s
  --estimate copy=40s --estimate share=0s)
common=(--endpoint-url "$url" --state "$work/state")
"$recipe" plan "$work/recipes" "${common[@]}" "${estimates[@]}" --format json >"$work/plan.json"
critical=$(python3 -c "import json; print(json.load(open('$work/plan.json'))['critical_path']['total_secs'])")
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$recipe" apply "$work/recipes" "${common[@]}" --auto-approve ${RECIPE_ARGS:-} >"$work/apply.log" 2>&1 ||
  { tail -30 "$work/apply.log" >&2; exit 1; }
t1=$(date +%s.%N)
calls=$(curl -fs "$url/_sim/requests" | python3 -c "import json,sys; print(sum(v for k,v in json.load(sys.stdin)['counts'].items() if not k.startswith('sts:')))")
python3 - "$n" "$r" "$a" "$critical" "$t0" "$t1" "$calls" "${RECIPE_ARGS:-defaults}" <<'PY' >>"$out"
import sys
n, r, a, cp, t0, t1, calls, args = sys.argv[1:]
wall = float(t1) - float(t0)
print(f"| {n} × {r} × {a} | {args} | {cp} s | {wall:.1f} s | {wall / float(cp):.2f} | {calls} |")
PY
