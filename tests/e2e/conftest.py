"""Shared fixtures of the stagegate end-to-end tests.

Every test starts the real binary (STAGEGATE_BIN) with `serve --config` on 127.0.0.1:0, in its
own temporary directory with its own SQLite file, and talks to it over real HTTP. Secrets reach
the child only through env: references (set in the child's environment) or file: references in
the temporary directory. Every server is killed at teardown.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest

E2E_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parent.parent
DATA_DIR = REPO_ROOT / "tests" / "data" / "e2e"
NODE_DIR = E2E_DIR / "node"

START_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0


def stagegate_bin():
    path = os.environ.get("STAGEGATE_BIN")
    if not path:
        pytest.fail("set STAGEGATE_BIN to the built stagegate binary "
                    "(CTest does: ctest -L e2e in the build directory)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"STAGEGATE_BIN={path} is not an executable file")
    return path


# --------------------------------------------------------------------------------------------
# Signing, following protocols.md (§1.7 Databricks, §3.4 MLflow, §4 GitHub, §5 Standard).
# --------------------------------------------------------------------------------------------

def _b(x):
    return x if isinstance(x, bytes) else x.encode("utf-8")


def sign_databricks(secret, body):
    return hmac.new(_b(secret), _b(body), hashlib.sha256).hexdigest()


def sign_github(secret, body):
    return "sha256=" + hmac.new(_b(secret), _b(body), hashlib.sha256).hexdigest()


def sign_mlflow(secret, delivery_id, timestamp, body):
    content = _b(delivery_id) + b"." + _b(str(timestamp)) + b"." + _b(body)
    return "v1," + base64.b64encode(hmac.new(_b(secret), content, hashlib.sha256).digest()).decode()


def standard_key(whsec):
    assert whsec.startswith("whsec_")
    return base64.b64decode(whsec[len("whsec_"):])


def sign_standard(whsec, msg_id, timestamp, body):
    content = _b(msg_id) + b"." + _b(str(timestamp)) + b"." + _b(body)
    mac = hmac.new(standard_key(whsec), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def new_id(prefix="d"):
    return f"{prefix}-{uuid.uuid4()}"


def signed_headers(scheme, secret, body, delivery_id=None, timestamp=None, github_event="push"):
    """Headers a real sender of `scheme` would send for `body` (dict, in sending order)."""
    delivery_id = delivery_id or new_id()
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json"}
    if scheme == "databricks":
        headers["X-Databricks-Signature"] = sign_databricks(secret, body)
    elif scheme == "mlflow":
        headers["X-MLflow-Delivery-Id"] = delivery_id
        headers["X-MLflow-Timestamp"] = str(timestamp)
        headers["X-MLflow-Signature"] = sign_mlflow(secret, delivery_id, timestamp, body)
    elif scheme == "standard":
        headers["webhook-id"] = delivery_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = sign_standard(secret, delivery_id, timestamp, body)
    elif scheme == "github":
        headers["X-GitHub-Event"] = github_event
        headers["X-GitHub-Delivery"] = delivery_id
        headers["X-Hub-Signature-256"] = sign_github(secret, body)
    elif scheme != "none":
        raise ValueError(scheme)
    return headers


# Sample bodies in each sender's own shape (protocols.md §1.5, §3.2, §4, §5).

def mlflow_body(entity="model_version", action="created", data=None, name="churn", version="3"):
    if data is None:
        data = {"name": name, "version": version, "source": f"models:/{name}/{version}",
                "run_id": None, "tags": {}, "description": None}
    return json.dumps({"entity": entity, "action": action,
                       "timestamp": "2026-01-02T03:04:05.123456+00:00", "data": data})


def databricks_body(event="TRANSITION_REQUEST_CREATED", model="churn", version="3", **extra):
    body = {"event": event, "webhook_id": "c5596721253c4b429368cf6f4341b88a",
            "event_timestamp": int(time.time() * 1000), "model_name": model, "version": version}
    if event.startswith("TRANSITION_REQUEST") or event.startswith("MODEL_VERSION_TRANSITIONED"):
        body.setdefault("to_stage", "Production")
        body.setdefault("from_stage", "Staging")
    body.update(extra)
    body.setdefault("text", f"event {event} on {model} version {version}")
    return json.dumps(body)


def standard_body(type_="model_version.created", model="churn", version="3", **data):
    payload = {"model_name": model, "version": version}
    payload.update(data)
    return json.dumps({"type": type_, "timestamp": "2026-01-02T03:04:05Z", "data": payload},
                      separators=(",", ":"))


def github_push_body(repo="example/pipelines", ref="refs/heads/main", after=None):
    after = after or hashlib.sha1(uuid.uuid4().bytes).hexdigest()
    return json.dumps({"ref": ref, "before": "0" * 40, "after": after, "created": False,
                       "deleted": False, "forced": False,
                       "repository": {"id": 1, "name": repo.split("/")[-1], "full_name": repo},
                       "head_commit": {"id": after, "message": "Update pipelines",
                                       "timestamp": "2026-01-02T03:04:05Z"},
                       "pusher": {"name": "ci"}}, separators=(",", ":"))


def sample_body(scheme, **kw):
    return {"mlflow": mlflow_body, "databricks": databricks_body, "standard": standard_body,
            "none": standard_body, "github": github_push_body}[scheme](**kw)


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body  # bytes

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


def read_response(sock, timeout=REQUEST_TIMEOUT):
    """Reads one HTTP/1.1 response from `sock`, strictly: the body must be exactly
    Content-Length bytes (or run to EOF when there is no Content-Length)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    m = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
    assert m, f"bad status line {status_line!r}"
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    resp = Response(int(m.group(1)), headers, b"")
    length = resp.header("Content-Length")
    if resp.status in (100, 204, 304):
        return resp
    if length is not None:
        length = int(length)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(
                    f"connection closed after {len(rest)} of Content-Length {length} body bytes: "
                    f"{status_line!r} {rest!r}")
            rest += chunk
        assert len(rest) == length, f"more bytes than Content-Length {length}: {rest!r}"
        resp.body = rest
    else:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        resp.body = rest
    return resp


