#!/usr/bin/env python3
"""One osrun against another (a baseline: an older build, its own test
guest), measured in the same run: each provisions its own store, then runs
alternate, so load and page cache fall on both alike. Prints the medians and
the ratio new/baseline for a plain run and for one with output.

  python3 bench/compare.py BASE_OSRUN BASE_GUEST_DIR NEW_OSRUN NEW_GUEST_DIR [RUNS]

e.g. a worktree at an older commit, built with `make`, against this one."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "true": "true",
    "output": "seq 1 20000",
    "exit 3": "exit 3",
}


def run(osrun, env, cmd):
    t0 = time.monotonic()
    r = subprocess.run([osrun, cmd], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    took = time.monotonic() - t0
    return took, r.returncode, r.stderr.decode(errors="replace")


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    base, base_guest, new, new_guest = sys.argv[1:5]
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 15
    top = tempfile.mkdtemp(prefix="osrun-compare.")
    try:
        sides = {}
        for name, osrun, guest in (("base", base, base_guest), ("new", new, new_guest)):
            env = dict(os.environ, OSRUN_CACHE=os.path.join(top, name), OSRUN_GUEST_DIR=guest,
                       TMPDIR=os.path.join(top, name + "-tmp"))
            os.makedirs(env["TMPDIR"])
            subprocess.run([osrun, "provision"], env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            sides[name] = (osrun, env)
        times = {(s, c): [] for s in sides for c in COMMANDS}
        for i in range(runs):
            for label, cmd in COMMANDS.items():
                order = ("base", "new") if i % 2 == 0 else ("new", "base")
                for s in order:
                    took, rc, err = run(sides[s][0], sides[s][1], cmd)
                    want = 3 if cmd == "exit 3" else 0
                    if rc != want:
                        sys.exit(f"{s} '{cmd}': exit {rc}, expected {want}: {err}")
                    times[(s, label)].append(took)
        print(f"{'command':<10} {'base':>8} {'new':>8} {'new/base':>9}   (medians of {runs}, alternating)")
        for label in COMMANDS:
            b = statistics.median(times[("base", label)])
            n = statistics.median(times[("new", label)])
            print(f"{label:<10} {b:>7.3f}s {n:>7.3f}s {n / b:>8.2f}x")
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
