"""Registry double: a test-only HTTP server standing in for the Databricks Workspace Model
Registry and an open-source MLflow 3.x tracking server (protocols.md §1, §2.1 - §2.3, §3).

    python3 tests/registry_double/server.py --port 0 [--dialect databricks|mlflow|both]
        [--token TOKEN] [--retry-delays 0,2,4]

prints `registry-double listening on http://127.0.0.1:PORT` and serves until SIGTERM/SIGINT.
From Python: `RegistryDouble(...).start()`, then `.registry` (state), `.webhooks`
(registrations and deliveries), `.faults`, `.calls()`, `.stop()`.

State is real and in memory: versions get numbers, stages move, transition requests open and
close, tags, aliases, comments and runs are stored, and every change that the real service
announces is delivered to the matching webhooks in that service's format and signature.
Control endpoints under /_double/ (never authenticated, never logged as calls): GET/DELETE
calls, GET/POST/DELETE faults, GET deliveries, GET state, POST reset, POST runs.

Where the double may differ from the real services (things protocols.md marks UNCONFIRMED are
chosen one way here; do not let stagegate depend on them):
- Auth: when a token is set every /api/ call needs `Authorization: Bearer <token>`; a missing
  or wrong token is 401 {"error_code": "UNAUTHENTICATED"} (Databricks answers a wrong token
  with 403 "Invalid access token"). Users, permissions and CAN_MANAGE checks do not exist;
  every action is done as one configurable user.
- Databricks webhook bodies: only MODEL_VERSION_TRANSITIONED_STAGE, MODEL_VERSION_TAG_SET and
  COMMENT_CREATED have documented examples; the other bodies and every `text` sentence not in
  the docs are invented in the same style. Bodies are compact JSON; Content-Type is
  application/json. One delivery per (webhook, matching event): a webhook subscribed to both
  MODEL_VERSION_TRANSITIONED_STAGE and MODEL_VERSION_TRANSITIONED_TO_PRODUCTION gets two.
  Deliveries are at most once (no retry). Job webhooks are stored; their deliveries are
  recorded but no job runs. The test endpoint uses the first subscribed event (Databricks
  picks a random one) and answers the current SDK shape {"status_code", "body"}.
- MLflow webhooks take effect at once (MLflow caches subscriptions up to 60 s), accept http://
  and private addresses (MLflow needs MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS / ALLOWED_SCHEMES),
  and list events as upper-case proto enum names. Retries follow §3.5 with configurable
  delays (default 0, 2, 4 s, Retry-After honoured up to 60 s). The User-Agent and header order
  copy the captured python-requests deliveries. Only model-registry events fire (prompts
  do not exist here); test payloads other than model_version.created are invented.
- Responses leave out unset and empty fields as proto3 JSON does (e.g. no open transition
  requests gives {} for transition-requests/list). Error messages imitate MLflow's; codes and
  statuses are the documented ones (RESOURCE_ALREADY_EXISTS is 400 as on MLflow).
- Search filters support AND-joined =, !=, LIKE, ILIKE on name, run_id, source,
  version_number, current_stage and tags.<key>; page tokens are plain offsets.
- All versions are READY at once; there are no experiments, artifacts, UC models or prompts.
- Injected faults (fail, fail_for) answer before auth and routing and change nothing; delivery
  faults (drop, duplicate) apply to event deliveries, not to the test endpoints.
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from registry_double.faults import Faults, failure_body  # noqa: E402
from registry_double.state import (ApiError, Registry, as_bool, invalid,  # noqa: E402
                                   required)
from registry_double.webhooks import Webhooks  # noqa: E402

API = "/api/2.0/mlflow"
DIALECTS = ("databricks", "mlflow", "both")


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class Routes:
    """(method, path regex) -> handler, per dialect. Handlers take (double, params, match)
    and return the JSON response object."""

    def __init__(self):
        self._routes = []

    def add(self, method, path, dialects, handler):
        self._routes.append((method, re.compile(API + path + "$"), dialects, handler))

    def find(self, method, path, dialect):
        """(handler, match) or raises the 404/405 error of an unknown endpoint."""
        path_known = False
        for m, pattern, dialects, handler in self._routes:
            if dialect != "both" and dialect not in dialects:
                continue
            match = pattern.match(path)
            if match:
                if m == method:
                    return handler, match
                path_known = True
        if path_known:
            raise ApiError(405, "ENDPOINT_NOT_FOUND",
                           f"Method {method} is not allowed for {path}.")
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")


ROUTES = Routes()
BOTH = ("databricks", "mlflow")
DBX = ("databricks",)
MLF = ("mlflow",)


def route(method, path, dialects=BOTH):
    def register(fn):
        ROUTES.add(method, path, dialects, fn)
        return fn
    return register


# -- registered models and versions (both dialects) -------------------------------------------

@route("POST", "/registered-models/create")
def _create_model(d, p, m):
    return {"registered_model": d.registry.create_model(required(p, "name"), p.get("tags"),
                                                        p.get("description"))}


@route("GET", "/registered-models/get")
def _get_model(d, p, m):
    return {"registered_model": d.registry.model_json(required(p, "name"))}


@route("GET", "/databricks/registered-models/get", DBX)
def _get_model_databricks(d, p, m):
    model = d.registry.model_json(required(p, "name"))
    return {"registered_model_databricks": dict(model, permission_level="CAN_MANAGE")}


def _latest(d, p, m):
    return {"model_versions": d.registry.latest_versions(required(p, "name"),
                                                         as_list(p.get("stages")))}


ROUTES.add("GET", "/registered-models/get-latest-versions", BOTH, _latest)
ROUTES.add("POST", "/registered-models/get-latest-versions", BOTH, _latest)


@route("POST", "/model-versions/create")
def _create_version(d, p, m):
    return {"model_version": d.registry.create_version(
        required(p, "name"), p.get("source"), p.get("run_id") or None, p.get("tags"),
        p.get("description"), p.get("run_link"))}


@route("GET", "/model-versions/get")
def _get_version(d, p, m):
    return {"model_version": d.registry.version_json(p.get("name"), p.get("version"))}


@route("GET", "/model-versions/search")
def _search_versions(d, p, m):
    rows = d.registry.search_versions(p.get("filter"), as_list(p.get("order_by")))
    try:
        start = int(p.get("page_token") or 0)
        size = int(p.get("max_results") or 200000)
    except ValueError:
        raise invalid("Invalid page_token or max_results.")
    page = rows[start:start + size]
    token = str(start + size) if start + size < len(rows) else None
    out = {"model_versions": page} if page else {}
    if token:
        out["next_page_token"] = token
    return out


@route("PATCH", "/model-versions/update")
def _update_version(d, p, m):
    return {"model_version": d.registry.update_version(p.get("name"), p.get("version"),
                                                       p.get("description"))}


@route("POST", "/model-versions/transition-stage")
def _transition(d, p, m):
    return {"model_version": d.registry.transition_stage(
        p.get("name"), p.get("version"), required(p, "stage"),
        as_bool(p, "archive_existing_versions", True), p.get("comment"))}


@route("POST", "/databricks/model-versions/transition-stage", DBX)
def _transition_databricks(d, p, m):
    d.registry.transition_stage(p.get("name"), p.get("version"), required(p, "stage"),
                                as_bool(p, "archive_existing_versions", True), p.get("comment"))
    return {"model_version_databricks": d.registry.version_json(p["name"], p["version"],
                                                                databricks=True)}


@route("POST", "/model-versions/set-tag")
def _set_tag(d, p, m):
    if p.get("value") is None:
        raise invalid("Missing value for required parameter 'value'.")
    d.registry.set_version_tag(p.get("name"), p.get("version"), p.get("key"), p["value"])
    return {}


@route("DELETE", "/model-versions/delete-tag")
def _delete_tag(d, p, m):
    d.registry.delete_version_tag(p.get("name"), p.get("version"), p.get("key"))
    return {}


@route("GET", "/runs/get")
def _get_run(d, p, m):
    return {"run": d.registry.run_json(p.get("run_id") or p.get("run_uuid"))}


@route("GET", "/metrics/get-history")
def _metric_history(d, p, m):
    history = d.registry.metric_history(p.get("run_id") or p.get("run_uuid"),
                                        p.get("metric_key"))
    return {"metrics": history} if history else {}


# -- Databricks: transition requests, comments, registry webhooks -----------------------------

@route("POST", "/transition-requests/create", DBX)
def _create_request(d, p, m):
    return {"request": d.registry.create_transition_request(
        p.get("name"), p.get("version"), required(p, "stage"), p.get("comment"))}


@route("GET", "/transition-requests/list", DBX)
def _list_requests(d, p, m):
    requests = d.registry.list_transition_requests(p.get("name"), p.get("version"))
    return {"requests": requests} if requests else {}


@route("POST", "/transition-requests/approve", DBX)
def _approve(d, p, m):
    return {"activity": d.registry.approve_transition_request(
        p.get("name"), p.get("version"), required(p, "stage"),
        as_bool(p, "archive_existing_versions", True), p.get("comment"))}


@route("POST", "/transition-requests/reject", DBX)
def _reject(d, p, m):
    return {"activity": d.registry.reject_transition_request(
        p.get("name"), p.get("version"), required(p, "stage"), p.get("comment"))}


@route("DELETE", "/transition-requests/delete", DBX)
def _cancel(d, p, m):
    return {"activity": d.registry.cancel_transition_request(
        p.get("name"), p.get("version"), required(p, "stage"), required(p, "creator"),
        p.get("comment"))}


@route("POST", "/comments/create", DBX)
def _create_comment(d, p, m):
    return {"comment": d.registry.create_comment(p.get("name"), p.get("version"),
                                                 p.get("comment"))}


@route("PATCH", "/comments/update", DBX)
def _update_comment(d, p, m):
    return {"comment": d.registry.update_comment(required(p, "id"), required(p, "comment"))}


@route("DELETE", "/comments/delete", DBX)
def _delete_comment(d, p, m):
    d.registry.delete_comment(required(p, "id"))
    return {}


@route("POST", "/registry-webhooks/create", DBX)
def _create_dbx_hook(d, p, m):
    return {"webhook": d.webhooks.create_databricks(p)}


@route("GET", "/registry-webhooks/list", DBX)
def _list_dbx_hooks(d, p, m):
    return d.webhooks.list_databricks(p)


@route("PATCH", "/registry-webhooks/update", DBX)
def _update_dbx_hook(d, p, m):
    return {"webhook": d.webhooks.update_databricks(p)}


@route("DELETE", "/registry-webhooks/delete", DBX)
def _delete_dbx_hook(d, p, m):
    d.webhooks.delete_databricks(p.get("id"))
    return {}


@route("POST", "/registry-webhooks/test", DBX)
def _test_dbx_hook(d, p, m):
    return d.webhooks.test_databricks(p)


# -- MLflow: aliases and webhooks -------------------------------------------------------------

@route("POST", "/registered-models/alias", MLF)
def _set_alias(d, p, m):
    d.registry.set_alias(required(p, "name"), p.get("alias"), p.get("version"))
    return {}


@route("DELETE", "/registered-models/alias", MLF)
def _delete_alias(d, p, m):
    d.registry.delete_alias(required(p, "name"), p.get("alias"))
    return {}


@route("GET", "/registered-models/alias", MLF)
def _get_by_alias(d, p, m):
    return {"model_version": d.registry.version_by_alias(required(p, "name"),
                                                         required(p, "alias"))}


@route("POST", "/webhooks", MLF)
def _create_mlflow_hook(d, p, m):
    return {"webhook": d.webhooks.create_mlflow(p)}


@route("GET", "/webhooks", MLF)
def _list_mlflow_hooks(d, p, m):
    return d.webhooks.list_mlflow(p)


@route("GET", r"/webhooks/(?P<id>[^/]+)", MLF)
def _get_mlflow_hook(d, p, m):
    return {"webhook": d.webhooks.get_mlflow(m["id"])}


@route("PATCH", r"/webhooks/(?P<id>[^/]+)", MLF)
def _update_mlflow_hook(d, p, m):
    return {"webhook": d.webhooks.update_mlflow(m["id"], p)}


@route("DELETE", r"/webhooks/(?P<id>[^/]+)", MLF)
def _delete_mlflow_hook(d, p, m):
    d.webhooks.delete_mlflow(m["id"])
    return {}


@route("POST", r"/webhooks/(?P<id>[^/]+)/test", MLF)
def _test_mlflow_hook(d, p, m):
    return d.webhooks.test_mlflow(m["id"], p)


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "registry-double"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet: the call log is the record
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PUT(self):
        self._handle("PUT")

    def _reply(self, status, obj, headers=None):
        body = json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method):
        double = self.server.double
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path.startswith("/_double/"):
            return self._control(double, method, path, url.query, raw)
        call = double._log_call(method, path, url.query, raw, self.headers)
        try:
            delay, failure = double.faults.for_call(method, path)
            if delay:
                time.sleep(delay)
            if failure:
                headers = ({"Retry-After": failure["retry_after"]}
                           if failure.get("retry_after") is not None else None)
                raise ApiError(failure["status"], **_code_message(failure_body(failure, method,
                                                                               path)),
                               headers=headers)
            double._check_auth(self.headers.get("Authorization"))
            handler, match = ROUTES.find(method, path, double.dialect)
            params = _params(method, url.query, raw, self.headers.get("Content-Type"))
            status, obj, headers = 200, handler(double, params, match), None
        except ApiError as e:
            status, obj, headers = e.status, e.body(), e.headers
        except Exception as e:  # a bug in the double: answer like a server error, loudly
            status, obj, headers = 500, {"error_code": "INTERNAL_ERROR",
                                         "message": f"registry double: {type(e).__name__}: {e}"
                                         }, None
            print(f"registry-double: {method} {path}: {e!r}", file=sys.stderr)
        call["status"] = status
        self._reply(status, obj, headers)

    def _control(self, double, method, path, query, raw):
        try:
            body = json.loads(raw) if raw.strip() else {}
            q = dict(urllib.parse.parse_qsl(query))
            key = (method, path.rstrip("/"))
            if key == ("GET", "/_double/calls"):
                return self._reply(200, {"calls": double.calls(q.get("path"), q.get("method"))})
            if key == ("DELETE", "/_double/calls"):
                double.clear_calls()
                return self._reply(200, {})
            if key == ("GET", "/_double/faults"):
                return self._reply(200, double.faults.describe())
            if key == ("POST", "/_double/faults"):
                for spec in body if isinstance(body, list) else [body]:
                    double.faults.apply(spec)
                return self._reply(200, double.faults.describe())
            if key == ("DELETE", "/_double/faults"):
                double.faults.clear()
                return self._reply(200, double.faults.describe())
            if key == ("GET", "/_double/deliveries"):
                return self._reply(200, {"deliveries": double.webhooks.list_deliveries()})
            if key == ("GET", "/_double/state"):
                return self._reply(200, double.registry.dump())
            if key == ("POST", "/_double/reset"):
                double.reset()
                return self._reply(200, {})
            if key == ("POST", "/_double/runs"):
                return self._reply(200, {"run_id": double.registry.add_run(**body)})
            return self._reply(404, {"error_code": "ENDPOINT_NOT_FOUND",
                                     "message": f"No control endpoint {method} {path}"})
        except (ValueError, TypeError) as e:
            return self._reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": str(e)})


def _code_message(body):
    return {"code": body["error_code"], "message": body["message"]}


def _params(method, query, raw, content_type):
    """Query parameters (repeated keys become lists) overlaid with the JSON body."""
    params = {}
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k in params:
            params[k] = as_list(params[k]) + [v]
        else:
            params[k] = v
    if raw.strip():
        if "application/json" not in (content_type or "").lower():
            raise invalid("Bad Request. Content-Type must be one of ['application/json'].")
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise ApiError(400, "MALFORMED_REQUEST", f"Malformed JSON in request body: {e}")
        if not isinstance(body, dict):
            raise ApiError(400, "MALFORMED_REQUEST", "The request body must be a JSON object.")
        params.update(body)
    return params


class RegistryDouble:
    """The double, in-process. `dialect` picks the endpoints served: databricks, mlflow or
    both; `token` (None = no auth) is the bearer token every /api/ call must carry."""

    def __init__(self, port=0, dialect="both", token=None, user="stagegate@example.com",
                 webhook_timeout=10.0, mlflow_retry_delays=(0.0, 2.0, 4.0)):
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}")
        self.dialect = dialect
        self.token = token
        self.faults = Faults()
        self.webhooks = Webhooks(self.faults, webhook_timeout, mlflow_retry_delays)
        self.registry = Registry(self.webhooks.on_event, user)
        self._calls = []
        self._calls_lock = threading.Lock()
        self._requested_port = port
        self._httpd = None
        self._thread = None

    # -- lifecycle --

    def start(self):
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._requested_port), Handler)
        self._httpd.daemon_threads = True
        self._httpd.double = self
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def reset(self):
        """Forgets all state, webhooks, deliveries, calls and faults."""
        self.registry.reset()
        self.webhooks.reset()
        self.faults.clear()
        self.clear_calls()

    # -- call log --

    def _log_call(self, method, path, query, raw, headers):
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = text
        call = {"time": time.time(), "method": method, "path": path,
                "query": urllib.parse.parse_qs(query, keep_blank_values=True), "body": body,
                "status": None, "authorization": bool(headers.get("Authorization"))}
        with self._calls_lock:
            call["seq"] = len(self._calls) + 1
            self._calls.append(call)
        return call

    def calls(self, path=None, method=None):
        """Every API call received (method, path, query, body, status), oldest first."""
        with self._calls_lock:
            return [dict(c) for c in self._calls
                    if (path is None or c["path"] == path)
                    and (method is None or c["method"] == method.upper())]

    def clear_calls(self):
        with self._calls_lock:
            self._calls.clear()

    def _check_auth(self, header):
        if self.token is None:
            return
        if not header:
            raise ApiError(401, "UNAUTHENTICATED",
                           "Credential was not sent or was of an unsupported type for this API.")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or value.strip() != self.token:
            raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")

    # -- deliveries --

    def deliveries(self, **match):
        """Deliveries so far (dicts of webhooks.delivery_json) whose fields equal `match`."""
        return [d for d in self.webhooks.list_deliveries()
                if all(d.get(k) == v for k, v in match.items())]

    def wait_deliveries(self, count, timeout=5.0, **match):
        """Waits until `count` matching deliveries have finished sending; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.deliveries(**match) if d["done"]]
            if len(found) >= count or time.monotonic() > deadline:
                if len(found) < count:
                    raise AssertionError(f"{len(found)} of {count} deliveries matching {match} "
                                         f"after {timeout}s")
                return found
            time.sleep(0.02)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dialect", choices=DIALECTS, default="both")
    ap.add_argument("--token", default=None, help="bearer token every /api/ call must carry")
    ap.add_argument("--user", default="stagegate@example.com")
    ap.add_argument("--retry-delays", default="0,2,4",
                    help="MLflow delivery retry delays in seconds, comma-separated")
    args = ap.parse_args(argv)
    delays = tuple(float(x) for x in args.retry_delays.split(",") if x.strip())
    double = RegistryDouble(args.port, args.dialect, args.token, args.user,
                            mlflow_retry_delays=delays).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"registry-double listening on {double.url}", flush=True)
    while not stop.wait(0.5):
        pass
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
