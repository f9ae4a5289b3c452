#!/usr/bin/env python3
"""Check that `cargo build -p recipe-cli` and `cargo test --workspace` build the AWS SDK once.

The SDK is most of the build. Cargo builds a crate again when an invocation asks for other features
of it, and a dev-dependency (or another workspace member) that turns on a feature of a crate the
SDK uses (tokio's `test-util`, `time`'s `formatting`, `syn`'s `fold`, ...) makes the test build
compile every SDK crate a second time. This compares the features each crate of the SDK's
dependency tree gets in the two invocations, and names any that differ.
"""

import subprocess
import sys


def features(args):
    out = subprocess.run(
        ["cargo", "tree", "--locked", "--prefix", "none", "--format", "{p}|{f}", *args],
        check=True, capture_output=True, text=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        if "|" not in line:
            continue
        pkg, feats = line.replace(" (*)", "").split("|", 1)
        found.setdefault(pkg.strip(), set()).update(f for f in feats.split(",") if f)
    return found


def main():
    cli = features(["-p", "recipe-cli", "-e", "normal,build"])
    sdk_roots = sorted({p.split()[0] for p in cli if p.startswith(("aws-sdk-", "aws-config"))})
    sdk = set()
    for root in sdk_roots:
        sdk.update(features(["-p", root, "-e", "normal,build"]))
    test = features(["--workspace", "-e", "normal,build,dev"])
    differ = [
        f"{p}: the tests add {sorted(test[p] - cli[p])}"
        for p in sorted(sdk & set(cli))
        if p in test and test[p] != cli[p]
    ]
    if differ:
        print("the test build would compile the AWS SDK again:", *differ, sep="\n  ")
        sys.exit(1)
    print(f"one SDK build: {len(sdk)} crates get the same features in both")


if __name__ == "__main__":
    main()
