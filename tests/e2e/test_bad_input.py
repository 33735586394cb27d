"""Everything a webhook receiver must refuse, end to end, and what it must not leak."""

import base64
import json
import os
import socket
import time
import uuid

import pytest

from conftest import (DATABRICKS_SECRET, GITHUB_SECRET, MLFLOW_SECRET, STANDARD_SECRET,
                      build_request, closed_by_peer, databricks_body, mlflow_body, raw_request,
                      read_response, sample_body, sign_databricks, sign_github, sign_mlflow,
                      sign_standard, signed_headers)

MAX_BODY = 4096
OLD_MLFLOW_SECRET = "old-" + uuid.uuid4().hex
NEW_MLFLOW_SECRET = "new-" + uuid.uuid4().hex
OLD_STANDARD_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
OTHER_STANDARD_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
ALL_SECRETS = [MLFLOW_SECRET, DATABRICKS_SECRET, GITHUB_SECRET, STANDARD_SECRET,
               OLD_MLFLOW_SECRET, NEW_MLFLOW_SECRET, OLD_STANDARD_SECRET]

SECRET = {"mlflow": MLFLOW_SECRET, "databricks": DATABRICKS_SECRET, "github": GITHUB_SECRET,
          "standard": STANDARD_SECRET}
SIG_HEADER = {"mlflow": "X-MLflow-Signature", "databricks": "X-Databricks-Signature",
              "github": "X-Hub-Signature-256", "standard": "webhook-signature"}
TS_HEADER = {"mlflow": "X-MLflow-Timestamp", "standard": "webhook-timestamp"}
ID_HEADER = {"mlflow": "X-MLflow-Delivery-Id", "standard": "webhook-id"}


@pytest.fixture(scope="module")
def server(stagegate_module):
    return stagegate_module(
        {"mlflow": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]},
         "databricks": {"scheme": "databricks", "secrets": ["env:SG_E2E_DATABRICKS"]},
         "github": {"scheme": "github", "secrets": ["file:github"]},
         "standard": {"scheme": "standard", "secrets": ["env:SG_E2E_STANDARD"]},
         "mlflow-off": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"], "tolerance": "off"},
         "rotated": {"scheme": "mlflow", "secrets": ["env:SG_E2E_OLD", "file:new"]},
         "std-rotated": {"scheme": "standard",
                         "secrets": ["file:std-old", "env:SG_E2E_STANDARD"]}},
        secrets={"env:SG_E2E_MLFLOW": MLFLOW_SECRET, "env:SG_E2E_DATABRICKS": DATABRICKS_SECRET,
                 "file:github": GITHUB_SECRET, "env:SG_E2E_STANDARD": STANDARD_SECRET,
                 "env:SG_E2E_OLD": OLD_MLFLOW_SECRET, "file:new": NEW_MLFLOW_SECRET,
                 "file:std-old": OLD_STANDARD_SECRET},
        limits={"max_body": "4KiB", "header_timeout": "1s", "body_timeout": "1s"},
        log_level="debug")


def true_signature(scheme, secret, headers, body):
    """The signature value that would be valid for these headers and body."""
    h = {k.lower(): v for k, v in headers.items()}
    if scheme == "databricks":
        return sign_databricks(secret, body)
    if scheme == "github":
        return sign_github(secret, body)
    ts = h.get(TS_HEADER[scheme].lower(), "")
    did = h.get(ID_HEADER[scheme].lower(), "")
    if scheme == "mlflow":
        return sign_mlflow(secret, did, ts, body)
    return sign_standard(secret, did, ts, body)


def assert_one_line_json_error(r, status):
    assert r.status == status, r
    assert r.text.endswith("\n") and "\n" not in r.text[:-1], r.text
    doc = r.json()
    assert doc["error"]["status"] == status
    return doc["error"]["message"]


def assert_no_leak(r, secret, signature):
    for value in (secret, signature, signature.split(",", 1)[-1], signature.split("=", 1)[-1]):
        if len(value) >= 16:
            assert value not in r.text, (value, r.text)


