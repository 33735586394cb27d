"""Replays six requests captured from a real MLflow 3.x tracking server, byte for byte."""

import json

import pytest

from conftest import DATA_DIR, raw_request

MLFLOW_SECRET = "s3cr3t-for-test"  # the secret the captured webhook was created with

# What each captured delivery must become: canonical type, model, version, alias, tags, text.
EXPECTED = [
    dict(type="registered_model.created", raw_type="registered_model.created",
         model={"name": "fraud-model", "version": None}, alias=None,
         tags=[{"key": "team", "value": "risk"}], text="Fraud detector"),
    dict(type="model_version.created", raw_type="model_version.created",
         model={"name": "fraud-model", "version": "1"}, alias=None,
         tags=[{"key": "stage", "value": "candidate"}], text="first"),
    dict(type="model_version_alias.created", raw_type="model_version_alias.created",
         model={"name": "fraud-model", "version": "1"}, alias="champion", tags=[]),
    dict(type="model_version_tag.set", raw_type="model_version_tag.set",
         model={"name": "fraud-model", "version": "1"}, alias=None,
         tags=[{"key": "validation_status", "value": "approved"}]),
    dict(type="model_version_tag.deleted", raw_type="model_version_tag.deleted",
         model={"name": "fraud-model", "version": "1"}, alias=None,
         tags=[{"key": "validation_status", "value": ""}]),
    dict(type="model_version_alias.deleted", raw_type="model_version_alias.deleted",
         model={"name": "fraud-model", "version": None}, alias="champion", tags=[]),
]


def load_captured():
    with open(DATA_DIR / "mlflow-captured-requests.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def replay_bytes(captured, port):
    """The captured request, byte for byte, except the Host header."""
    method, target, version = captured["requestline"].split(" ")
    lines = [captured["requestline"]]
    for name, value in captured["headers"]:
        lines.append(f"{name}: {f'127.0.0.1:{port}' if name.lower() == 'host' else value}")
    body = captured["body"].encode("utf-8")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, body


def header(captured, name):
    return next(v for k, v in captured["headers"] if k.lower() == name.lower())


@pytest.fixture
def captured():
    reqs = load_captured()
    assert len(reqs) == len(EXPECTED) == 6
    for r in reqs:
        assert r["requestline"] == "POST /hooks/mlflow HTTP/1.1"
        assert int(header(r, "Content-Length")) == len(r["body"].encode("utf-8"))
    return reqs


def test_replay_captured_mlflow_deliveries(stagegate, captured):
    server = stagegate({"mlflow": {"scheme": "mlflow", "secrets": ["env:MLFLOW_WEBHOOK_SECRET"],
                                   "tolerance": "off"}},
                       secrets={"env:MLFLOW_WEBHOOK_SECRET": MLFLOW_SECRET})
    event_ids = []
    for req, want in zip(captured, EXPECTED):
        data, body = replay_bytes(req, server.port)
        r = raw_request(server.port, data)
        assert r.status == 200, r
        answer = r.json()
        assert answer["duplicate"] is False, answer
        assert answer["type"] == want["type"]
        event_ids.append(answer["event_id"])

        ev = server.event(answer["event_id"])
        assert ev["endpoint"] == "mlflow"
        assert ev["source"] == "mlflow"
        for key in ("type", "raw_type", "model", "alias", "tags"):
            assert ev[key] == want[key], (key, ev)
        if "text" in want:
            assert ev["text"] == want["text"]
        assert ev["delivery_id"] == header(req, "X-MLflow-Delivery-Id")
        # The payload is stored verbatim: byte-identical to what MLflow sent.
        assert ev["payload"].encode("utf-8") == body
        assert ev["payload_bytes"] == len(body)
        shown = {h["name"].lower(): h["value"] for h in ev["headers"]}
        assert shown["x-mlflow-signature"] == "[redacted]"
        assert header(req, "X-MLflow-Signature") not in json.dumps(ev)
        assert shown["x-mlflow-delivery-id"] == header(req, "X-MLflow-Delivery-Id")
        assert shown["x-mlflow-timestamp"] == header(req, "X-MLflow-Timestamp")
        assert ev["verification"]["scheme"] == "mlflow"
        assert ev["verification"]["verified"] is True
        assert ev["verification"]["secret_index"] == 0

    assert len(set(event_ids)) == 6
    assert event_ids == sorted(event_ids)
    listed = server.all_events()
    assert [e["id"] for e in listed] == sorted(event_ids, reverse=True)

    # MLflow retries resend the identical request: a duplicate, same event id, nothing new.
    for req, first_id in zip(captured, event_ids):
        data, _ = replay_bytes(req, server.port)
        r = raw_request(server.port, data)
        assert r.status == 200, r
        assert r.json()["duplicate"] is True
        assert r.json()["event_id"] == first_id
    assert server.count() == 6


def test_replay_is_rejected_as_stale_with_default_tolerance(stagegate, captured):
    server = stagegate({"mlflow": {"scheme": "mlflow", "secrets": ["env:MLFLOW_WEBHOOK_SECRET"]}},
                       secrets={"env:MLFLOW_WEBHOOK_SECRET": MLFLOW_SECRET})
    for req in captured:
        data, _ = replay_bytes(req, server.port)
        r = raw_request(server.port, data)
        assert r.status == 401, r
        message = r.json()["error"]["message"]
        assert "X-MLflow-Timestamp" in message, message
        assert MLFLOW_SECRET not in r.text
        assert header(req, "X-MLflow-Signature")[3:] not in r.text
    assert server.count() == 0