def raw_request(port, data, timeout=REQUEST_TIMEOUT):
    """Sends `data` (the exact request bytes) on a fresh connection and reads one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock, timeout)


def build_request(method, path, headers, body=b"", host="127.0.0.1"):
    """Request bytes with headers in the given order (a list of pairs or a dict)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    names = {k.lower() for k, _ in items}
    body = _b(body)
    out = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    out += [f"{k}: {v}" for k, v in items if k.lower() != "host"]
    if "content-length" not in names and "transfer-encoding" not in names and (
            body or method in ("POST", "PUT")):
        out.append(f"Content-Length: {len(body)}")
    if "connection" not in names:
        out.append("Connection: close")
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + body


def closed_by_peer(sock, timeout):
    """Waits up to `timeout` for the server to close `sock`; returns (closed, bytes_received)."""
    deadline = time.monotonic() + timeout
    got = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


# --------------------------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------------------------

def read_stdout_until(proc, stop, timeout=START_TIMEOUT):
    """Lines of a text-mode child's stdout until `stop(line)` is true, EOF or `timeout`."""
    lines = queue.Queue()

    def pump():
        for line in iter(proc.stdout.readline, ""):
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        out.append(line)
        if stop(line):
            break
    return out


BANNER = re.compile(r"^stagegate \S+ listening on http://([0-9.]+):(\d+) \(config: (.*)\)$")