def _drop(name):
    def mutate(scheme, headers, body):
        headers.pop(name if isinstance(name, str) else name[scheme])
        return headers
    return mutate


def _set(name, value):
    def mutate(scheme, headers, body):
        headers[name if isinstance(name, str) else name[scheme]] = value(scheme, headers, body)
        return headers
    return mutate


def _resign_at(offset):
    """Signs correctly, but with a timestamp `offset` seconds from now."""
    def mutate(scheme, headers, body):
        return signed_headers(scheme, SECRET[scheme], body, timestamp=int(time.time()) + offset)
    return mutate


def _wrong_secret(scheme, headers, body):
    other = {"mlflow": "not-the-secret", "databricks": "not-the-secret",
             "github": "not-the-secret", "standard": OTHER_STANDARD_SECRET}[scheme]
    return signed_headers(scheme, other, body)


CASES = [
    # (scheme, case, mutation, header the message must name)
    *[(s, "wrong signature", _wrong_secret, SIG_HEADER[s]) for s in SIG_HEADER],
    *[(s, "missing signature", _drop(SIG_HEADER), SIG_HEADER[s]) for s in SIG_HEADER],
    ("databricks", "malformed signature (not hex)", _set(SIG_HEADER, lambda *a: "zz" * 32),
     "X-Databricks-Signature"),
    ("databricks", "malformed signature (short)", _set(SIG_HEADER, lambda *a: "abc123"),
     "X-Databricks-Signature"),
    ("github", "malformed signature (no sha256=)",
     _set(SIG_HEADER, lambda s, h, b: sign_github(GITHUB_SECRET, b)[7:]), "X-Hub-Signature-256"),
    ("github", "malformed signature (sha1=)",
     _set(SIG_HEADER, lambda *a: "sha1=" + "a" * 40), "X-Hub-Signature-256"),
    ("mlflow", "malformed signature (sha256= hex)",
     _set(SIG_HEADER, lambda s, h, b: sign_github(MLFLOW_SECRET, b)), "X-MLflow-Signature"),
    ("mlflow", "malformed signature (v2)",
     _set(SIG_HEADER, lambda s, h, b: "v2," + h["X-MLflow-Signature"][3:]), "X-MLflow-Signature"),
    ("standard", "malformed signature (v1a)",
     _set(SIG_HEADER, lambda s, h, b: "v1a," + h["webhook-signature"][3:]), "webhook-signature"),
    ("standard", "malformed signature (garbage)",
     _set(SIG_HEADER, lambda *a: "garbage"), "webhook-signature"),
    *[(s, "missing timestamp", _drop(TS_HEADER), TS_HEADER[s]) for s in TS_HEADER],
    *[(s, "non-numeric timestamp", _set(TS_HEADER, lambda *a: "12:30"), TS_HEADER[s])
      for s in TS_HEADER],
    *[(s, "stale timestamp", _resign_at(-3600), TS_HEADER[s]) for s in TS_HEADER],
    *[(s, "timestamp just outside 5m", _resign_at(-(5 * 60 + 30)), TS_HEADER[s])
      for s in TS_HEADER],
    *[(s, "future timestamp", _resign_at(+3600), TS_HEADER[s]) for s in TS_HEADER],
    *[(s, "missing delivery id", _drop(ID_HEADER), ID_HEADER[s]) for s in ID_HEADER],
]


