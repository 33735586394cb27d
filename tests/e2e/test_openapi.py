"""docs/openapi.yaml against the live server, so that the document stays complete and true.

- The document parses, is OpenAPI 3.1, every $ref resolves, every path parameter is declared,
  and every documented response status is a real HTTP status.
- Every route prefix that orchestrator/app/serve.cpp registers is covered by a documented path,
  and every documented path is under one of them.
- Every documented (path, method) is served: one sample request each, answered with a status
  the document lists for that operation (never the router's 404 "no route for", never 405),
  with the documented content type and headers, and a JSON body that matches the documented
  schema field for field (undocumented fields fail too).
- Every other method of GET, POST, PUT, DELETE, PATCH on a documented path answers 405 with
  an Allow header that lists exactly the documented methods.
- Integer parameters with documented bounds are enforced: just outside them is 400.
"""

import datetime
import http
import json
import re
import textwrap
import types
import urllib.parse

import sys

import pytest
import yaml

from conftest import (GITHUB_SECRET, MLFLOW_SECRET, REPO_ROOT, github_push_body, mlflow_body,
                      new_id, signed_headers, wait_for)

sys.path.insert(0, str(REPO_ROOT / "tests"))
from registry_double.server import RegistryDouble  # noqa: E402

OPENAPI = REPO_ROOT / "docs" / "openapi.yaml"
SERVE_CPP = REPO_ROOT / "orchestrator" / "app" / "serve.cpp"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROBED_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
FINISHED = {"succeeded", "failed", "cancelled", "skipped"}

PIPELINES = {
    "quick.yaml": """\
        name: quick
        on:
          manual:
            inputs:
              threshold: {type: number, required: true}
        tasks:
          show:
            run: echo "threshold=$T"; echo "seen=yes" >> "$STAGEGATE_OUTPUT"
            env: {T: "${{ inputs.threshold }}"}
        """,
    "fails.yaml": """\
        name: fails
        on: {manual: {}}
        tasks:
          boom: {run: exit 3}
        """,
    "long.yaml": """\
        name: long
        on: {manual: {}}
        tasks:
          wait: {run: sleep 30}
        """,
    # Registry actions: one the registry takes, one it refuses (no such model): a dead letter.
    "tags.yaml": """\
        name: tags
        on: {manual: {}}
        tasks:
          good:
            uses: registry.set_tag
            with: {model: churn, version: "1", key: checked, value: "yes"}
          bad:
            uses: registry.set_tag
            with: {model: no-such-model, version: "1", key: checked, value: "yes"}
        """,
}


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------

def load_document():
    return yaml.safe_load(OPENAPI.read_text())


@pytest.fixture(scope="module")
def doc():
    return load_document()


def lookup(doc, ref):
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"$ref {ref} does not resolve"
        node = node[part]
    return node


def resolve(doc, node):
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        assert node["$ref"] not in seen, f"$ref cycle at {node['$ref']}"
        seen.add(node["$ref"])
        node = lookup(doc, node["$ref"])
    return node


def operations(doc):
    """(path template, method in lower case, operation) for every documented operation."""
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def documented_methods(doc, path):
    return {m.upper() for m in HTTP_METHODS if m in doc["paths"][path]}


def walk_refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from walk_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_refs(value)


def test_document_parses_and_every_status_is_a_real_http_status(doc):
    assert str(doc["openapi"]).startswith("3.1."), doc["openapi"]
    assert doc["info"]["title"] and doc["info"]["version"]
    for ref in walk_refs(doc):
        lookup(doc, ref)
    real = {s.value for s in http.HTTPStatus}
    seen_ids = set()
    ops = list(operations(doc))
    assert ops, "no operations documented"
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        assert op.get("operationId") and op["operationId"] not in seen_ids, where
        seen_ids.add(op["operationId"])
        assert op.get("responses"), f"{where} documents no responses"
        for code in op["responses"]:
            # OpenAPI wants the codes quoted ("200"), so that YAML and JSON agree.
            assert isinstance(code, str) and re.fullmatch(r"[1-5]\d\d", code), (where, code)
            assert int(code) in real, f"{where}: {code} is not an HTTP status"
            response = resolve(doc, op["responses"][code])
            assert response.get("description"), (where, code)
        # Path templates and path parameters agree.
        params = [resolve(doc, p) for p in doc["paths"][path].get("parameters", []) +
                  op.get("parameters", [])]
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{([^}]+)\}", path)), where
        assert all(p.get("required") for p in params if p["in"] == "path"), where


