"""The events API (list, filters, pagination, errors) and the operations endpoints."""

import re
import sqlite3
import time

import pytest

from conftest import (ALL_SCHEMES_ENDPOINTS, ALL_SCHEMES_SECRETS, MLFLOW_SECRET, SECRET_OF,
                      databricks_body, github_push_body, mlflow_body, new_id, signed_headers,
                      standard_body)


@pytest.fixture(scope="module")
def seeded(stagegate_module):
    endpoints = dict(ALL_SCHEMES_ENDPOINTS)
    endpoints["metered"] = {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]}
    server = stagegate_module(endpoints, secrets=ALL_SCHEMES_SECRETS)
    deliveries = [
        ("databricks", databricks_body("TRANSITION_REQUEST_CREATED", model="churn", version="3")),
        ("mlflow", mlflow_body(name="fraud", version="1")),
        ("databricks", databricks_body("TRANSITION_REQUEST_TO_PRODUCTION_CREATED",
                                       model="churn", version="4")),
        ("standard", standard_body("model_version.created", model="churn", version="5")),
        ("mlflow", mlflow_body("model_version_alias", "created",
                               {"name": "fraud", "alias": "champion", "version": "1"})),
        ("github", github_push_body()),
        ("databricks", databricks_body("MODEL_VERSION_CREATED", model="fraud", version="2")),
        ("standard", standard_body("TRANSITION_REQUEST_CREATED", model="fraud", version="2",
                                   to_stage="Staging")),
        ("mlflow", mlflow_body(name="churn", version="6")),
    ]
    ids = []
    for scheme, body in deliveries:
        r = server.deliver(scheme, scheme, SECRET_OF[scheme], body)
        assert r.status == 200 and r.json()["duplicate"] is False, r
        ids.append(r.json()["event_id"])
    return server, ids


def listed_ids(server, **params):
    r = server.get("/api/v1/events", **params)
    assert r.status == 200, r
    return [e["id"] for e in r.json()["events"]]


def test_list_is_newest_first(seeded):
    server, ids = seeded
    r = server.get("/api/v1/events")
    assert r.status == 200
    assert r.header("Content-Type").startswith("application/json")
    doc = r.json()
    assert [e["id"] for e in doc["events"]] == sorted(ids, reverse=True)
    assert doc["next_cursor"] is None
    newest = doc["events"][0]
    assert newest["type"] == "model_version.created"
    assert newest["model"] == {"name": "churn", "version": "6"}
    assert newest["endpoint"] == "mlflow" and newest["source"] == "mlflow"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", newest["received_at"])
    assert "payload" not in newest  # summaries only; the detail has the payload