@pytest.mark.parametrize("scheme,case,mutate,named", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_rejected_with_401(server, scheme, case, mutate, named):
    before = server.count()
    body = sample_body(scheme)
    headers = mutate(scheme, signed_headers(scheme, SECRET[scheme], body), body)
    r = server.post(scheme, body, headers)
    message = assert_one_line_json_error(r, 401)
    assert named.lower() in message.lower(), message
    assert_no_leak(r, SECRET[scheme], true_signature(scheme, SECRET[scheme], headers, body))
    assert server.count() == before


def test_timestamp_inside_window_is_accepted(server):
    # The counterpart of the stale/future cases: MLflow retries resend the same timestamp.
    for scheme in ("mlflow", "standard"):
        for offset in (-240, +60):
            r = server.deliver(scheme, scheme, SECRET[scheme], sample_body(scheme),
                               timestamp=int(time.time()) + offset)
            assert r.status == 200, (scheme, offset, r)


def test_every_active_secret_is_accepted(server):
    before = server.count()
    for index, secret in enumerate([OLD_MLFLOW_SECRET, NEW_MLFLOW_SECRET]):
        r = server.deliver("rotated", "mlflow", secret, sample_body("mlflow"))
        assert r.status == 200, r
        assert server.event(r.json()["event_id"])["verification"]["secret_index"] == index
    for index, secret in enumerate([OLD_STANDARD_SECRET, STANDARD_SECRET]):
        r = server.deliver("std-rotated", "standard", secret, sample_body("standard"))
        assert r.status == 200, r
        assert server.event(r.json()["event_id"])["verification"]["secret_index"] == index
    # A retired secret is refused.
    r = server.deliver("rotated", "mlflow", MLFLOW_SECRET, sample_body("mlflow"))
    assert r.status == 401, r
    # Standard Webhooks senders may list several signatures; one valid one is enough.
    body = sample_body("standard")
    h = signed_headers("standard", STANDARD_SECRET, body)
    bad = sign_standard(OTHER_STANDARD_SECRET, h["webhook-id"], h["webhook-timestamp"], body)
    h["webhook-signature"] = f"{bad} v1a,AAAA {h['webhook-signature']}"
    r = server.post("standard", body, h)
    assert r.status == 200, r
    assert server.count() == before + 5


def test_tolerance_off_accepts_a_stale_timestamp(server):
    day_ago = int(time.time()) - 86400
    body = sample_body("mlflow")
    r = server.deliver("mlflow-off", "mlflow", MLFLOW_SECRET, body, timestamp=day_ago)
    assert r.status == 200, r
    ev = server.event(r.json()["event_id"])
    assert ev["verification"]["skew_seconds"] >= 86400
    # ... while the same delivery on the endpoint with the default tolerance is refused.
    r = server.deliver("mlflow", "mlflow", MLFLOW_SECRET, body, timestamp=day_ago)
    assert r.status == 401, r


def _padded_mlflow_body(size):
    base = mlflow_body(data={"name": "big", "version": "1", "source": "s", "run_id": None,
                             "tags": {}, "description": ""})
    body = base.replace('"description": ""', '"description": "' + "x" * (size - len(base)) + '"')
    assert len(body) == size
    return body


def test_body_at_the_limit_is_accepted(server):
    body = _padded_mlflow_body(MAX_BODY)
    r = server.deliver("mlflow", "mlflow", MLFLOW_SECRET, body)
    assert r.status == 200, r
    assert server.event(r.json()["event_id"])["payload_bytes"] == MAX_BODY


def test_body_over_the_limit_is_refused_before_it_is_read(server):
    before = server.count()
    body = _padded_mlflow_body(MAX_BODY + 1)
    headers = signed_headers("mlflow", MLFLOW_SECRET, body)
    server.sent_secrets.add(headers["X-MLflow-Signature"])
    r = server.post("mlflow", body, headers)
    assert_one_line_json_error(r, 413)

    # Only the headers, announcing 10 MiB: the 413 must come before any body byte is sent.
    huge = 10 * 1024 * 1024
    headers = signed_headers("mlflow", MLFLOW_SECRET, "x")
    server.sent_secrets.add(headers["X-MLflow-Signature"])
    head = build_request("POST", "/hooks/mlflow",
                         dict(headers, **{"Content-Length": str(huge)}), b"")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        started = time.monotonic()
        r = read_response(sock, timeout=5)
        assert time.monotonic() - started < 3
        message = assert_one_line_json_error(r, 413)
        assert str(MAX_BODY) in message
        assert (r.header("Connection") or "").lower() == "close"
        sock.shutdown(socket.SHUT_WR)
        closed, _ = closed_by_peer(sock, 5)
        assert closed
    assert server.count() == before


def test_chunked_body_over_the_limit_is_refused(server):
    before = server.count()
    # A small chunked body is fine ...
    body = sample_body("mlflow").encode()
    headers = signed_headers("mlflow", MLFLOW_SECRET, body)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50]), body[i:i + 50])
                       for i in range(0, len(body), 50)) + b"0\r\n\r\n"
    r = raw_request(server.port, build_request(
        "POST", "/hooks/mlflow", dict(headers, **{"Transfer-Encoding": "chunked"}), chunked))
    assert r.status == 200, r
    assert server.count() == before + 1
    # ... a chunked body over max_body is not.
    big = _padded_mlflow_body(3 * MAX_BODY).encode()
    headers = signed_headers("mlflow", MLFLOW_SECRET, big)
    server.sent_secrets.add(headers["X-MLflow-Signature"])
    head = build_request("POST", "/hooks/mlflow",
                         dict(headers, **{"Transfer-Encoding": "chunked"}), b"")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        try:
            for i in range(0, len(big), 1024):
                piece = big[i:i + 1024]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may stop reading once it has refused the body
        r = read_response(sock, timeout=5)
    assert_one_line_json_error(r, 413)
    assert server.count() == before + 1


