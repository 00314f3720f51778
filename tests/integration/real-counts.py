#!/usr/bin/env python3
"""A test suite's results, read from its own output, as sorted lines.

    real-counts.py KIND LOG

KIND is how the suite reports: "ctest" (CTest's per-test lines, as
`ctest` prints them for jansson) or "zlib" (zlib's `make test`: one
"*** zlib ... test OK ***" or "... FAILED ***" per test program).
Prints "RESULT NAME" per test, sorted, then "total N passed P failed F".
Two runs of one suite ran the same tests with the same results when these
lines are equal. Exit 1 when the log holds no test at all (a build that
failed before the suite, a log cut short), or when CTest's own summary
disagrees with the lines counted.
"""
import re
import sys


def ctest(text):
    # "  1/213 Test   #1: api__test_array ............   Passed    0.01 sec"
    # "  7/213 Test   #7: x ...***Failed    0.02 sec" (also "***Timeout",
    # "***Exception: SegFault", "Not Run").
    line = re.compile(r"^\s*\d+/\d+ Test\s+#\d+: (\S+) \.*\s*(\*+)?(Passed|Failed|Timeout|Exception|Not Run)\b")
    res = {}
    for l in text.splitlines():
        m = line.match(l)
        if m:
            res[m.group(1)] = "pass" if m.group(3) == "Passed" else "fail"
    m = re.search(r"(\d+)% tests passed, (\d+) tests? failed out of (\d+)", text)
    if not m:
        raise SystemExit("no CTest summary in the log")
    failed, total = int(m.group(2)), int(m.group(3))
    if total != len(res) or failed != sum(1 for v in res.values() if v == "fail"):
        raise SystemExit("CTest says %d failed of %d; the log's lines say %d of %d" %
                         (failed, total, sum(1 for v in res.values() if v == "fail"), len(res)))
    return res


def zlib(text):
    res = {}
    for m in re.finditer(r"\*\*\* zlib (.*?)test (OK|FAILED) \*\*\*", text):
        name = "zlib " + (m.group(1).strip() or "static")
        res[name] = "pass" if m.group(2) == "OK" else "fail"
    return res


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("ctest", "zlib"):
        raise SystemExit(__doc__)
    text = open(sys.argv[2], errors="replace").read()
    res = {"ctest": ctest, "zlib": zlib}[sys.argv[1]](text)
    if not res:
        raise SystemExit("no test results in %s" % sys.argv[2])
    for name in sorted(res):
        print(res[name], name)
    p = sum(1 for v in res.values() if v == "pass")
    print("total %d passed %d failed %d" % (len(res), p, len(res) - p))


main()