def test_filters(seeded):
    server, ids = seeded
    assert listed_ids(server, endpoint="databricks") == [ids[6], ids[2], ids[0]]
    assert listed_ids(server, endpoint="github") == [ids[5]]
    assert listed_ids(server, model="churn") == [ids[8], ids[3], ids[2], ids[0]]
    assert listed_ids(server, model="nope") == []
    canonical = listed_ids(server, type="transition_request.created")
    assert canonical == [ids[7], ids[2], ids[0]]
    assert listed_ids(server, type="TRANSITION_REQUEST_CREATED") == canonical
    assert listed_ids(server, type="model_version_alias.created") == [ids[4]]
    assert listed_ids(server, type="MODEL_VERSION_CREATED") == [ids[8], ids[6], ids[3], ids[1]]
    assert listed_ids(server, endpoint="databricks", model="churn",
                      type="transition_request.created") == [ids[2], ids[0]]
    prod = server.event(ids[2])
    assert prod["to_stage"] == "Production"
    assert prod["raw_type"] == "TRANSITION_REQUEST_TO_PRODUCTION_CREATED"


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_cursor_pagination_walks_every_event_once(seeded, limit):
    server, ids = seeded
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = server.get("/api/v1/events", **params)
        assert r.status == 200, r
        doc = r.json()
        assert 1 <= len(doc["events"]) <= limit
        seen += [e["id"] for e in doc["events"]]
        pages += 1
        cursor = doc["next_cursor"]
        if cursor is None:
            break
        assert pages < 50
    assert seen == sorted(ids, reverse=True)
    assert pages == -(-len(ids) // limit)
    # With a filter too.
    r1 = server.get("/api/v1/events", model="churn", limit=3)
    r2 = server.get("/api/v1/events", model="churn", limit=3, cursor=r1.json()["next_cursor"])
    assert [e["id"] for e in r1.json()["events"] + r2.json()["events"]] == \
        [ids[8], ids[3], ids[2], ids[0]]
    assert r2.json()["next_cursor"] is None


@pytest.mark.parametrize("query", [
    "limit=0", "limit=501", "limit=abc", "limit=-1", "limit=1.5", "cursor=abc", "cursor=0",
    "cursor=-5", "type=nope", "type=prompt.created", "type=model_version.deleted"])
def test_bad_query_is_400(seeded, query):
    server, _ = seeded
    r = server.get(f"/api/v1/events?{query}")
    assert r.status == 400, (query, r)
    message = r.json()["error"]["message"]
    assert query.split("=")[0] in message, message


def test_single_event(seeded):
    server, ids = seeded
    ev = server.event(ids[0])
    assert ev["id"] == ids[0]
    assert ev["type"] == "transition_request.created"
    assert ev["raw_type"] == "TRANSITION_REQUEST_CREATED"
    assert ev["to_stage"] == "Production" and ev["from_stage"] == "Staging"
    assert ev["model"] == {"name": "churn", "version": "3"}
    assert ev["verification"]["verified"] is True
    sig = [h for h in ev["headers"] if h["name"].lower() == "x-databricks-signature"]
    assert sig == [{"name": "X-Databricks-Signature", "value": "[redacted]"}]
    r = server.get("/api/v1/events/999999")
    assert r.status == 404, r
    assert "999999" in r.json()["error"]["message"]
    assert server.get("/api/v1/events/abc").status == 400
    r = server.get(f"/api/v1/events/{ids[0]}/headers")  # no such sub-resource
    assert r.status == 404 and "no route for GET" in r.json()["error"]["message"], r
    r = server.request("DELETE", f"/api/v1/events/{ids[0]}")
    assert r.status == 405 and r.header("Allow") == "GET"


def test_health_and_readiness(seeded):
    server, _ = seeded
    r = server.get("/healthz")
    assert r.status == 200 and r.json()["status"] == "ok"
    r = server.get("/readyz")
    assert r.status == 200 and r.json()["status"] == "ready"


def test_head_answers_like_get_without_a_body(seeded):
    server, ids = seeded
    for path in ["/healthz", "/api/v1/events", f"/api/v1/events/{ids[0]}", "/api/v1/events/999999"]:
        got = server.get(path)
        # A HEAD answer announces the GET body's length but carries no body.
        head = server.request("HEAD", path)
        assert head.status == got.status, (path, head)
        assert head.header("Content-Length") == str(len(got.body)), (path, head.headers)
        assert head.body == b"", (path, head.body)


def parse_metrics(text):
    values, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            values[key] = float(value)
    return values, types


def test_metrics(seeded):
    server, _ = seeded
    body = mlflow_body(name="metered", version="1")
    delivery = new_id("m")
    for _ in range(2):
        assert server.deliver("metered", "mlflow", MLFLOW_SECRET, mlflow_body(name="m")) \
            .status == 200
    assert server.deliver("metered", "mlflow", MLFLOW_SECRET, body, delivery_id=delivery) \
        .status == 200
    assert server.deliver("metered", "mlflow", MLFLOW_SECRET, body, delivery_id=delivery) \
        .status == 200
    for _ in range(3):
        assert server.deliver("metered", "mlflow", "wrong", body).status == 401
    assert server.deliver("metered", "mlflow", MLFLOW_SECRET, "{not json").status == 400

    r = server.get("/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain")
    values, types = parse_metrics(r.text)
    assert types["stagegate_deliveries_total"] == "counter"
    lbl = 'stagegate_deliveries_total{endpoint="metered",outcome="%s"}'
    assert values[lbl % "accepted"] == 3
    assert values[lbl % "duplicate"] == 1
    assert values[lbl % "unauthorized"] == 3
    assert values[lbl % "malformed"] == 1
    assert values['stagegate_deliveries_total{endpoint="databricks",outcome="accepted"}'] >= 3

    assert types["stagegate_ingress_latency_seconds"] == "histogram"
    h = "stagegate_ingress_latency_seconds"
    assert values[f'{h}_count{{endpoint="metered"}}'] == 8
    assert values[f'{h}_bucket{{endpoint="metered",le="+Inf"}}'] == 8
    assert values[f'{h}_sum{{endpoint="metered"}}'] > 0
    buckets = [v for k, v in values.items() if k.startswith(f'{h}_bucket{{endpoint="metered",')]
    assert buckets == sorted(buckets) and len(buckets) > 3

    assert types["stagegate_store_commit_seconds"] == "histogram"
    assert values["stagegate_store_commit_seconds_count"] >= 1
    assert values['stagegate_store_commit_seconds_bucket{le="+Inf"}'] == \
        values["stagegate_store_commit_seconds_count"]


@pytest.mark.parametrize("store,wait", [
    ({"url": "sqlite:data/events.db", "busy_timeout": "200ms"}, 0.2),
    # The same with the scalar form and the default busy timeout (5 s), which still checks the
    # 503 path while the mapping form above is broken (config_loader.cpp ParseStore).
    ("sqlite:data/events.db", 5.0),
], ids=["busy_timeout-200ms", "default-busy-timeout"])
def test_locked_store_gives_503_then_recovers(stagegate, store, wait):
    server = stagegate({"mlflow": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]}},
                       secrets={"env:SG_E2E_MLFLOW": MLFLOW_SECRET}, store=store)
    assert server.deliver("mlflow", "mlflow", MLFLOW_SECRET, mlflow_body()).status == 200
    body = mlflow_body(name="locked", version="9")
    headers = signed_headers("mlflow", MLFLOW_SECRET, body)

    locker = sqlite3.connect(str(server.db_path), isolation_level=None, timeout=1)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        r = server.post("mlflow", body, headers)
        elapsed = time.monotonic() - started
        assert r.status == 503, r
        assert wait * 0.8 <= elapsed < wait + 3, elapsed
        assert r.header("Retry-After") is not None and int(r.header("Retry-After")) >= 1
        assert r.json()["error"]["status"] == 503
        ready = server.get("/readyz")
        assert ready.status == 503, ready
        assert server.get("/healthz").status == 200  # alive, just not ready
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    r = server.post("mlflow", body, headers)  # the sender's retry: the same request
    assert r.status == 200, r
    assert r.json()["duplicate"] is False
    assert server.event(r.json()["event_id"])["model"] == {"name": "locked", "version": "9"}
    assert server.get("/readyz").status == 200
    assert server.count() == 2
    values, _ = parse_metrics(server.metrics())
    assert values['stagegate_deliveries_total{endpoint="mlflow",outcome="unavailable"}'] == 1


