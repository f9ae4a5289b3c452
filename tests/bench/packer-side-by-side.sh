#!/usr/bin/env bash
# Side by side with Packer: the same EC2 workload, by `recipe` and by Packer (amazon-ebs, communicator
# none), against the same local endpoint with the same pending durations: build N images from a base,
# copy each to 2 regions, share with 2 accounts in every region, tag. Reports wall time, peak memory,
# API calls (all, and reads: Describe*/List*/Get*, which is where polling goes) and calls by operation.
#
# Usage: tests/bench/packer-side-by-side.sh [N...]      (default: 1 10 50)
# Env:   BACKENDS="aws-sim moto" (default both), RECIPE_ARGS (extra `recipe apply` options),
#        DURATIONS (aws-sim pending phases, JSON; default below), OUT (markdown results file).
# Needs: Packer (Debian's `packer` package, installed here when missing and running as root), moto in
#        .venv (`./just setup`), a release build (made here).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
counts=${*:-1 10 50}
backends=${BACKENDS:-aws-sim moto}
durations=${DURATIONS:-'{"instance-start-ms": 3000, "instance-stop-ms": 3000, "image-create-ms": 12000, "image-copy-ms": 15000}'}
out=${OUT:-/dev/stdout}

if ! command -v packer >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q packer >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q packer >/dev/null; }
  else
    echo "packer is missing: sudo apt-get install packer" >&2
    exit 1
  fi
fi
cargo build --release --locked --quiet -p recipe-cli -p aws-sim
recipe=$root/target/release/recipe
export AWS_ACCESS_KEY_ID=123456789012 AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true CI=1

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# start_backend NAME: sets $url (where the tools call) and $counts_url / $reset_urls.
start_backend() {
  if [ "$1" = aws-sim ]; then
    local p; p=$(port)
    "$root/target/release/aws-sim" --listen "127.0.0.1:$p" >"$work/sim.log" 2>&1 &
    pids+=($!)
    url=http://127.0.0.1:$p
    wait_up "$url/_sim/health"
    counts_url=$url/_sim/requests
    reset() { curl -fs -X POST "$url/_sim/reset" >/dev/null; curl -fs -X PUT -d "$durations" "$url/_sim/durations" >/dev/null; }
  else
    local p; moto_port=$(port); p=$(port)
    "$root/.venv/bin/moto_server" -p "$moto_port" >"$work/moto.log" 2>&1 &
    pids+=($!)
    wait_up "http://127.0.0.1:$moto_port/moto-api/"
    python3 "$root/tests/bench/count_proxy.py" "$p" "http://127.0.0.1:$moto_port" &
    pids+=($!)
    url=http://127.0.0.1:$p
    wait_up "$url/_counts"
    counts_url=$url/_counts
    # moto checks the builder's instance profile (recipe's default, recipe-builder), as AWS does.
    reset() {
      curl -fs -X POST "http://127.0.0.1:$moto_port/moto-api/reset" >/dev/null
      aws --endpoint-url "http://127.0.0.1:$moto_port" iam create-instance-profile \
        --instance-profile-name recipe-builder >/dev/null
      curl -fs -X POST "$url/_counts/reset" >/dev/null
    }
  fi
}

base_image() {
  aws --endpoint-url "$url" ec2 describe-images --owners amazon --output text \
    --query 'Images[?Architecture==`x86_64` && State==`available`].ImageId | [0]'
}

packer_template() { # N BASE
  python3 - "$1" "$2" "$url" <<'PY'
import json, sys
n, base, url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
accounts = ["111122223333", "444455556666"]
print(json.dumps({"builders": [{
    "type": "amazon-ebs", "name": f"img{i}", "region": "us-east-1",
    "custom_endpoint_ec2": url, "access_key": "123456789012", "secret_key": "x",
    "skip_region_validation": True, "skip_metadata_api_check": True,
    "source_ami": base, "instance_type": "t3.small", "communicator": "none",
    "ami_name": f"bench-{i}-{{{{timestamp}}}}", "ami_regions": ["eu-west-1", "eu-west-2"],
    "ami_users": accounts, "snapshot_users": accounts,
    "tags": {"Name": f"bench-{i}", "Project": "bench"},
} for i in range(n)]}, indent=1))
PY
}

recipes() { # N BASE DIR
  mkdir -p "$3"
  for i in $(seq 0 $(($1 - 1))); do
    cat >"$3/bench-$i.yaml" <<YAML
name: bench-$i
description: Side-by-side benchmark image $i.
target: ec2-ami
strategy: zero
os: linux
version: 1.0.0
base:
  image-id: $2
builder:
  region: us-east-1
  instance-type: t3.small
steps: []
image:
  name: bench-$i-\${build_id}
  tags: { Name: bench-$i, Project: bench }
distribute:
  regions: [us-east-1, eu-west-1, eu-west-2]
  share:
    accounts: ["111122223333", "444455556666"]
YAML
  done
}

# measure LABEL CMD...: one row of results.
measure() {
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  local failed=""
  if ! /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/run.log" 2>&1; then
    # A failed run is reported with its first error, and the benchmark goes on.
    failed=$(grep -m1 -iE "error|fail" "$work/run.log" | cut -c1-160 || true)
    cp "$work/run.log" "${out%.md}.$(echo "$label" | tr -c 'a-z0-9' '-').log" 2>/dev/null || true
    label="$label (FAILED: ${failed:-see its log})"
  fi
  tail -1 "$work/rss" >"$work/rss1" && mv "$work/rss1" "$work/rss"
  t1=$(date +%s.%N)
  curl -fs "$counts_url" >"$work/counts.json"
  python3 - "$label" "$t0" "$t1" "$(cat "$work/rss")" "$work/counts.json" <<'PY' >>"$out"
import json, sys
label, t0, t1, rss, path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
d = json.load(open(path))
counts = d.get("counts", d)
counts = {k: v for k, v in counts.items() if not k.startswith(("sts:", "unknown"))}
total = sum(counts.values())
reads = sum(v for k, v in counts.items() if k.split(":")[1].startswith(("Describe", "List", "Get")))
ops = ", ".join(f"{k.split(':')[1]} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
print(f"| {label} | {t1 - t0:.1f} s | {rss / 1024:.0f} MB | {total} | {reads} | {ops} |")
PY
}

echo "| run | wall | peak memory | API calls | reads (polling) | calls by operation |" >>"$out"
echo "|---|---|---|---|---|---|" >>"$out"
for b in $backends; do
  start_backend "$b"
  for n in $counts; do
    reset
    base=$(base_image)
    packer_template "$n" "$base" >"$work/packer.json"
    measure "$b, $n image(s), Packer $(packer version | head -1 | cut -d' ' -f2)" \
      packer build -color=false -parallel-builds=0 "$work/packer.json"
    reset
    rm -rf "$work/recipes" "$work/state"
    recipes "$n" "$base" "$work/recipes"
    # shellcheck disable=SC2086
    measure "$b, $n image(s), recipe ${RECIPE_ARGS:-}" \
      "$recipe" apply "$work/recipes" --auto-approve --endpoint-url "$url" --region us-east-1 \
      --state "$work/state" ${RECIPE_ARGS:-}
  done
done