def serve_cpp_prefixes():
    """The prefixes orchestrator/app/serve.cpp passes to router->Add()."""
    text = SERVE_CPP.read_text()
    prefixes = []
    for arg in re.findall(r"router->Add\(\s*([^,]+),", text):
        arg = arg.strip()
        if arg.startswith('"'):
            prefixes.append(json.loads(arg))
            continue
        loop = re.search(r"for\s*\(\s*const\s+char\s*\*\s*" + re.escape(arg) +
                         r"\s*:\s*\{([^}]*)\}", text)
        assert loop, (f"serve.cpp calls router->Add({arg}, ...) and this test cannot tell which "
                      "prefixes that registers; teach serve_cpp_prefixes()")
        prefixes += re.findall(r'"([^"]*)"', loop.group(1))
    return prefixes


def routed_by(prefix, path):
    """The router's rule (orchestrator/server/router.cpp): a prefix matches at a segment end."""
    return path.startswith(prefix) and (
        len(path) == len(prefix) or prefix.endswith("/") or path[len(prefix)] == "/")


def test_every_route_prefix_of_serve_cpp_is_documented(doc):
    prefixes = serve_cpp_prefixes()
    assert "/hooks/" in prefixes and "/api/v1/runs" in prefixes, prefixes
    paths = list(doc["paths"])
    for prefix in prefixes:
        assert any(routed_by(prefix, p) for p in paths), \
            f"serve.cpp routes {prefix} but docs/openapi.yaml documents no path under it"
    for path in paths:
        assert any(routed_by(prefix, path) for prefix in prefixes), \
            f"docs/openapi.yaml documents {path}, which no router->Add() in serve.cpp serves"


# --------------------------------------------------------------------------------------------
# A small JSON Schema check for the subset the document uses.
# --------------------------------------------------------------------------------------------

