"""200 means durable: kill -9 under load loses no acknowledged delivery and duplicates none."""

import http.client
import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import MLFLOW_SECRET, mlflow_body, signed_headers

THREADS = 8
KILL_AFTER = [1.5, 0.8, 0.3]  # seconds of load before each kill -9


def stored_counts(db_path):
    """delivery_id -> number of rows, read straight from the SQLite file."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute("SELECT delivery_id, COUNT(*), MIN(id) FROM events "
                           "WHERE endpoint = 'mlflow' GROUP BY delivery_id").fetchall()
    finally:
        con.close()
    return {did: (n, first_id) for did, n, first_id in rows}


def load(server, round_no, attempted, acked, stop):
    lock = threading.Lock()
    errors = []

    def worker(t):
        conn = None
        n = 0
        while not stop.is_set():
            n += 1
            did = f"crash-{round_no}-{t}-{n}"
            body = mlflow_body(data={"name": f"crash-model-{t}", "version": str(n),
                                     "source": "s3://bucket/m", "run_id": None, "tags": {},
                                     "description": did})
            headers = signed_headers("mlflow", MLFLOW_SECRET, body, delivery_id=did)
            with lock:
                attempted[did] = (body, headers)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
                conn.request("POST", "/hooks/mlflow", body=body.encode(), headers=headers)
                r = conn.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
                continue
            if r.status == 200:
                answer = json.loads(data)
                with lock:
                    if answer["duplicate"]:
                        errors.append(f"{did}: fresh delivery answered duplicate: {answer}")
                    acked[did] = answer["event_id"]
            elif r.status != 503:
                with lock:
                    errors.append(f"{did}: HTTP {r.status} {data!r}")
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()
    return threads, errors


def resend(server, items):
    def one(item):
        did, (body, headers) = item
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("POST", "/hooks/mlflow", body=body.encode(), headers=headers)
            r = conn.getresponse()
            return did, r.status, json.loads(r.read())
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, items))


def test_kill_9_under_load_loses_no_acknowledged_delivery(stagegate):
    server = stagegate({"mlflow": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]}},
                       secrets={"env:SG_E2E_MLFLOW": MLFLOW_SECRET})
    attempted = {}  # delivery id -> (body, headers), every round
    acked = {}  # delivery id -> event id answered with 200
    for round_no, kill_after in enumerate(KILL_AFTER):
        round_acked = {}
        round_attempted = {}
        stop = threading.Event()
        threads, errors = load(server, round_no, round_attempted, round_acked, stop)
        time.sleep(kill_after)
        server.kill()  # SIGKILL: no shutdown code runs
        stop.set()
        for th in threads:
            th.join(timeout=10)
            assert not th.is_alive()
        assert not errors, errors[:5]
        assert round_acked, f"round {round_no}: no delivery was acknowledged in {kill_after}s"
        print(f"round {round_no}: attempted {len(round_attempted)} acked {len(round_acked)}")
        attempted.update(round_attempted)
        acked.update(round_acked)

        server.start()  # same config, same database
        counts = stored_counts(server.db_path)
        missing = [d for d in round_acked if d not in counts]
        assert not missing, f"round {round_no}: {len(missing)} acknowledged deliveries lost, " \
                            f"e.g. {missing[:3]}"
        doubled = {d: n for d, (n, _) in counts.items() if n != 1}
        assert not doubled, f"stored more than once: {list(doubled.items())[:3]}"
        wrong_id = {d: (counts[d][1], e) for d, e in acked.items() if counts[d][1] != e}
        assert not wrong_id, f"stored under another event id: {list(wrong_id.items())[:3]}"
        unknown = set(counts) - set(attempted)
        assert not unknown, unknown

        # The API shows the same thing after the restart.
        listed = {e["delivery_id"]: e["id"] for e in server.all_events(endpoint="mlflow")}
        assert len(listed) == len(counts)
        for did, event_id in round_acked.items():
            assert listed[did] == event_id

        # Senders retry whatever was not acknowledged; retrying everything must converge on
        # exactly one event per delivery, and acknowledged ones are duplicates.
        for did, status, answer in resend(server, sorted(round_attempted.items())):
            assert status == 200, (did, status, answer)
            if did in round_acked:
                assert answer["duplicate"] is True, (did, answer)
                assert answer["event_id"] == round_acked[did]
        counts = stored_counts(server.db_path)
        assert set(counts) == set(attempted)
        assert all(n == 1 for n, _ in counts.values())
        assert server.count(endpoint="mlflow") == len(attempted)
