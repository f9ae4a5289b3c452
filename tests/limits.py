#!/usr/bin/env python3
"""Size limits (issue 27): no Rust file over 800 lines and no function over 150 lines, tests aside.

A file's length counts up to its `#[cfg(test)]` module; files under tests/ and `*_tests.rs` are
tests. Run from the repository root: `python3 tests/limits.py` (or `./just lint`). Prints each
breach and exits 1 if there is one.
"""
import os
import re
import sys

MAX_FILE, MAX_FN = 800, 150
FN = re.compile(r'^(\s*)(?:pub(?:\([a-z]+\))? )?(?:const )?(?:async )?(?:unsafe )?fn ([a-z_0-9]+)')


def sources(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in ('target', 'tests', 'benches')]
        for f in files:
            if f.endswith('.rs') and not f.endswith('_tests.rs'):
                yield os.path.join(d, f)


def breaches(path):
    lines = open(path, encoding='utf-8').read().split('\n')
    end = next((i for i, l in enumerate(lines) if l.startswith('#[cfg(test)]')), len(lines))
    if end > MAX_FILE:
        yield f'{path}: {end} lines (at most {MAX_FILE})'
    i = 0
    while i < end:
        m = FN.match(lines[i])
        line = lines[i]
        one_liner = '{' in line and line.count('{') == line.count('}')
        if m and not line.rstrip().endswith(';') and not one_liner:
            closing, j = m.group(1) + '}', i
            while j < end and lines[j].rstrip() != closing:
                j += 1
            n = j - i + 1
            if n > MAX_FN:
                yield f'{path}:{i + 1}: fn {m.group(2)} is {n} lines (at most {MAX_FN})'
            i = j
        i += 1


def main():
    found = [b for p in sorted(sources('crates')) for b in breaches(p)]
    for b in found:
        print(b)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