class Server:
    """One `stagegate serve --config` child process."""

    def __init__(self, workdir, config, env, log_level="info"):
        self.workdir = pathlib.Path(workdir)
        self.config = config
        self.env = env
        self.log_level = log_level
        self.config_path = self.workdir / "stagegate.yaml"
        # JSON is valid YAML (1.2), so the config is written as JSON.
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")
        store = config["store"]
        url = store["url"] if isinstance(store, dict) else store
        self.db_path = self.workdir / url[len("sqlite:"):]
        self.proc = None
        self.port = None
        self.stdout_lines = []
        self.starts = 0
        self.sent_secrets = set()  # every signature value sent, checked against the logs

    # -- lifecycle --

    def start(self):
        self.starts += 1
        self.stderr_path = self.workdir / f"stderr-{self.starts}.log"
        stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [stagegate_bin(), "serve", "--config", str(self.config_path), "--log-level",
             self.log_level],
            cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=stderr)
        stderr.close()
        lines = queue.Queue()

        def pump(stream, sink):
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                sink.append(line)
                lines.put(line)
            lines.put(None)

        self.stdout_lines = []
        threading.Thread(target=pump, args=(self.proc.stdout, self.stdout_lines),
                         daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                pytest.fail(f"stagegate printed no 'listening on' line within {START_TIMEOUT}s; "
                            f"stderr: {self.stderr_text()[-2000:]}")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=5)
                pytest.fail(f"stagegate exited with {code} before listening; "
                            f"stderr: {self.stderr_text()[-2000:]}")
            m = BANNER.match(line)
            if m:
                assert m.group(1) == "127.0.0.1"
                self.port = int(m.group(2))
                assert self.port != 0
                break
        while True:
            try:
                if self.get("/healthz").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail("/healthz did not answer 200")
            time.sleep(0.05)
        return self

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=timeout)

    def kill(self):
        """SIGKILL (a crash) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self):
        self.stop()
        return self.start()

    def stderr_text(self):
        out = ""
        for i in range(1, self.starts + 1):
            p = self.workdir / f"stderr-{i}.log"
            if p.exists():
                out += p.read_text(errors="replace")
        return out

    # -- HTTP --

    def request(self, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            for name, value in hdrs.items():
                if "signature" in name.lower():
                    self.sent_secrets.add(value)
            conn.request(method, path, body=_b(body) if body is not None else None, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **params):
        if params:
            path += "?" + urllib.parse.urlencode(params)
        return self.request("GET", path)

    def post(self, endpoint, body, headers):
        return self.request("POST", f"/hooks/{endpoint}", body=body, headers=headers)

    def deliver(self, endpoint, scheme, secret, body, **kw):
        return self.post(endpoint, body, signed_headers(scheme, secret, body, **kw))

    def event(self, event_id):
        r = self.get(f"/api/v1/events/{event_id}")
        assert r.status == 200, r
        return r.json()

    def all_events(self, page=500, **filters):
        """Every event, newest first, walking next_cursor."""
        events, cursor = [], None
        while True:
            params = dict(filters, limit=page)
            if cursor:
                params["cursor"] = cursor
            r = self.get("/api/v1/events", **params)
            assert r.status == 200, r
            doc = r.json()
            events += doc["events"]
            cursor = doc["next_cursor"]
            if not cursor:
                return events

    def count(self, **filters):
        return len(self.all_events(**filters))

    def metrics(self):
        r = self.get("/metrics")
        assert r.status == 200, r
        return r.text


def wait_for(predicate, timeout=20.0, what="condition"):
    """The first truthy value of predicate(), polled every 50 ms; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ServerFactory:
    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.servers = []

    def __call__(self, endpoints, secrets=None, limits=None, store=None, extra=None,
                 log_level="info", start=True, workdir=None):
        """Starts a server.

        endpoints: {name: {scheme, secrets: [env:X | file:P], tolerance, dedupe_window}}
        secrets:   {"env:NAME": value, "file:NAME": value}; env ones are put in the child's
                   environment, file ones written to the tmp dir (refer to them as
                   "file:NAME" in endpoints; the path is rewritten to the written file).
        """
        workdir = pathlib.Path(workdir or self.tmp_path_factory.mktemp("stagegate"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEGATE_")}
        files = {}
        for ref, value in (secrets or {}).items():
            kind, _, name = ref.partition(":")
            if kind == "env":
                env[name] = value
            elif kind == "file":
                path = workdir / "secrets" / name
                path.parent.mkdir(exist_ok=True)
                path.write_text(value + "\n")
                path.chmod(0o600)
                files[ref] = f"file:{path}"
            else:
                raise ValueError(ref)
        eps = {}
        for name, ep in endpoints.items():
            ep = dict(ep)
            if "secrets" in ep:
                ep["secrets"] = [files.get(s, s) for s in ep["secrets"]]
            eps[name] = ep
        config = {"listen": "127.0.0.1:0",
                  "store": store or "sqlite:stagegate.db",
                  "endpoints": eps}
        if limits:
            config["limits"] = limits
        config.update(extra or {})
        server = Server(workdir, config, env, log_level=log_level)
        self.servers.append(server)
        return server.start() if start else server

    def close(self):
        for s in self.servers:
            try:
                s.stop(timeout=3)
            finally:
                s.kill()


@pytest.fixture
def stagegate(tmp_path_factory):
    factory = ServerFactory(tmp_path_factory)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def stagegate_module(tmp_path_factory):
    factory = ServerFactory(tmp_path_factory)
    yield factory
    factory.close()


# Secrets shared by the tests (random per run, so a leak check cannot match by accident).
MLFLOW_SECRET = "mlflow-" + uuid.uuid4().hex
DATABRICKS_SECRET = "dbx-" + uuid.uuid4().hex
GITHUB_SECRET = "gh-" + uuid.uuid4().hex
STANDARD_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()

ALL_SCHEMES_SECRETS = {
    "env:SG_E2E_MLFLOW": MLFLOW_SECRET,
    "env:SG_E2E_DATABRICKS": DATABRICKS_SECRET,
    "file:github": GITHUB_SECRET,
    "env:SG_E2E_STANDARD": STANDARD_SECRET,
}

ALL_SCHEMES_ENDPOINTS = {
    "mlflow": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]},
    "databricks": {"scheme": "databricks", "secrets": ["env:SG_E2E_DATABRICKS"]},
    "github": {"scheme": "github", "secrets": ["file:github"]},
    "standard": {"scheme": "standard", "secrets": ["env:SG_E2E_STANDARD"]},
}

SECRET_OF = {"mlflow": MLFLOW_SECRET, "databricks": DATABRICKS_SECRET, "github": GITHUB_SECRET,
             "standard": STANDARD_SECRET}