@pytest.mark.parametrize("scheme", ["mlflow", "databricks", "standard", "github"])
def test_malformed_json_is_400(server, scheme):
    before = server.count()
    body = '{"entity": "model_version", "action": "created", "data": {"name": "x"'
    r = server.deliver(scheme, scheme, SECRET[scheme], body)
    message = assert_one_line_json_error(r, 400)
    assert "JSON" in message, message
    assert server.count() == before


UNMAPPABLE = [
    ("databricks", databricks_body(event="MODEL_VERSION_DELETED"), {}, "MODEL_VERSION_DELETED"),
    ("mlflow", mlflow_body("prompt", "created", {"name": "p", "tags": {}, "description": None}),
     {}, "prompt"),
    ("mlflow", mlflow_body("prompt_version", "created",
                           {"name": "p", "version": "1", "template": "hi", "tags": {},
                            "description": None}), {}, "prompt_version.created"),
    ("github", json.dumps({"action": "opened", "issue": {"number": 1},
                           "repository": {"full_name": "example/pipelines"}}),
     {"github_event": "issues"}, "issues"),
]


@pytest.mark.parametrize("scheme,body,kw,named", UNMAPPABLE,
                         ids=[f"{u[0]}-{u[3]}" for u in UNMAPPABLE])
def test_signed_payload_the_scheme_cannot_map_is_400(server, scheme, body, kw, named):
    before = server.count()
    r = server.deliver(scheme, scheme, SECRET[scheme], body, **kw)
    message = assert_one_line_json_error(r, 400)
    assert named in message, message
    assert server.count() == before


def test_unknown_endpoint_is_404(server):
    body = sample_body("mlflow")
    r = server.deliver("nosuch", "mlflow", MLFLOW_SECRET, body)
    message = assert_one_line_json_error(r, 404)
    assert "nosuch" in message


def test_get_on_a_hook_is_405(server):
    r = server.get("/hooks/mlflow")
    assert_one_line_json_error(r, 405)
    assert r.header("Allow") == "POST"