TYPES = {
    "null": lambda v: v is None,
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def flatten(doc, schema):
    """Resolves $ref and merges allOf members (all objects here) into one schema."""
    schema = resolve(doc, schema)
    if "allOf" not in schema:
        return schema
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    merged.setdefault("type", "object")
    merged["properties"] = dict(merged.get("properties", {}))
    merged["required"] = list(merged.get("required", []))
    for member in schema["allOf"]:
        member = flatten(doc, member)
        merged["properties"].update(member.get("properties", {}))
        merged["required"] += member.get("required", [])
    return merged


def schema_errors(doc, schema, value, where="$"):
    s = flatten(doc, schema)
    if "oneOf" in s:
        matching = [b for b in s["oneOf"] if not schema_errors(doc, b, value, where)]
        return [] if len(matching) == 1 else [
            f"{where}: {value!r} matches {len(matching)} of the oneOf branches, not exactly one"]
    if "const" in s and not (type(value) is type(s["const"]) and value == s["const"]):
        return [f"{where}: {value!r} is not {s['const']!r}"]
    if "enum" in s and value not in s["enum"]:
        return [f"{where}: {value!r} is not one of {s['enum']}"]
    types = s.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        if not any(TYPES[t](value) for t in types):
            return [f"{where}: {value!r} is not of type {types}"]
    errors = []
    if isinstance(value, str):
        if "pattern" in s and not re.search(s["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {s['pattern']}")
        if s.get("format") == "date-time":
            try:
                datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                errors.append(f"{where}: {value!r} is not a date-time")
    if TYPES["number"](value):
        if "minimum" in s and value < s["minimum"]:
            errors.append(f"{where}: {value} < {s['minimum']}")
        if "maximum" in s and value > s["maximum"]:
            errors.append(f"{where}: {value} > {s['maximum']}")
    if isinstance(value, dict):
        props = s.get("properties", {})
        for key in s.get("required", []):
            if key not in value:
                errors.append(f"{where}: the documented field '{key}' is missing")
        extra = s.get("additionalProperties", False if props else True)
        for key, item in value.items():
            if key in props:
                errors += schema_errors(doc, props[key], item, f"{where}.{key}")
            elif extra is False:
                errors.append(f"{where}: the field '{key}' is not documented")
            elif isinstance(extra, dict):
                errors += schema_errors(doc, extra, item, f"{where}.{key}")
    if isinstance(value, list) and "items" in s:
        for i, item in enumerate(value):
            errors += schema_errors(doc, s["items"], item, f"{where}[{i}]")
    return errors


def test_the_schema_check_catches_what_it_should(doc):
    # Guards the checker itself: a check that accepts everything would prove nothing.
    error = {"error": {"status": 404, "message": "no run with id 1"}}
    assert schema_errors(doc, {"$ref": "#/components/schemas/Error"}, error) == []
    assert schema_errors(doc, {"$ref": "#/components/schemas/Error"}, {"error": {"status": "x"}})
    assert schema_errors(doc, {"$ref": "#/components/schemas/Error"}, dict(error, extra=1))
    assert schema_errors(doc, {"$ref": "#/components/schemas/RunStatus"}, "done")
    assert schema_errors(doc, {"$ref": "#/components/schemas/Ping"}, {"ping": 1})


# --------------------------------------------------------------------------------------------
# The live server
# --------------------------------------------------------------------------------------------

def trigger(server, pipeline, body):
    r = server.request("POST", f"/api/v1/pipelines/{pipeline}/runs", body=json.dumps(body))
    assert r.status == 201, r
    return r.json()["id"]


def wait_finished(server, run_id):
    def done():
        r = server.get(f"/api/v1/runs/{run_id}")
        assert r.status == 200, r
        return r.json() if r.json()["status"] in FINISHED else None
    return wait_for(done, what=f"run {run_id} to finish")


@pytest.fixture(scope="module")
def registry_double():
    double = RegistryDouble(dialect="mlflow").start()
    double.registry.create_model("churn")
    double.registry.create_version("churn", "models:/churn/1")
    yield double
    double.stop()


@pytest.fixture(scope="module")
def live(stagegate_module, registry_double):
    """A server with a finished run (quick), a failed one (fails), one to cancel (long), and
    an outbox with a delivered registry action and a dead letter (tags)."""
    endpoints = {"mlflow": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]},
                 "github": {"scheme": "github", "secrets": ["env:SG_E2E_GITHUB"]}}
    extra = {"pipelines": {"dir": "pipelines"},
             "runners": {"local": {"max_parallel": 4, "work_dir": "work"}},
             "registries": {"double": {"dialect": "mlflow", "url": registry_double.url}}}
    server = stagegate_module(endpoints, extra=extra, start=False, secrets={
        "env:SG_E2E_MLFLOW": MLFLOW_SECRET, "env:SG_E2E_GITHUB": GITHUB_SECRET})
    folder = server.workdir / "pipelines"
    folder.mkdir()
    for name, text in PIPELINES.items():
        (folder / name).write_text(textwrap.dedent(text))
    server.start()
    out = types.SimpleNamespace(server=server)
    r = server.deliver("mlflow", "mlflow", MLFLOW_SECRET, mlflow_body())
    assert r.status == 200, r
    out.event_id = r.json()["event_id"]
    r = server.deliver("github", "github", GITHUB_SECRET, github_push_body())
    assert r.status == 200, r
    out.run_id = trigger(server, "quick", {"inputs": {"threshold": 0.5}, "event_id": out.event_id})
    out.failed_id = trigger(server, "fails", {})
    out.long_id = trigger(server, "long", {})
    assert wait_finished(server, out.run_id)["status"] == "succeeded"
    assert wait_finished(server, out.failed_id)["status"] == "failed"
    tags = wait_finished(server, trigger(server, "tags", {}))
    assert tags["status"] == "failed", tags
    entries = {e["task"]: e for e in server.get("/api/v1/outbox").json()["entries"]}
    assert entries["good"]["state"] == "delivered" and entries["bad"]["state"] == "dead", entries
    out.delivered_id, out.dead_id = entries["good"]["id"], entries["bad"]["id"]
    return out