def test_github_ping_is_answered_and_not_stored(seeded):
    server, _ = seeded
    before = server.count()
    body = '{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"Repository"}}'
    r = server.deliver("github", "github", SECRET_OF["github"], body, github_event="ping")
    assert r.status == 200, r
    assert r.json() == {"ping": True}
    assert server.count() == before


def test_non_ascii_payload_is_stored_byte_for_byte(seeded):
    server, _ = seeded
    # MLflow sends ensure_ascii JSON, other senders raw UTF-8: both are kept verbatim.
    body = ('{"entity": "model_version", "action": "created", "timestamp": '
            '"2026-01-02T03:04:05.000000+00:00", "data": {"name": "modèle-✓", "version": "2", '
            '"description": "caf\\u00e9  \\ud83d\\ude00 – ok"}}').encode("utf-8")
    r = server.deliver("mlflow", "mlflow", MLFLOW_SECRET, body)
    assert r.status == 200, r
    ev = server.event(r.json()["event_id"])
    assert ev["payload"].encode("utf-8") == body
    assert ev["payload_bytes"] == len(body)
    assert ev["model"]["name"] == "modèle-✓"
    assert ev["text"] == "café  \U0001F600 – ok"
    assert server.all_events(model="modèle-✓")[0]["id"] == ev["id"]


def test_pipelined_requests_on_one_keep_alive_connection(seeded):
    import socket

    from conftest import build_request, read_response

    server, _ = seeded
    bodies = [mlflow_body(name="pipelined", version=str(v)) for v in (1, 2, 3)]
    data = b"".join(
        build_request("POST", "/hooks/mlflow",
                      dict(signed_headers("mlflow", MLFLOW_SECRET, b), Connection="keep-alive"), b)
        for b in bodies)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)  # three requests in one write
        answers = [read_response(sock) for _ in bodies]
    assert [a.status for a in answers] == [200, 200, 200], answers
    ids = [a.json()["event_id"] for a in answers]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [server.event(i)["model"]["version"] for i in ids] == ["1", "2", "3"]