def test_client_stalling_in_the_headers_is_disconnected(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /hooks/mlflow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
        started = time.monotonic()
        closed, _ = closed_by_peer(sock, 5)
        elapsed = time.monotonic() - started
    assert closed, "a client that stalls in its headers was not disconnected within 5 s"
    assert 0.7 <= elapsed <= 3.5, elapsed


def test_client_stalling_in_the_body_is_disconnected(server):
    before = server.count()
    body = sample_body("mlflow").encode()
    headers = signed_headers("mlflow", MLFLOW_SECRET, body)
    server.sent_secrets.add(headers["X-MLflow-Signature"])
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(build_request("POST", "/hooks/mlflow", headers, body)[:-len(body) // 2])
        started = time.monotonic()
        closed, got = closed_by_peer(sock, 5)
        elapsed = time.monotonic() - started
    assert closed, "a client that stalls in its body was not disconnected within 5 s"
    assert 0.7 <= elapsed <= 3.5, elapsed
    assert not got.startswith(b"HTTP/1.1 200"), got
    assert server.count() == before


def test_max_connections(stagegate):
    srv = stagegate({"mlflow": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]}},
                    secrets={"env:SG_E2E_MLFLOW": MLFLOW_SECRET},
                    limits={"max_connections": 4})
    time.sleep(0.3)  # let the server see the start-up probe's connection close
    idle = []
    try:
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            # A full keep-alive exchange proves the connection was accepted and is counted.
            s.sendall(build_request("GET", "/healthz", {"Connection": "keep-alive"}))
            assert read_response(s).status == 200
            idle.append(s)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as fifth:
            r = read_response(fifth, timeout=5)
            message = assert_one_line_json_error(r, 503)
            assert "connections" in message
            assert r.header("Retry-After") is not None
            closed, _ = closed_by_peer(fifth, 3)
            assert closed, "the refused connection was not closed"
        # The four idle ones still work.
        idle[0].sendall(build_request("GET", "/healthz", {"Connection": "keep-alive"}))
        assert read_response(idle[0]).status == 200
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 3
    while True:
        try:
            r = srv.deliver("mlflow", "mlflow", MLFLOW_SECRET, sample_body("mlflow"))
            if r.status == 200:
                break
        except (ConnectionError, OSError):
            r = None
        assert time.monotonic() < deadline, f"no success after closing the idle connections: {r}"
        time.sleep(0.1)
    assert srv.count() == 1


def test_header_names_are_case_insensitive(server):
    for scheme in ("mlflow", "standard", "databricks", "github"):
        body = sample_body(scheme)
        headers = signed_headers(scheme, SECRET[scheme], body)
        for name in list(headers):
            headers[name.lower() if scheme != "standard" else name.upper()] = headers.pop(name)
        r = server.post(scheme, body, headers)
        assert r.status == 200, (scheme, r)


def test_expect_100_continue(server):
    body = sample_body("mlflow").encode()
    headers = dict(signed_headers("mlflow", MLFLOW_SECRET, body), Expect="100-continue")
    headers["Content-Length"] = str(len(body))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(build_request("POST", "/hooks/mlflow", headers, b""))  # headers only
        interim = read_response(sock, timeout=5)
        assert interim.status == 100, interim
        sock.sendall(body)
        r = read_response(sock, timeout=5)
    assert r.status == 200, r


def test_expect_100_continue_over_the_limit_is_413_without_continue(server):
    before = server.count()
    headers = dict(signed_headers("mlflow", MLFLOW_SECRET, "x"), Expect="100-continue")
    headers["Content-Length"] = str(MAX_BODY * 10)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(build_request("POST", "/hooks/mlflow", headers, b""))
        r = read_response(sock, timeout=5)
    assert r.status == 413, r  # not 100: the client must not send the body at all
    assert server.count() == before


def test_upper_case_hex_signatures_are_accepted(server):
    # protocols.md §1.7: accept upper/lower case hex defensively.
    for scheme in ("databricks", "github"):
        body = sample_body(scheme)
        headers = signed_headers(scheme, SECRET[scheme], body)
        name = SIG_HEADER[scheme]
        headers[name] = headers[name].replace(headers[name].split("=")[-1],
                                              headers[name].split("=")[-1].upper())
        r = server.post(scheme, body, headers)
        assert r.status == 200, (scheme, r)


def test_logs_hold_no_secret_and_no_signature(server):
    # Runs last in this module: everything above has been logged by now.
    log = server.stderr_text()
    assert "delivery_rejected" in log  # the rejections were logged (at all)
    for secret in ALL_SECRETS:
        assert secret not in log
        if secret.startswith("whsec_"):
            assert secret[len("whsec_"):] not in log
    assert server.sent_secrets
    for sig in server.sent_secrets:
        for value in {sig, sig.split(",", 1)[-1], sig.split("=", 1)[-1]}:
            if len(value) >= 16:
                assert value not in log, value
