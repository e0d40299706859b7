#!/usr/bin/env python3
"""Compares what each test printed across libtest logs (`cargo test -- --show-output`).

Each log is split into (test binary, test name) -> printed lines, and into the per-binary
result counts. Lines tagged "[varies]" and libtest's timing are ignored. Prints the counts
of every log and the first differences; exits 1 if any test printed differently.
"""
import re
import sys

RUNNING = re.compile(r"^\s*Running (.+?) \((?:.*/)?([^/]+?)(?:-[0-9a-f]{16})?\)")
# A panicking thread's OS id differs from run to run; the message does not.
THREAD_ID = re.compile(r"^(thread '[^']*') \(\d+\)")
DOCTESTS = re.compile(r"^\s*Doc-tests (\S+)")
BLOCK = re.compile(r"^---- (.+) stdout ----$")
RESULT = re.compile(r"^test result: (\w+)\. (\d+) passed; (\d+) failed; (\d+) ignored")


def parse(path):
    outputs, counts = {}, {}
    binary, current = "?", None
    with open(path, encoding="utf-8", errors="replace") as log:
        for raw in log:
            line = raw.rstrip("\n")
            if m := RUNNING.match(line):
                binary, current = f"{m.group(2)} {m.group(1)}", None
            elif m := DOCTESTS.match(line):
                binary, current = "doc " + m.group(1), None
            elif m := BLOCK.match(line):
                current = (binary, m.group(1))
                outputs[current] = []
            elif line in ("successes:", "failures:") or line.startswith("test result:"):
                current = None
                if m := RESULT.match(line):
                    counts[binary] = tuple(int(g) for g in m.groups()[1:])
            elif current is not None and "[varies]" not in line:
                outputs[current].append(THREAD_ID.sub(r"\1", line))
    for key in outputs:
        while outputs[key] and outputs[key][-1] == "":
            outputs[key].pop()
    return outputs, counts


def main(paths):
    parsed = [(p, *parse(p)) for p in paths]
    for path, outputs, counts in parsed:
        passed = sum(c[0] for c in counts.values())
        failed = sum(c[1] for c in counts.values())
        ignored = sum(c[2] for c in counts.values())
        print(f"{path}: {passed} passed, {failed} failed, {ignored} ignored; "
              f"{len(outputs)} tests printed {sum(len(v) for v in outputs.values())} lines")
    base_path, base, base_counts = parsed[0]
    differences = 0
    for path, outputs, counts in parsed[1:]:
        if counts != base_counts:
            differences += 1
            print(f"{path}: result counts differ from {base_path}")
        for key in sorted(set(base) | set(outputs)):
            a, b = base.get(key), outputs.get(key)
            if a != b:
                differences += 1
                if differences <= 20:
                    print(f"{path}: {key[1]} ({key[0]}) printed differently:")
                    print(f"  {base_path}: {a}")
                    print(f"  {path}: {b}")
    if differences:
        print(f"compare-test-output: {differences} differences", file=sys.stderr)
        return 1
    print(f"compare-test-output: all {len(parsed)} runs printed the same numbers")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: compare-test-output.py LOG LOG [LOG ...]")
    sys.exit(main(sys.argv[1:]))
