# The one entry point for people and CI. `./just` runs this file even where `just` is not installed.

set shell := ["bash", "-euo", "pipefail", "-c"]

recipe := "cargo run --quiet -p recipe-cli --"

# List the recipes.
default:
    @just --list --unsorted

examples := "recipes/ec2 recipes/layered recipes/debian recipes/workspaces recipes/appstream recipes/one-bake"

# The main job: validate the examples, then plan and apply the EC2, WorkSpaces and AppStream ones in
# the sandbox (the embedded local AWS endpoint; no account needed), and plan again: nothing left to
# change. The first apply stops at the finance AppStream example's `manual` gate (exit 3); the second
# goes on past it, as it would once a person had done what the gate says. The Debian examples' steps
# really run, in Debian root filesystems (docs/sandbox.md); their images are tarballs.
demo: sandbox-tools
    {{recipe}} validate recipes/
    {{recipe}} plan {{examples}} --sandbox
    {{recipe}} apply {{examples}} --sandbox --auto-approve || test $? -eq 3
    {{recipe}} apply {{examples}} --sandbox --auto-approve
    {{recipe}} verify --all --sandbox
    {{recipe}} plan {{examples}} --sandbox --detailed-exitcode

# What the sandbox's machines need (docs/sandbox.md): bubblewrap, mmdebstrap, zstd (Debian packages).
sandbox-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if command -v bwrap >/dev/null && command -v mmdebstrap >/dev/null && command -v zstd >/dev/null; then exit 0; fi
    sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
    $sudo apt-get update -qq && $sudo apt-get install -y -qq bubblewrap mmdebstrap zstd >/dev/null

# Install what the tests use besides cargo: the sandbox's tools, and moto (an independent S3
# emulator) and the AWS CLI (a second client for aws-sim) into .venv/.
setup: sandbox-tools
    test -x .venv/bin/python || python3 -m venv .venv
    .venv/bin/python -c 'import moto.server' 2>/dev/null || .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.2.1,<6'
    test -x .venv/bin/aws || .venv/bin/pip install --quiet --disable-pip-version-check 'awscli>=1.40,<2'
    .venv/bin/python -c 'import cyclonedx.validation.json' 2>/dev/null || .venv/bin/pip install --quiet --disable-pip-version-check 'cyclonedx-python-lib[json-validation]>=8,<12'

# Every test: Rust unit, fixture, CLI and moto-backed tests, then the editor (LSP + schema) tests.
test: setup test-rust test-editor

# Rust tests (one cargo build; snapshots under crates/*/tests/snapshots). Four at a time on any
# machine: most of the CLI's apply tests wait on aws-sim's clock, not on a core.
test-rust:
    cargo test --workspace --all-targets --locked -- --test-threads 4

# Drive the real yaml-language-server and an independent JSON Schema validator.
test-editor:
    cargo build --quiet --locked -p recipe-cli
    cd tests/editor && npm ci --no-audit --no-fund --loglevel=error && npm test

# Format, clippy with warnings as errors, schema drift, the size limits (no file over 800 lines, no
# function over 150, tests aside: tests/limits.py), and one build of the AWS SDK for build and test
# (tests/one_sdk_build.py).
lint:
    cargo fmt --all --check
    python3 tests/limits.py
    python3 tests/one_sdk_build.py
    cargo clippy --workspace --all-targets --locked --quiet -- -D warnings
    {{recipe}} schema --check

# Regenerate schemas/*.json from the model.
schema:
    {{recipe}} schema

# Review changed snapshots (needs cargo-insta), or accept them all with `just snapshots accept`.
snapshots mode="review":
    if [ "{{mode}}" = accept ]; then INSTA_UPDATE=always cargo test --workspace --quiet; else cargo insta review; fi

# Run the local AWS endpoint (docs/aws-sim.md) on 127.0.0.1:4566; state kept in .recipe/aws-sim.
sim *args:
    cargo run --quiet -p aws-sim -- --state-dir .recipe/aws-sim {{args}}

# Benchmarks; results go in docs/benchmarks.md.
bench: bench-validate bench-plan bench-schedule

# Validate 1,000 generated recipes (release build).
bench-validate:
    cargo bench -p recipe-loader --bench validate

# Plan 1,000 layered recipes with state present (release build).
bench-plan:
    cargo bench -p recipe-plan --bench plan

# Reliability runs (kill -9 at random points, faults, lost answers, concurrent applies, invalid
# input), then the journal's cost per apply size; the figures are in docs/reliability.md. CI runs the
# short versions with the tests.
reliability trials="60":
    RELIABILITY_TRIALS={{trials}} cargo test -p recipe-cli --test apply --locked reliability -- --nocapture --test-threads 1
    cargo build --release --locked -p recipe-cli
    for n in 1 10 50; do tests/reliability/apply-cost.sh $n; done

# Schedule 5,000 no-op actions through the executor (release build).
bench-schedule:
    cargo bench -p recipe-engine --bench schedule

# Side by side with Packer (installed from Debian's packages when missing): 1, 10 and 50 images, against aws-sim and moto.
bench-packer *counts:
    tests/bench/packer-side-by-side.sh {{counts}}

# Wall time against the plan's critical path: N recipes × R regions × A accounts on aws-sim.
bench-critical-path n="50" r="3" a="2":
    tests/bench/critical-path.sh {{n}} {{r}} {{a}}

# Validate and plan copies of an example recipe at 10, 100, 1,000 and 10,000 (release binary).
bench-scale *counts:
    tests/bench/plan-copies.sh {{counts}}

# Fuzz the loader for SECONDS seconds (needs cargo-fuzz, pinned in .ci/run; seeds the corpus from the examples and fixtures).
fuzz seconds="60":
    mkdir -p fuzz/corpus/load_recipe
    find recipes crates/recipe-loader/tests/fixtures -name '*.yaml' | while read -r f; do cp "$f" "fuzz/corpus/load_recipe/${f//\//_}"; done
    cd fuzz && cargo fuzz run --dev --sanitizer none load_recipe corpus/load_recipe -- -max_total_time={{seconds}} -rss_limit_mb=2048 -max_len=16384

# Everything CI runs after installing tools.
ci: lint test
