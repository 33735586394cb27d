"""Deliveries signed by the senders' own npm libraries (standardwebhooks, @octokit/webhooks-methods)."""

import json
import shutil
import subprocess

import pytest

from conftest import (GITHUB_SECRET, NODE_DIR, STANDARD_SECRET, github_push_body, new_id,
                      standard_body)


def node_sign(requests):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required for the third-party signer tests (apt-get install nodejs)")
    if not (NODE_DIR / "node_modules" / "standardwebhooks").is_dir() or \
            not (NODE_DIR / "node_modules" / "@octokit" / "webhooks-methods").is_dir():
        pytest.fail(f"run `npm ci` in {NODE_DIR} (deploy/install-deps.sh --with-npm does it)")
    out = subprocess.run([node, str(NODE_DIR / "sign.mjs")], input=json.dumps(requests),
                         capture_output=True, text=True, timeout=30, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def flip_char(text, index):
    """`text` with the character at `index` replaced by a different one of the same alphabet."""
    repl = "1" if text[index] == "0" else "0"  # a digit: differs in value, not only in case
    return text[:index] + repl + text[index + 1:]


def flip_byte(body, index):
    b = bytearray(body.encode())
    b[index] = ord("7") if b[index] != ord("7") else ord("8")
    return bytes(b)


@pytest.fixture(scope="module")
def server(stagegate_module):
    return stagegate_module(
        {"standard": {"scheme": "standard", "secrets": ["env:SG_E2E_STANDARD"]},
         "github": {"scheme": "github", "secrets": ["env:SG_E2E_GITHUB"]}},
        secrets={"env:SG_E2E_STANDARD": STANDARD_SECRET, "env:SG_E2E_GITHUB": GITHUB_SECRET})


def test_node_signers_match_the_official_vectors():
    # protocols.md §10.1: proves the npm libraries are the reference the server is checked against.
    got = node_sign([
        {"scheme": "standard", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
         "id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "timestamp": 1614265330,
         "body": '{"test": 2432232314}'},
        {"scheme": "github", "secret": "It's a Secret to Everybody", "id": "x",
         "body": "Hello, World!"}])
    assert got[0]["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert got[1]["X-Hub-Signature-256"] == \
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_standardwebhooks_signed_delivery(server):
    body = standard_body("model_version.stage_transitioned", model="npm-std", version="4",
                         to_stage="Production", from_stage="Staging")
    msg_id = new_id("msg")
    [headers] = node_sign([{"scheme": "standard", "secret": STANDARD_SECRET, "id": msg_id,
                            "body": body}])
    assert headers["webhook-signature"].startswith("v1,")
    before = server.count()
    r = server.post("standard", body, dict(headers, **{"Content-Type": "application/json"}))
    assert r.status == 200, r
    ev = server.event(r.json()["event_id"])
    assert ev["type"] == "model_version.stage_transitioned"
    assert ev["model"] == {"name": "npm-std", "version": "4"}
    assert ev["to_stage"] == "Production"
    assert ev["delivery_id"] == msg_id
    assert ev["payload"] == body

    # One byte of the body changed: the library's signature no longer matches.
    [h2] = node_sign([{"scheme": "standard", "secret": STANDARD_SECRET, "id": new_id("msg"),
                       "body": body}])
    r = server.post("standard", flip_byte(body, body.index("npm-std") + 2), h2)
    assert r.status == 401, r
    assert "webhook-signature" in r.json()["error"]["message"]

    # One character of the signature changed.
    [h3] = node_sign([{"scheme": "standard", "secret": STANDARD_SECRET, "id": new_id("msg"),
                       "body": body}])
    h3["webhook-signature"] = flip_char(h3["webhook-signature"], 10)
    r = server.post("standard", body, h3)
    assert r.status == 401, r
    assert "webhook-signature" in r.json()["error"]["message"]
    assert server.count() == before + 1


def test_octokit_signed_delivery(server):
    body = github_push_body(repo="example/npm-signed")
    delivery = str(new_id("gh"))
    [headers] = node_sign([{"scheme": "github", "secret": GITHUB_SECRET, "id": delivery,
                            "body": body}])
    assert headers["X-Hub-Signature-256"].startswith("sha256=")
    before = server.count()
    r = server.post("github", body, dict(headers, **{"Content-Type": "application/json"}))
    assert r.status == 200, r
    ev = server.event(r.json()["event_id"])
    assert ev["type"] == "push"
    assert ev["git"]["repository"] == "example/npm-signed"
    assert ev["git"]["ref"] == "refs/heads/main"
    assert ev["delivery_id"] == delivery

    [h2] = node_sign([{"scheme": "github", "secret": GITHUB_SECRET, "id": new_id("gh"),
                       "body": body}])
    r = server.post("github", flip_byte(body, body.index("npm-signed") + 1), h2)
    assert r.status == 401, r
    assert "X-Hub-Signature-256" in r.json()["error"]["message"]

    [h3] = node_sign([{"scheme": "github", "secret": GITHUB_SECRET, "id": new_id("gh"),
                       "body": body}])
    h3["X-Hub-Signature-256"] = flip_char(h3["X-Hub-Signature-256"], 20)
    r = server.post("github", body, h3)
    assert r.status == 401, r
    assert "X-Hub-Signature-256" in r.json()["error"]["message"]
    assert server.count() == before + 1
