"""The domain proof at scale and on hostile shapes (issue 15), in one run, as ratios.

Every figure is the best of --repeat runs of a whole process (start included), with
its peak memory, against two floors measured in the same run on the same input:
`make -n` on the same graph written as a Makefile, and a Python process that only
loads the same YAML with PyYAML's C loader (the least any checker of the file pays).

    python bench/bench_scale.py [--repeat 3] [--quick]

Goals: the generated 10k-task workflow within 10x of `make -n`; 100k near-linear and
under 1 GB; a chain of 10k tasks each reading `**`, 16k copies of one pattern, two
tasks with 2,000 patterns each: each within 3x of a conflict-free workflow of the same
size; a CODEOWNERS-like workflow with thousands of real overlaps within 5x of the
YAML-only process.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_workflow as gen  # noqa: E402

YAML_ONLY = "import sys, yaml; yaml.load(open(sys.argv[1], 'rb'), Loader=yaml.CSafeLoader)"


def measure(cmd: list[str], repeat: int, cwd: str) -> tuple[float, float, int]:
    """(best wall seconds, peak MB of that process, exit status)."""
    best, peak, status = float("inf"), 0.0, 0
    for _ in range(repeat):
        start = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, raw, usage = os.wait4(p.pid, 0)
        best = min(best, time.perf_counter() - start)
        peak = max(peak, usage.ru_maxrss / 1024)
        status = os.waitstatus_to_exitcode(raw)
    return best, peak, status


def lanes_check(path: str, repeat: int, cwd: str) -> tuple[float, float, int]:
    return measure([sys.executable, "-m", "lanes", "check", "--format", "json", path], repeat, cwd)


def counts(path: str, cwd: str) -> str:
    out = subprocess.run([sys.executable, "-m", "lanes", "check", "--format", "json", path], cwd=cwd,
                         capture_output=True, text=True).stdout
    d = json.loads(out)
    return f"{d['errors']:,} errors, {d['warnings']:,} warnings"


def write(tmp: str, name: str, text: str) -> str:
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="skip the 100k-task workflow")
    args = ap.parse_args()
    r = args.repeat
    have_make = shutil.which("make") is not None
    with tempfile.TemporaryDirectory() as tmp:
        print("generated workflows against make -n and the YAML-only process:")
        times = {}
        for n in ([10000] if args.quick else [10000, 100000]):
            wf, mk = gen.generate(n)
            w = write(tmp, f"w{n}.yaml", wf)
            write(tmp, f"Makefile{n}", mk)
            t, mem, st = lanes_check(w, r if n < 100000 else 1, tmp)
            tm = measure(["make", "-n", "-f", f"Makefile{n}", "all"], r, tmp)[0] if have_make else float("nan")
            ty = measure([sys.executable, "-c", YAML_ONLY, w], r, tmp)[0]
            times[n] = t
            print(f"  {n:>7} tasks: lanes check {t:6.2f} s {mem:6.0f} MB (exit {st})   "
                  f"/ make -n {t / tm:5.2f}x   / YAML only {t / ty:5.2f}x")
        if len(times) == 2:
            print(f"  growth 10k -> 100k: {times[100000] / times[10000]:.1f}x (linear: 10x)")

        print("hostile shapes against a conflict-free workflow of the same size:")
        shapes = [
            ("chain of 10,000 tasks each reading **", gen.chain_reading_all(10000),
             gen.chain_reading_all(10000, overlap=False)),
            ("16,000 copies of one pattern", gen.duplicated_pattern(16000),
             gen.duplicated_pattern(16000, overlap=False)),
            ("two tasks with 2,000 patterns each, all meeting", gen.wide_domains(2000),
             gen.wide_domains(2000, overlap=False)),
            ("the same, the two tasks ordered", gen.wide_domains(2000, ordered=True),
             gen.wide_domains(2000, overlap=False, ordered=True)),
        ]
        for k, (label, hostile, twin) in enumerate(shapes):
            h, c = write(tmp, f"h{k}.yaml", hostile), write(tmp, f"c{k}.yaml", twin)
            th, mh, _ = lanes_check(h, r, tmp)
            tc, _, _ = lanes_check(c, r, tmp)
            print(f"  {label}: {th:5.2f} s {mh:5.0f} MB ({counts(h, tmp)}) / twin {tc:5.2f} s: {th / tc:4.2f}x")

        print("CODEOWNERS-like rules against the YAML-only process:")
        for n in (3000, 6000):
            w = write(tmp, f"owners{n}.yaml", gen.codeowners(n))
            t, mem, _ = lanes_check(w, r, tmp)
            ty = measure([sys.executable, "-c", YAML_ONLY, w], r, tmp)[0]
            print(f"  {n:,} rules ({counts(w, tmp)}): {t:5.2f} s {mem:5.0f} MB / YAML only {ty:5.2f} s: "
                  f"{t / ty:4.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