def sample_requests(live):
    """One request per documented (path, method):
    {(template, METHOD): (path, body, headers, the status it must get)}. Each reaches the
    operation's main answer: a real delivery, a real trigger, a cancel of a running run, a
    rerun of a failed one."""
    body = mlflow_body(name="churn", version="9")
    delivery = signed_headers("mlflow", MLFLOW_SECRET, body, delivery_id=new_id())
    run, event = live.run_id, live.event_id
    return {
        ("/hooks/{endpoint}", "POST"): ("/hooks/mlflow", body, delivery, 200),
        ("/api/v1/events", "GET"): ("/api/v1/events?limit=500", None, {}, 200),
        ("/api/v1/events/{id}", "GET"): (f"/api/v1/events/{event}", None, {}, 200),
        ("/api/v1/runs", "GET"): ("/api/v1/runs?limit=500", None, {}, 200),
        ("/api/v1/runs/{id}", "GET"): (f"/api/v1/runs/{run}", None, {}, 200),
        ("/api/v1/runs/{id}/tasks/{task}/logs", "GET"): (f"/api/v1/runs/{run}/tasks/show/logs",
                                                         None, {}, 200),
        ("/api/v1/runs/{id}/cancel", "POST"): (f"/api/v1/runs/{live.long_id}/cancel", "", {},
                                               202),
        ("/api/v1/runs/{id}/rerun", "POST"): (f"/api/v1/runs/{live.failed_id}/rerun", "", {},
                                              201),
        ("/api/v1/pipelines", "GET"): ("/api/v1/pipelines", None, {}, 200),
        ("/api/v1/pipelines/reload", "POST"): ("/api/v1/pipelines/reload", "", {}, 200),
        ("/api/v1/pipelines/{name}/runs", "GET"): ("/api/v1/pipelines/quick/runs", None, {},
                                                   200),
        ("/api/v1/pipelines/{name}/runs", "POST"): (
            "/api/v1/pipelines/quick/runs",
            json.dumps({"inputs": {"threshold": 0.9}, "event_id": event}),
            {"Content-Type": "application/json"}, 201),
        ("/api/v1/outbox", "GET"): ("/api/v1/outbox?limit=500", None, {}, 200),
        ("/api/v1/outbox/{id}", "GET"): (f"/api/v1/outbox/{live.delivered_id}", None, {}, 200),
        ("/api/v1/outbox/{id}/retry", "POST"): (f"/api/v1/outbox/{live.dead_id}/retry", "", {},
                                                202),
        ("/healthz", "GET"): ("/healthz", None, {}, 200),
        ("/readyz", "GET"): ("/readyz", None, {}, 200),
        ("/metrics", "GET"): ("/metrics", None, {}, 200),
    }


def error_message(r):
    try:
        return r.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""


def check_answer(doc, op, where, r):
    """The answer's status, content type, headers and JSON body are as documented."""
    assert r.status != 405, f"{where} is documented but answered 405: {r}"
    assert not (r.status == 404 and error_message(r).startswith("no route for")), \
        f"{where} is documented but no handler serves it: {r}"
    assert str(r.status) in op["responses"], \
        f"{where} answered {r.status}, which the document does not list for it: {r}"
    response = resolve(doc, op["responses"][str(r.status)])
    for name, header in response.get("headers", {}).items():
        value = r.header(name)
        assert value is not None, f"{where} {r.status}: documented header {name} is missing"
        schema = resolve(doc, resolve(doc, header).get("schema", {}))
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), (where, name, value)
    content = response.get("content", {})
    if not content:
        return
    media = (r.header("Content-Type") or "").split(";")[0].strip()
    by_media = {k.split(";")[0].strip(): v for k, v in content.items()}
    assert media in by_media, \
        f"{where} {r.status}: Content-Type {media}, documented {list(content)}"
    if media == "application/json" and "schema" in by_media[media]:
        errors = schema_errors(doc, by_media[media]["schema"], r.json())
        assert not errors, f"{where} {r.status} body differs from the document:\n" + \
            "\n".join(errors[:20])


