"""Webhook registrations and deliveries of the registry double, in both dialects.

Databricks (protocols.md §1.4, §1.5, §1.7): body {"event", "webhook_id", "event_timestamp",
"model_name", "version", <event fields>, "text"} serialised compactly, header
X-Databricks-Signature = lowercase hex HMAC-SHA256(secret, body), Authorization when configured,
one attempt, no retry.

MLflow 3.x (§3.2 - §3.6): body json.dumps({"entity", "action", "timestamp", "data"}) with
Python's default separators, headers X-MLflow-Delivery-Id, X-MLflow-Timestamp and
X-MLflow-Signature = "v1," + base64(HMAC-SHA256(secret, id + "." + ts + "." + body)); retried
on 429/500/502/503/504 and connection errors with the identical request.
"""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import ssl
import threading
import time
import urllib.parse
import uuid

from registry_double.state import compact, invalid, not_found, now_ms, required

DATABRICKS_EVENTS = (
    "MODEL_VERSION_CREATED", "MODEL_VERSION_TRANSITIONED_STAGE", "TRANSITION_REQUEST_CREATED",
    "COMMENT_CREATED", "REGISTERED_MODEL_CREATED", "MODEL_VERSION_TAG_SET",
    "MODEL_VERSION_TRANSITIONED_TO_STAGING", "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION",
    "MODEL_VERSION_TRANSITIONED_TO_ARCHIVED", "TRANSITION_REQUEST_TO_STAGING_CREATED",
    "TRANSITION_REQUEST_TO_PRODUCTION_CREATED", "TRANSITION_REQUEST_TO_ARCHIVED_CREATED")
DATABRICKS_STATUSES = ("ACTIVE", "DISABLED", "TEST_MODE")

MLFLOW_EVENTS = (
    ("registered_model", "created"), ("model_version", "created"),
    ("model_version_tag", "set"), ("model_version_tag", "deleted"),
    ("model_version_alias", "created"), ("model_version_alias", "deleted"),
    ("prompt", "created"), ("prompt_version", "created"), ("prompt_tag", "set"),
    ("prompt_tag", "deleted"), ("prompt_version_tag", "set"), ("prompt_version_tag", "deleted"),
    ("prompt_alias", "created"), ("prompt_alias", "deleted"))
MLFLOW_STATUSES = ("ACTIVE", "DISABLED")
MLFLOW_RETRY_STATUSES = (429, 500, 502, 503, 504)

# The data of the example payload MLflow's test endpoint sends, per event (model registry).
MLFLOW_EXAMPLES = {
    ("registered_model", "created"): {"name": "example_model",
                                      "tags": {"example_key": "example_value"},
                                      "description": "An example registered model"},
    ("model_version", "created"): {"name": "example_model", "version": "1",
                                   "source": "models:/123", "run_id": "abcd1234abcd5678",
                                   "tags": {"example_key": "example_value"},
                                   "description": "An example model version"},
    ("model_version_tag", "set"): {"name": "example_model", "version": "1",
                                   "key": "example_key", "value": "example_value"},
    ("model_version_tag", "deleted"): {"name": "example_model", "version": "1",
                                       "key": "example_key"},
    ("model_version_alias", "created"): {"name": "example_model", "alias": "example_alias",
                                         "version": "1"},
    ("model_version_alias", "deleted"): {"name": "example_model", "alias": "example_alias"},
}


# --------------------------------------------------------------------------------------------
# Wire formats
# --------------------------------------------------------------------------------------------

def sign_databricks(secret, body):
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def sign_mlflow(secret, delivery_id, timestamp, body):
    content = f"{delivery_id}.{timestamp}.".encode("utf-8") + body
    mac = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def databricks_body(event, webhook_id, model_name, version=None, fields=None, text="",
                    event_timestamp=None):
    body = {"event": event, "webhook_id": webhook_id,
            "event_timestamp": now_ms() if event_timestamp is None else event_timestamp,
            "model_name": model_name}
    if version is not None:
        body["version"] = version
    body.update(fields or {})
    body["text"] = text
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def mlflow_timestamp():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def mlflow_body(entity, action, data, timestamp=None):
    envelope = {"entity": entity, "action": action,
                "timestamp": timestamp or mlflow_timestamp(), "data": data}
    return json.dumps(envelope).encode("utf-8")


