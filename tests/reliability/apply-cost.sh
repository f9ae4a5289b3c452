#!/usr/bin/env bash
# The cost of one apply of N generated recipes in the sandbox (the embedded aws-sim, in the same
# process): CPU seconds (user + system), peak RSS, and the fsync/fdatasync calls it makes. Used for the
# journal figures in docs/reliability.md:
#   cargo build --release -p recipe-cli && for n in 1 10 50; do tests/reliability/apply-cost.sh $n; done
set -euo pipefail
n=${1:-50}
bin=$(realpath "${RECIPE_BIN:-target/release/recipe}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 "$n"); do
  cat > "$work/r$i.yaml" <<YAML
name: r$i
description: generated recipe $i
target: ec2-ami
strategy: full
os: linux
version: 1.0.0
base:
  ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
builder: { region: eu-west-2, instance-type: t3.micro }
steps:
  - shell: { run: "echo $i" }
image: { name: "r$i-\${build_id}" }
YAML
done
cd "$work"
strace -f -qq -c -e trace=fsync,fdatasync -o strace.txt \
  /usr/bin/time -f "%U %S %M" -o time.txt \
  "$bin" apply . --sandbox --auto-approve --parallelism 16 > apply.log 2>&1 || { tail -n 20 apply.log; exit 1; }
read -r user sys rss < time.txt
syncs=$(awk '$NF ~ /^f(data)?sync$/ { s += $4 } END { print s + 0 }' strace.txt)
printf '%s recipes: %.2f s CPU (user %s, sys %s), peak RSS %d MB, %s fsync/fdatasync\n' \
  "$n" "$(echo "$user + $sys" | bc)" "$user" "$sys" "$((rss / 1024))" "$syncs"