def test_every_documented_operation_is_served_as_documented(doc, live):
    samples = sample_requests(live)
    server = live.server
    for path, method, op in operations(doc):
        key = (path, method.upper())
        assert key in samples, f"add a sample request for {method.upper()} {path} to this test"
        target, body, headers, status = samples[key]
        r = server.request(method.upper(), target, body=body, headers=headers)
        check_answer(doc, op, f"{method.upper()} {target}", r)
        assert r.status == status, f"{method.upper()} {target}: expected {status}, got {r}"
    # What those requests did.
    run = server.get(f"/api/v1/runs/{live.run_id}").json()
    assert run["tasks"][0]["outputs"] == {"seen": "yes"}
    cancelled = wait_finished(server, live.long_id)
    assert cancelled["status"] == "cancelled" and cancelled["cancel_requested"] is True
    reruns = server.get("/api/v1/runs", pipeline="fails").json()["runs"]
    assert [x["rerun_of"] for x in reruns] == [live.failed_id, None]

    # More documented shapes: the detail of a rerun, a 404 and 400 in the documented form,
    # and a log followed to its end.
    rerun = wait_finished(server, reruns[0]["id"])
    ops = {(p, m): o for p, m, o in operations(doc)}
    check_answer(doc, ops[("/api/v1/runs/{id}", "get")], "GET rerun",
                 server.get(f"/api/v1/runs/{rerun['id']}"))
    for target, status in [("/api/v1/runs/999999", 404), ("/api/v1/runs/x", 400)]:
        r = server.get(target)
        assert r.status == status, r
        check_answer(doc, ops[("/api/v1/runs/{id}", "get")], f"GET {target}", r)
    r = server.get(f"/api/v1/runs/{live.run_id}/tasks/show/logs", follow="1")
    assert r.status == 200 and r.header("Transfer-Encoding") == "chunked", r
    assert "threshold=0.5" in r.text
    check_answer(doc, ops[("/api/v1/runs/{id}/tasks/{task}/logs", "get")], "GET logs?follow=1", r)


def concrete_paths(live):
    return {template: urllib.parse.urlsplit(target).path
            for (template, _), (target, *_) in sample_requests(live).items()}


def test_undocumented_methods_answer_405_with_exactly_the_documented_allow(doc, live):
    paths = concrete_paths(live)
    for template in doc["paths"]:
        allowed = documented_methods(doc, template)
        target = paths[template]
        for method in PROBED_METHODS:
            if method in allowed:
                continue
            r = live.server.request(method, target)
            where = f"{method} {target} (documented: {', '.join(sorted(allowed))})"
            assert r.status == 405, f"{where} answered {r.status}, not 405: {r}"
            allow = {m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()}
            assert allow == allowed, f"{where}: Allow is {r.header('Allow')!r}"
            assert r.json()["error"]["status"] == 405, r


def test_documented_integer_bounds_are_enforced(doc, live):
    """An integer parameter documented with minimum/maximum: the bounds are accepted (for
    query parameters) and one past them is 400."""
    paths = concrete_paths(live)
    checked = 0
    for template, method, op in operations(doc):
        if method != "get":
            continue
        params = [resolve(doc, p) for p in doc["paths"][template].get("parameters", []) +
                  op.get("parameters", [])]
        for p in params:
            schema = resolve(doc, p.get("schema", {}))
            if schema.get("type") != "integer":
                continue
            for bound, step in (("minimum", -1), ("maximum", 1)):
                if bound not in schema:
                    continue
                outside = schema[bound] + step
                if p["in"] == "query":
                    target = f"{paths[template]}?{p['name']}={outside}"
                    ok = live.server.get(f"{paths[template]}?{p['name']}={schema[bound]}")
                    assert ok.status == 200, (template, p["name"], schema[bound], ok)
                else:
                    segments = paths[template].split("/")
                    segments[template.split("/").index("{" + p["name"] + "}")] = str(outside)
                    target = "/".join(segments)
                r = live.server.get(target)
                assert r.status == 400 and str(r.status) in op["responses"], (target, r)
                checked += 1
    assert checked >= 6, checked