def mlflow_headers(secret, body, delivery_id=None, timestamp=None):
    """Headers in the order MLflow (python-requests) sends them; Host and Content-Length are
    added by the sender."""
    delivery_id = delivery_id or str(uuid.uuid4())
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = [("User-Agent", "python-requests/2.28.1"), ("Accept-Encoding", "gzip, deflate"),
               ("Accept", "*/*"), ("Connection", "keep-alive"),
               ("Content-Type", "application/json"), ("X-MLflow-Delivery-Id", delivery_id),
               ("X-MLflow-Timestamp", timestamp)]
    if secret:
        headers.append(("X-MLflow-Signature", sign_mlflow(secret, delivery_id, timestamp, body)))
    return headers


def databricks_headers(secret, authorization, body):
    headers = [("Content-Type", "application/json")]
    if secret:
        headers.append(("X-Databricks-Signature", sign_databricks(secret, body)))
    if authorization:
        headers.append(("Authorization", authorization))
    return headers


def databricks_text(event, f):
    name, version = f.get("name"), f.get("version")
    if event == "REGISTERED_MODEL_CREATED":
        return f"A new registered model '{name}' was created."
    if event == "MODEL_VERSION_CREATED":
        return f"A new version {version} was created for registered model '{name}'."
    if event.startswith("MODEL_VERSION_TRANSITIONED"):
        return (f"Registered model '{name}' version {version} transitioned from "
                f"{f['from_stage']} to {f['to_stage']}.")
    if event.startswith("TRANSITION_REQUEST"):
        return (f"{f.get('user', 'A user')} requested a transition of registered model "
                f"'{name}' version {version} from {f['from_stage']} to {f['to_stage']}.")
    if event == "MODEL_VERSION_TAG_SET":
        return (f"{f.get('user', 'A user')} set version tag(s) '{f['key']}' => '{f['value']}' "
                f"for registered model '{name}' version {version}.")
    if event == "COMMENT_CREATED":
        return f"A user commented on registered model '{name}' version {version}."
    return f"{event} on registered model '{name}' version {version}."


def databricks_events_for(kind, f):
    """[(event, extra fields)] that a neutral state event produces on Databricks."""
    stage_fields = lambda: {"to_stage": f["to_stage"], "from_stage": f["from_stage"]}  # noqa
    if kind == "registered_model_created":
        return [("REGISTERED_MODEL_CREATED", {})]
    if kind == "model_version_created":
        return [("MODEL_VERSION_CREATED", {})]
    if kind == "version_tag_set":
        return [("MODEL_VERSION_TAG_SET", {"tags": [{"key": f["key"], "value": f["value"]}]})]
    if kind == "comment_created":
        return [("COMMENT_CREATED", {"comment": f["comment"]})]
    if kind == "transition_requested":
        out = [("TRANSITION_REQUEST_CREATED", stage_fields())]
        if f["to_stage"] != "None":
            out.append((f"TRANSITION_REQUEST_TO_{f['to_stage'].upper()}_CREATED",
                        stage_fields()))
        return out
    if kind == "stage_transitioned":
        out = [("MODEL_VERSION_TRANSITIONED_STAGE", stage_fields())]
        if f["to_stage"] != "None":
            out.append((f"MODEL_VERSION_TRANSITIONED_TO_{f['to_stage'].upper()}",
                        stage_fields()))
        return out
    return []


