#!/usr/bin/python3
"""Post-back: from a task's end to the registry's receipt of the verdict it leads to, and how
fast the outbox drains a burst of runs, against the registry double answering at once.

    bench/postback.py STAGEGATE_BIN [--events N] [--burst M] [--dir DIR]

Each run is `check` (a shell task that writes its end time) then `verdict`. Two servers are
measured side by side with the same pipeline shape:
  registry: verdict is `uses: registry.set_tag` (the outbox: two fsyncs and one HTTP call);
  baseline: verdict is a shell task writing its start time (the local runner's next task).
Latency is check's end -> the double's receipt of set-tag (registry) or verdict's start
(baseline), over N sequential deliveries. Throughput is M deliveries posted at once, timed
from the first post to the last verdict; the outbox is not the bottleneck when the registry
server keeps up with the baseline.
"""
import argparse
import http.client
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (SECRET_ENV, percentile, post_delivery, read_marks,  # noqa: E402
                      start_serve)
from registry_double.server import RegistryDouble  # noqa: E402

SET_TAG = "/api/2.0/mlflow/model-versions/set-tag"

PIPELINE = """\
name: postback
on:
  registry: {events: [model_version.created]}
env:
  MARK: ${{ event.model.version }}
  OUT: %(out)s
tasks:
  check:
    run: echo "$MARK end $(date +%%s%%N)" >> "$OUT/marks"
  verdict:
    needs: [check]
%(verdict)s
"""
REGISTRY_VERDICT = """\
    uses: registry.set_tag
    with: {key: stagegate.verdict, value: passed}
"""
BASELINE_VERDICT = """\
    run: echo "$MARK next $(date +%s%N)" >> "$OUT/marks"
"""


class Server:
    def __init__(self, binary, work, registry_url, registry):
        self.work = work
        (work / "pipelines").mkdir(parents=True)
        verdict = REGISTRY_VERDICT if registry else BASELINE_VERDICT
        (work / "pipelines" / "postback.yaml").write_text(PIPELINE % {"out": work, "verdict": verdict})
        config = {"listen": "127.0.0.1:0", "store": "sqlite:stagegate.db",
                  "endpoints": {"mlflow": {"scheme": "mlflow", "secrets": ["env:" + SECRET_ENV],
                                           "registry": "double"}},
                  "registries": {"double": {"dialect": "mlflow", "url": registry_url}},
                  "pipelines": {"dir": "pipelines"},
                  "runners": {"local": {"max_parallel": 8, "work_dir": "work"}}}
        self.proc, self.port = start_serve(binary, work, config)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def deliver(self, version):
        post_delivery(self.conn, "bench", version)

    def marks(self):
        return read_marks(self.work / "marks")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def receipts(double):
    """version -> the double's receipt time of its set-tag call, ns."""
    return {c["body"]["version"]: int(c["time"] * 1e9) for c in double.calls(SET_TAG)
            if c["status"] == 200}


def verdict_times(server, double):
    if double is not None:
        return receipts(double)
    return {v: t for (v, kind), t in server.marks().items() if kind == "next"}


def wait_all(server, double, versions, timeout):
    deadline = time.monotonic() + timeout
    while True:
        got = verdict_times(server, double)
        if all(v in got for v in versions):
            return got
        if time.monotonic() > deadline:
            raise SystemExit(f"{sum(v in got for v in versions)} of {len(versions)} verdicts "
                             f"after {timeout} s")
        time.sleep(0.002)


def measure(server, double, events, burst):
    latency = []
    for i in range(1, events + 1):
        version = str(i)
        server.deliver(version)
        got = wait_all(server, double, [version], 10)
        latency.append((got[version] - server.marks()[(version, "end")]) / 1e6)
    first = events + 1
    versions = [str(v) for v in range(first, first + burst)]
    t0 = time.time_ns()
    for v in versions:
        server.deliver(v)
    got = wait_all(server, double, versions, 120)
    seconds = (max(got[v] for v in versions) - t0) / 1e9
    return latency, burst / seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    double = RegistryDouble(dialect="mlflow").start()
    double.registry.create_model("bench")
    for _ in range(args.events + args.burst):
        double.registry.create_version("bench", "s3://b/m")
    root = pathlib.Path(tempfile.mkdtemp(prefix="sg-postback-", dir=args.dir))
    results = {}
    try:
        for name, registry in (("baseline", False), ("registry", True)):
            server = Server(binary, root / name, double.url, registry)
            try:
                results[name] = measure(server, double if registry else None, args.events, args.burst)
            finally:
                server.stop()
        calls = double.calls(SET_TAG)
        assert len(calls) == args.events + args.burst, f"{len(calls)} set-tag calls, not once each"
    finally:
        double.stop()
        shutil.rmtree(root, ignore_errors=True)

    print(f"post-back over {args.events} sequential deliveries, then a burst of {args.burst} "
          f"(SQLite synchronous=FULL, registry double answering at once), milliseconds")
    print(f"{'measure':<52} {'p50':>8} {'p99':>8} {'max':>8}")
    rows = [("registry: task end -> registry receives set-tag", results["registry"][0]),
            ("baseline: task end -> next shell task running", results["baseline"][0])]
    for name, values in rows:
        print(f"{name:<52} {percentile(values, 50):8.2f} {percentile(values, 99):8.2f} "
              f"{max(values):8.2f}")
    print(f"burst: registry {results['registry'][1]:.0f} runs/s, baseline "
          f"{results['baseline'][1]:.0f} runs/s (ratio {results['registry'][1] / results['baseline'][1]:.2f}); "
          f"each set-tag call reached the double exactly once")
    slow = max(range(len(results["registry"][0])), key=lambda i: results["registry"][0][i])
    print(f"slowest registry post-back: delivery {slow + 1} of {args.events}")
    print(f"ratio p50 registry to baseline: "
          f"{statistics.median(results['registry'][0]) / statistics.median(results['baseline'][0]):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
