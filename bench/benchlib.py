"""Helpers shared by the Python benchmarks: percentiles, signed MLflow deliveries, starting
`stagegate serve` on a free port, and the timestamp marks tasks write."""
import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import time
import uuid

SECRET = "bench-" + uuid.uuid4().hex
SECRET_ENV = "SG_BENCH_SECRET"


def percentile(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def mlflow_delivery(model, version):
    """(body, headers) of a signed model_version.created delivery (protocols.md §3.4)."""
    body = json.dumps({"entity": "model_version", "action": "created",
                       "timestamp": "2026-01-02T03:04:05.123456+00:00",
                       "data": {"name": model, "version": version, "source": "s3://b/m",
                                "run_id": None, "tags": {}, "description": None}}).encode()
    did, ts = str(uuid.uuid4()), int(time.time())
    mac = hmac.new(SECRET.encode(), f"{did}.{ts}.".encode() + body, hashlib.sha256).digest()
    headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": did,
               "X-MLflow-Timestamp": str(ts),
               "X-MLflow-Signature": "v1," + base64.b64encode(mac).decode()}
    return body, headers


def post_delivery(conn, model, version):
    body, headers = mlflow_delivery(model, version)
    conn.request("POST", "/hooks/mlflow", body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status


def start_serve(binary, work, config):
    """Starts `stagegate serve` in `work` with `config` (a dict; its mlflow endpoint should
    use env:SG_BENCH_SECRET); returns (process, port)."""
    (work / "config.yaml").write_text(json.dumps(config))
    env = dict(os.environ, **{SECRET_ENV: SECRET})
    proc = subprocess.Popen([binary, "serve", "--config", "config.yaml", "--log-level", "warn"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    for line in proc.stdout:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    raise SystemExit("stagegate did not start")


def read_marks(path):
    """{(mark, kind): nanoseconds} from lines `MARK KIND $(date +%s%N)` tasks appended."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                out[(parts[0], parts[1])] = int(parts[2])
    return out