def mlflow_event_for(kind, f):
    """(entity, action, data) that a neutral state event produces on MLflow, or None."""
    if kind == "registered_model_created":
        return "registered_model", "created", {"name": f["name"], "tags": f["tags"],
                                               "description": f["description"]}
    if kind == "model_version_created":
        return "model_version", "created", {
            "name": f["name"], "version": f["version"], "source": f["source"],
            "run_id": f["run_id"], "tags": f["tags"], "description": f["description"]}
    if kind == "version_tag_set":
        return "model_version_tag", "set", {"name": f["name"], "version": f["version"],
                                            "key": f["key"], "value": f["value"]}
    if kind == "version_tag_deleted":
        return "model_version_tag", "deleted", {"name": f["name"], "version": f["version"],
                                                "key": f["key"]}
    if kind == "alias_created":
        return "model_version_alias", "created", {"name": f["name"], "alias": f["alias"],
                                                  "version": f["version"]}
    if kind == "alias_deleted":
        return "model_version_alias", "deleted", {"name": f["name"], "alias": f["alias"]}
    return None


def post(url, headers, body, timeout, verify_tls=True):
    """POSTs `body` with `headers` in order; (status, response text)."""
    u = urllib.parse.urlsplit(url)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    if u.scheme == "https":
        ctx = ssl.create_default_context() if verify_tls else ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout,
                                           context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        conn.putrequest("POST", target, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace"), r.getheader("Retry-After")
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Registrations, dispatch and sending
# --------------------------------------------------------------------------------------------

def _page(items, params, default_max):
    try:
        start = int(params.get("page_token") or 0)
        size = int(params.get("max_results") or default_max)
    except ValueError:
        raise invalid("Invalid page_token or max_results.")
    if size <= 0:
        raise invalid("max_results must be positive.")
    page = items[start:start + size]
    token = str(start + size) if start + size < len(items) else None
    return page, token


class Webhooks:
    def __init__(self, faults, timeout=10.0, mlflow_retry_delays=(0.0, 2.0, 4.0)):
        self.faults = faults
        self.timeout = timeout
        self.mlflow_retry_delays = tuple(mlflow_retry_delays)
        self._lock = threading.RLock()
        self._threads = []
        self.reset()

    def reset(self):
        with self._lock:
            self.databricks = {}  # id -> stored webhook incl. secret/authorization
            self.mlflow = {}
            self.deliveries = []  # every delivery (sent, dropped or duplicated), in order
            self._cond = threading.Condition(self._lock)

    # -- Databricks registry webhooks (§1.4) --------------------------------------------------

    def _check_databricks_events(self, events, model_name):
        if not events or not isinstance(events, list):
            raise invalid("Missing value for required parameter 'events'.")
        for e in events:
            if e not in DATABRICKS_EVENTS:
                raise invalid(f"Invalid event '{e}'. Value must be one of "
                              f"{', '.join(DATABRICKS_EVENTS)}.")
        if model_name and "REGISTERED_MODEL_CREATED" in events:
            raise invalid("REGISTERED_MODEL_CREATED is only allowed on registry-wide "
                          "webhooks (without model_name).")

    @staticmethod
    def _check_spec(params):
        http_spec, job_spec = params.get("http_url_spec"), params.get("job_spec")
        if (http_spec is None) == (job_spec is None):
            raise invalid("Exactly one of 'http_url_spec' and 'job_spec' must be set.")
        if http_spec is not None and not http_spec.get("url"):
            raise invalid("Missing value for required parameter 'http_url_spec.url'.")
        if job_spec is not None and (not job_spec.get("job_id")
                                     or not job_spec.get("access_token")):
            raise invalid("'job_spec' needs 'job_id' and 'access_token'.")

    def create_databricks(self, params):
        model_name = params.get("model_name") or None
        events = params.get("events")
        self._check_databricks_events(events, model_name)
        self._check_spec(params)
        status = params.get("status") or "ACTIVE"
        if status not in DATABRICKS_STATUSES:
            raise invalid(f"Invalid status '{status}'.")
        t = now_ms()
        hook = {"id": uuid.uuid4().hex, "model_name": model_name, "events": list(events),
                "status": status, "description": params.get("description"),
                "http_url_spec": params.get("http_url_spec"), "job_spec": params.get("job_spec"),
                "creation_timestamp": t, "last_updated_timestamp": t}
        with self._lock:
            self.databricks[hook["id"]] = hook
        return self.databricks_json(hook)

    @staticmethod
    def databricks_json(hook):
        out = {k: hook[k] for k in ("id", "model_name", "events", "status", "description",
                                    "creation_timestamp", "last_updated_timestamp")}
        if hook["http_url_spec"] is not None:  # write-only secret and authorization
            spec = hook["http_url_spec"]
            out["http_url_spec"] = {"url": spec["url"], "enable_ssl_verification":
                                    spec.get("enable_ssl_verification", True)}
        if hook["job_spec"] is not None:
            out["job_spec"] = compact({"job_id": hook["job_spec"]["job_id"],
                                       "workspace_url": hook["job_spec"].get("workspace_url")})
        return compact(out)

    def _databricks(self, hook_id):
        if not hook_id:
            raise invalid("Missing value for required parameter 'id'.")
        hook = self.databricks.get(hook_id)
        if hook is None:
            raise not_found(f"Registry webhook with id {hook_id} does not exist.")
        return hook

    def list_databricks(self, params):
        events = params.get("events") or []
        if isinstance(events, str):
            events = [events]
        with self._lock:
            hooks = [h for h in self.databricks.values()
                     if (not params.get("model_name") or h["model_name"] == params["model_name"])
                     and (not events or set(events) & set(h["events"]))]
            page, token = _page([self.databricks_json(h) for h in hooks], params, 100)
        return compact({"webhooks": page, "next_page_token": token})

    def update_databricks(self, params):
        with self._lock:
            hook = self._databricks(params.get("id"))
            if "events" in params:
                self._check_databricks_events(params["events"], hook["model_name"])
            if "status" in params and params["status"] not in DATABRICKS_STATUSES:
                raise invalid(f"Invalid status '{params['status']}'.")
            if "http_url_spec" in params or "job_spec" in params:
                self._check_spec({"http_url_spec": params.get("http_url_spec"),
                                  "job_spec": params.get("job_spec")})
                hook["http_url_spec"] = params.get("http_url_spec")
                hook["job_spec"] = params.get("job_spec")
            for key in ("events", "status", "description"):
                if key in params:
                    hook[key] = params[key]
            hook["last_updated_timestamp"] = now_ms()
            return self.databricks_json(hook)

    def delete_databricks(self, hook_id):
        with self._lock:
            self._databricks(hook_id)
            del self.databricks[hook_id]

    def test_databricks(self, params):
        with self._lock:
            hook = self._databricks(params.get("id"))
            event = params.get("event") or hook["events"][0]
            if event not in DATABRICKS_EVENTS:
                raise invalid(f"Invalid event '{event}'.")
        fields = {"name": hook["model_name"] or "example-model", "version": "1",
                  "from_stage": "None", "to_stage": "Staging", "key": "key1", "value": "value1",
                  "comment": "Raw text content of the comment", "user": "example@example.com"}
        extra = {}
        if "TRANSITION" in event:
            extra = {"to_stage": "Staging", "from_stage": "None"}
        elif event == "MODEL_VERSION_TAG_SET":
            extra = {"tags": [{"key": "key1", "value": "value1"}]}
        elif event == "COMMENT_CREATED":
            extra = {"comment": fields["comment"]}
        d = self._databricks_delivery(hook, event, fields, extra, test=True)
        self._record(d)
        self._send(d)
        attempt = d["attempts"][-1]
        return {"status_code": attempt.get("status") or 0,
                "body": attempt.get("body") or attempt.get("error", "")}

    # -- MLflow webhooks (§3.6) ---------------------------------------------------------------

    @staticmethod
    def _mlflow_events(events):
        if not events or not isinstance(events, list):
            raise invalid("Missing value for required parameter 'events'.")
        out = []
        for e in events:
            if isinstance(e, str):
                entity, _, action = e.partition(".")
            elif isinstance(e, dict):
                entity, action = str(e.get("entity", "")), str(e.get("action", ""))
            else:
                entity = action = ""
            pair = (entity.lower(), action.lower())
            if pair not in MLFLOW_EVENTS:
                raise invalid(f"Invalid webhook event {e!r}: not a valid entity/action pair.")
            if pair not in out:
                out.append(pair)
        return out

    @staticmethod
    def _mlflow_url(url):
        if not url:
            raise invalid("Missing value for required parameter 'url'.")
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise invalid(f"Invalid webhook URL '{url}': the scheme must be http or https.")
        return url

    def create_mlflow(self, params):
        name = required(params, "name")
        url = self._mlflow_url(params.get("url"))
        events = self._mlflow_events(params.get("events"))
        status = (params.get("status") or "ACTIVE").upper()
        if status not in MLFLOW_STATUSES:
            raise invalid(f"Invalid webhook status '{status}'.")
        t = now_ms()
        hook = {"webhook_id": uuid.uuid4().hex, "name": name,
                "description": params.get("description"), "url": url, "events": events,
                "status": status, "secret": params.get("secret") or None,
                "creation_timestamp": t, "last_updated_timestamp": t}
        with self._lock:
            self.mlflow[hook["webhook_id"]] = hook
        return self.mlflow_json(hook)

    @staticmethod
    def mlflow_json(hook):
        out = {k: hook[k] for k in ("webhook_id", "name", "description", "url", "status",
                                    "creation_timestamp", "last_updated_timestamp")}
        out["events"] = [{"entity": e.upper(), "action": a.upper()} for e, a in hook["events"]]
        return compact(out)

    def _mlflow(self, hook_id):
        hook = self.mlflow.get(hook_id)
        if hook is None:
            raise not_found(f"Webhook with ID {hook_id} not found.")
        return hook

    def get_mlflow(self, hook_id):
        with self._lock:
            return self.mlflow_json(self._mlflow(hook_id))

    def list_mlflow(self, params):
        with self._lock:
            hooks = [self.mlflow_json(h) for h in self.mlflow.values()]
        page, token = _page(hooks, params, 100)
        return compact({"webhooks": page, "next_page_token": token})

    def update_mlflow(self, hook_id, params):
        with self._lock:
            hook = self._mlflow(hook_id)
            if "events" in params:
                hook["events"] = self._mlflow_events(params["events"])
            if "url" in params:
                hook["url"] = self._mlflow_url(params["url"])
            if "status" in params:
                status = str(params["status"]).upper()
                if status not in MLFLOW_STATUSES:
                    raise invalid(f"Invalid webhook status '{status}'.")
                hook["status"] = status
            for key in ("name", "description", "secret"):
                if key in params:
                    hook[key] = params[key]
            hook["last_updated_timestamp"] = now_ms()
            return self.mlflow_json(hook)

    def delete_mlflow(self, hook_id):
        with self._lock:
            self._mlflow(hook_id)
            del self.mlflow[hook_id]

    def test_mlflow(self, hook_id, params):
        with self._lock:
            hook = self._mlflow(hook_id)
            event = (self._mlflow_events([params["event"]])[0] if params.get("event")
                     else hook["events"][0])
        data = MLFLOW_EXAMPLES.get(event, {"name": "example_prompt"})
        d = self._mlflow_delivery(hook, event[0], event[1], data, test=True)
        self._record(d)
        self._send(d)
        attempt = d["attempts"][-1]
        status = attempt.get("status")
        return {"result": compact({"success": status is not None and status < 400,
                                   "response_status": status,
                                   "response_body": attempt.get("body"),
                                   "error_message": attempt.get("error")})}

    # -- dispatch -----------------------------------------------------------------------------

    def on_event(self, kind, **fields):
        """Called by the registry on every state change; queues the matching deliveries."""
        deliveries = []
        with self._lock:
            for hook in self.databricks.values():
                if hook["status"] != "ACTIVE":
                    continue
                if hook["model_name"] and hook["model_name"] != fields.get("name"):
                    continue
                for event, extra in databricks_events_for(kind, fields):
                    if event in hook["events"]:
                        if event == "REGISTERED_MODEL_CREATED" and hook["model_name"]:
                            continue
                        deliveries.append(self._databricks_delivery(hook, event, fields, extra))
            mapped = mlflow_event_for(kind, fields)
            if mapped:
                entity, action, data = mapped
                for hook in self.mlflow.values():
                    if hook["status"] == "ACTIVE" and (entity, action) in hook["events"]:
                        deliveries.append(self._mlflow_delivery(hook, entity, action, data))
        for d in deliveries:
            fault = self.faults.for_delivery()
            d["fault"] = fault
            if fault == "drop":
                d["done"] = True
                self._record(d)
                continue
            self._record(d)
            t = threading.Thread(target=self._send, args=(d, 2 if fault == "duplicate" else 1),
                                 daemon=True)
            with self._lock:
                self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _databricks_delivery(self, hook, event, fields, extra, test=False):
        spec = hook["http_url_spec"] or {}
        body = databricks_body(event, hook["id"], fields.get("name"), fields.get("version"),
                               extra, databricks_text(event, fields))
        return {"dialect": "databricks", "webhook_id": hook["id"], "event": event,
                "url": spec.get("url"), "job_spec": hook["job_spec"] is not None,
                "verify_tls": spec.get("enable_ssl_verification", True),
                "headers": databricks_headers(spec.get("secret"), spec.get("authorization"),
                                              body),
                "body": body, "test": test, "fault": None, "attempts": [], "done": False,
                "retry_delays": ()}

    def _mlflow_delivery(self, hook, entity, action, data, test=False):
        body = mlflow_body(entity, action, data)
        return {"dialect": "mlflow", "webhook_id": hook["webhook_id"],
                "event": f"{entity}.{action}", "url": hook["url"], "job_spec": False,
                "verify_tls": True, "headers": mlflow_headers(hook["secret"], body),
                "body": body, "test": test, "fault": None, "attempts": [], "done": False,
                "retry_delays": self.mlflow_retry_delays}

    def _record(self, d):
        with self._lock:
            d["seq"] = len(self.deliveries) + 1
            self.deliveries.append(d)
            self._cond.notify_all()

    def _send(self, d, times=1):
        """Sends one delivery (`times` identical copies), retrying as its dialect does."""
        if d["job_spec"]:  # a job webhook would call jobs/run-now: recorded, not performed
            d["attempts"].append({"status": None, "error": "job webhooks are not run"})
        else:
            for _ in range(times):
                self._send_once(d)
        with self._lock:
            d["done"] = True
            self._cond.notify_all()

    def _send_once(self, d):
        delays = list(d["retry_delays"])
        while True:
            attempt = {"at": time.time()}
            try:
                status, body, retry_after = post(d["url"], d["headers"], d["body"],
                                                 self.timeout, d["verify_tls"])
                attempt.update(status=status, body=body)
            except (OSError, http.client.HTTPException) as e:
                status, retry_after = None, None
                attempt.update(status=None, error=f"{type(e).__name__}: {e}")
            with self._lock:
                d["attempts"].append(attempt)
                self._cond.notify_all()
            if not delays or (status is not None and status not in MLFLOW_RETRY_STATUSES):
                return
            delay = delays.pop(0)
            if retry_after is not None:
                try:
                    delay = min(float(retry_after), 60.0)
                except ValueError:
                    pass
            time.sleep(delay)

    # -- observing ----------------------------------------------------------------------------

    def delivery_json(self, d):
        out = {k: d[k] for k in ("seq", "dialect", "webhook_id", "event", "url", "test",
                                 "fault", "done")}
        out["headers"] = [list(h) for h in d["headers"]]
        out["body"] = d["body"].decode("utf-8")
        out["attempts"] = [dict(a) for a in d["attempts"]]
        return out

    def list_deliveries(self):
        with self._lock:
            return [self.delivery_json(d) for d in self.deliveries]

    def wait_idle(self, timeout=10.0):
        """Waits until every queued delivery (with its retries) has finished."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not all(d["done"] for d in self.deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("webhook deliveries still in flight")
                self._cond.wait(remaining)


__all__ = ["Webhooks", "sign_databricks", "sign_mlflow", "mlflow_body",
           "databricks_body", "mlflow_headers"]
