#!/usr/bin/python3
"""Dispatch latency: from a signed delivery's 200 to its run's first task process, and from a
task's last line to the start of the task that needs it, with the local runner.

    bench/dispatch_latency.py STAGEGATE_BIN [--events N] [--dir DIR]

Beside each figure it measures the floor the same way: how long this script takes to start
`/bin/sh -c 'date +%s%N'` and read the timestamp the shell printed, i.e. the cost of one
process start as the tasks see it. Every timestamp comes from `date +%s%N` (wall clock) in the
task itself, so both figures include one shell and one `date` start.
"""
import argparse
import http.client
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (SECRET_ENV, percentile, post_delivery, read_marks,  # noqa: E402
                      start_serve)

PIPELINE = """\
name: latency
on:
  registry: {events: [model_version.created]}
env:
  MARK: ${{ event.model.version }}
  OUT: %(out)s
tasks:
  first:
    run: |
      echo "$MARK start $(date +%%s%%N)" >> "$OUT/marks"
      echo "$MARK end $(date +%%s%%N)" >> "$OUT/marks"
  second:
    needs: [first]
    run: echo "$MARK next $(date +%%s%%N)" >> "$OUT/marks"
"""


def start_server(binary, work):
    (work / "pipelines").mkdir()
    (work / "pipelines" / "latency.yaml").write_text(PIPELINE % {"out": work})
    config = {"listen": "127.0.0.1:0", "store": "sqlite:stagegate.db",
              "endpoints": {"mlflow": {"scheme": "mlflow", "secrets": ["env:" + SECRET_ENV]}},
              "pipelines": {"dir": "pipelines"},
              "runners": {"local": {"max_parallel": 4, "work_dir": "work"}}}
    return start_serve(binary, work, config)


def process_floor(n):
    samples = []
    for _ in range(n):
        t0 = time.time_ns()
        out = subprocess.run(["/bin/sh", "-c", "date +%s%N"], capture_output=True, text=True)
        samples.append((int(out.stdout) - t0) / 1e6)
    return samples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    args.binary = os.path.abspath(args.binary)
    work = pathlib.Path(tempfile.mkdtemp(prefix="sg-latency-", dir=args.dir))
    proc, port = start_server(args.binary, work)
    start_lat, next_lat = [], []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for i in range(1, args.events + 1):
            version = str(i)
            post_delivery(conn, "bench", version)
            acked = time.time_ns()
            deadline = time.monotonic() + 10
            while True:
                m = read_marks(work / "marks")
                if (version, "next") in m:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"run of event {i} did not finish in 10 s")
                time.sleep(0.002)
            start_lat.append((m[(version, "start")] - acked) / 1e6)
            next_lat.append((m[(version, "next")] - m[(version, "end")]) / 1e6)
        floor = process_floor(args.events)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    print(f"dispatch latency over {args.events} sequential deliveries (local runner, SQLite "
          f"synchronous=FULL), milliseconds")
    print(f"{'measure':<42} {'p50':>8} {'p99':>8} {'max':>8}")
    rows = [("delivery 200 -> first task running", start_lat),
            ("upstream task done -> next task running", next_lat),
            ("floor: sh + date start, from this script", floor)]
    for name, values in rows:
        print(f"{name:<42} {percentile(values, 50):8.2f} {percentile(values, 99):8.2f} "
              f"{max(values):8.2f}")
    print(f"ratio p50 to the floor: start {statistics.median(start_lat) / statistics.median(floor):.1f}x, "
          f"next {statistics.median(next_lat) / statistics.median(floor):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
