"""`stagegate registry webhooks`: managing a registry's webhooks from the command line, against
the registry double (tests/registry_double/) in both dialects.

The round trip creates webhooks that point at a running `stagegate serve`, lists, updates and
tests them (the double really delivers the test event, signed with the secret the command gave
it, and stagegate must verify and store it), then deletes every webhook of the model. Each step
is checked on the double's own state, not only on what the command printed. Secrets and the
registry token must never appear in anything the command prints, except a secret it generated.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import DATABRICKS_SECRET, MLFLOW_SECRET, REPO_ROOT, stagegate_bin, wait_for

sys.path.insert(0, str(REPO_ROOT / "tests"))
from registry_double.server import RegistryDouble  # noqa: E402

TOKEN = "dapi-cli-test-token-0123456789"
FAST_RETRIES = (0.0, 0.05, 0.05)

# What each dialect needs: the registry name in the config, the stagegate endpoint its
# webhooks post to, that endpoint's secret, and what the double keeps per webhook.
DIALECTS = {
    "databricks": {"registry": "dbx", "endpoint": "databricks", "secret": DATABRICKS_SECRET,
                   "default_events": ["TRANSITION_REQUEST_CREATED", "MODEL_VERSION_CREATED"],
                   "status": "TEST_MODE"},
    "mlflow": {"registry": "mlflow", "endpoint": "mlflow", "secret": MLFLOW_SECRET,
               "default_events": ["model_version.created", "model_version_alias.created",
                                  "model_version_tag.set"],
               "status": "DISABLED"},
}


class Cli:
    """Runs `stagegate registry webhooks ...` with the server's config and environment, and
    keeps everything it printed (for the leak check)."""

    def __init__(self, server, registry):
        self.server = server
        self.registry = registry
        self.printed = []

    def run(self, action, *args, registry="default", config="default", env=None):
        cmd = [stagegate_bin(), "registry", "webhooks", action]
        if config == "default":
            cmd += ["--config", str(self.server.config_path)]
        elif config is not None:
            cmd += ["--config", str(config)]
        if registry == "default":
            cmd += ["--registry", self.registry]
        elif registry is not None:
            cmd += ["--registry", registry]
        out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                             env=env or self.server.env, cwd=self.server.workdir,
                             stdin=subprocess.DEVNULL)
        self.printed += [out.stdout, out.stderr]
        return out

    def ok(self, action, *args, **kw):
        out = self.run(action, *args, **kw)
        assert out.returncode == 0, (action, args, out.stdout, out.stderr)
        return out

    def json(self, action, *args, **kw):
        return json.loads(self.ok(action, "--json", *args, **kw).stdout)

    def assert_never_printed(self, *values):
        text = "\n".join(self.printed)
        for v in values:
            assert v not in text, f"{v[:6]}... was printed"


@pytest.fixture
def double_factory():
    doubles = []

    def make(dialect):
        d = RegistryDouble(dialect=dialect, token=TOKEN, mlflow_retry_delays=FAST_RETRIES).start()
        doubles.append(d)
        return d

    yield make
    for d in doubles:
        d.stop()


def start(stagegate, double, dialect):
    """A stagegate server whose config has the double as a registry and an endpoint per
    dialect (secrets and the registry token from env: references)."""
    spec = DIALECTS[dialect]
    endpoints = {
        "databricks": {"scheme": "databricks", "secrets": ["env:SG_E2E_DATABRICKS"]},
        "mlflow": {"scheme": "mlflow", "secrets": ["env:SG_E2E_MLFLOW"]},
    }
    endpoints[spec["endpoint"]]["registry"] = spec["registry"]
    registries = {spec["registry"]: {"dialect": dialect, "url": double.url,
                                     "token": "env:SG_E2E_REGISTRY_TOKEN"},
                  "staging-" + spec["registry"]: {"dialect": dialect,
                                                  "url": "http://127.0.0.1:9"}}
    server = stagegate(endpoints, secrets={"env:SG_E2E_DATABRICKS": DATABRICKS_SECRET,
                                           "env:SG_E2E_MLFLOW": MLFLOW_SECRET,
                                           "env:SG_E2E_REGISTRY_TOKEN": TOKEN},
                       extra={"registries": registries})
    return server, Cli(server, spec["registry"])


def stored_hooks(double, dialect):
    """The double's own record of every webhook (secrets included), by id."""
    with double.webhooks._lock:
        table = double.webhooks.databricks if dialect == "databricks" else double.webhooks.mlflow
        return {k: json.loads(json.dumps(v)) for k, v in table.items()}


def hook_secret(hook, dialect):
    return (hook["http_url_spec"] or {}).get("secret") if dialect == "databricks" \
        else hook["secret"]


def hook_events(hook, dialect):
    return hook["events"] if dialect == "databricks" else [f"{e}.{a}" for e, a in hook["events"]]


@pytest.mark.parametrize("dialect", ["databricks", "mlflow"])
def test_webhook_round_trip(stagegate, double_factory, dialect):
    spec = DIALECTS[dialect]
    double = double_factory(dialect)
    server, cli = start(stagegate, double, dialect)
    url = f"http://127.0.0.1:{server.port}/hooks/{spec['endpoint']}"

    # create: two webhooks for churn (one through --endpoint, one with --secret env:), one for
    # another model.
    out = cli.ok("create", "--model", "churn", "--endpoint", spec["endpoint"], "--url", url)
    m = re.search(r"^Created webhook (\S+) on registry '" + spec["registry"] + r"' \(" + dialect
                  + r"\)$", out.stdout, re.M)
    assert m, out.stdout
    first = m.group(1)
    assert "value not shown" in out.stdout
    assert f"endpoint '{spec['endpoint']}'" in out.stdout
    stored = stored_hooks(double, dialect)
    assert list(stored) == [first]
    hook = stored[first]
    assert hook_secret(hook, dialect) == spec["secret"]  # the endpoint's secret, as given
    assert hook_events(hook, dialect) == spec["default_events"]
    assert hook["status"] == "ACTIVE"
    if dialect == "databricks":
        assert hook["model_name"] == "churn"
        assert hook["http_url_spec"]["url"] == url
        assert "authorization" not in hook["http_url_spec"]
    else:
        assert hook["name"] == "stagegate-churn" and hook["url"] == url

    second = cli.json("create", "--model", "churn", "--url", url,
                      "--secret", "env:SG_E2E_" + dialect.upper(), "--event",
                      spec["default_events"][0], "--description", "second")
    assert second["secret"] == {"handling": "reference",
                                "reference": "env:SG_E2E_" + dialect.upper(),
                                "endpoint": spec["endpoint"], "endpoint_knows_secret": True}
    assert second["webhook"]["events"] == spec["default_events"][:1]
    assert second["webhook"]["description"] == "second"
    second_id = second["webhook"]["id"]
    other = cli.json("create", "--model", "other", "--endpoint", spec["endpoint"], "--url", url)
    other_id = other["webhook"]["id"]
    assert other["secret"]["handling"] == "endpoint"
    assert set(stored_hooks(double, dialect)) == {first, second_id, other_id}

    # list: the model's webhooks, in a table and as JSON.
    out = cli.ok("list", "--model", "churn")
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME" if dialect == "mlflow" else "MODEL", "STATUS",
                                "EVENTS", "URL"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted([first, second_id])
    assert all(url in line for line in lines[1:])
    listed = cli.json("list", "--model", "churn")
    assert listed["registry"] == spec["registry"] and listed["dialect"] == dialect
    assert sorted(w["id"] for w in listed["webhooks"]) == sorted([first, second_id])
    by_id = {w["id"]: w for w in listed["webhooks"]}
    assert by_id[first]["events"] == spec["default_events"]
    assert by_id[first]["status"] == "ACTIVE"
    assert by_id[first]["creation_timestamp"] > 0
    assert len(cli.json("list")["webhooks"]) == 3

    # update: status and description; the secret stays what it was.
    out = cli.ok("update", "--id", first, "--status", spec["status"].lower(), "--description",
                 "paused by ci")
    assert f"Updated webhook {first}" in out.stdout and spec["status"] in out.stdout
    hook = stored_hooks(double, dialect)[first]
    assert hook["status"] == spec["status"] and hook["description"] == "paused by ci"
    assert hook_secret(hook, dialect) == spec["secret"]
    assert hook["last_updated_timestamp"] >= hook["creation_timestamp"]

    # test: the double delivers a signed test event to stagegate, which verifies and stores it.
    before = server.count(endpoint=spec["endpoint"])
    tested = cli.json("test", "--id", first)
    assert tested["status"] == 200 and tested["success"] is True, tested
    assert json.loads(tested["body"])["duplicate"] is False
    event_id = json.loads(tested["body"])["event_id"]
    assert server.event(event_id)["endpoint"] == spec["endpoint"]
    assert server.count(endpoint=spec["endpoint"]) == before + 1
    delivery = [d for d in double.deliveries(webhook_id=first) if d["test"]][-1]
    assert delivery["url"] == url and delivery["attempts"][-1]["status"] == 200
    out = cli.ok("test", "--id", first, "--event", spec["default_events"][1])
    assert re.search(rf"^Tested webhook {first} with {re.escape(spec['default_events'][1])}: "
                     r"its URL answered HTTP 200$", out.stdout, re.M), out.stdout
    assert '"event_id"' in out.stdout
    wait_for(lambda: server.count(endpoint=spec["endpoint"]) == before + 2, what="second event")

    # delete --model --all: every webhook of churn, each printed; the other model's stays.
    out = cli.ok("delete", "--model", "churn", "--all")
    deleted = re.findall(r"^Deleted webhook (\S+)", out.stdout, re.M)
    assert sorted(deleted) == sorted([first, second_id]), out.stdout
    assert "Deleted 2 of 2 webhooks of model 'churn'" in out.stdout
    assert set(stored_hooks(double, dialect)) == {other_id}
    out = cli.ok("list", "--model", "churn")
    assert out.stdout.startswith(f"No webhooks on registry '{spec['registry']}'"), out.stdout
    assert cli.json("list", "--model", "churn")["webhooks"] == []
    out = cli.ok("delete", "--model", "churn", "--all")
    assert "nothing deleted" in out.stdout
    gone = cli.json("delete", "--id", other_id)
    assert gone["deleted"] == [{"id": other_id}] and gone["failed"] == []
    assert stored_hooks(double, dialect) == {}

    # Every call carried the token; nothing printed the token or a secret.
    calls = [c for c in double.calls() if "webhooks" in c["path"]]
    assert calls and all(c["authorization"] for c in calls)
    if dialect == "databricks":
        deletes = double.calls(method="DELETE")
        assert deletes and all(c["path"] == "/api/2.0/mlflow/registry-webhooks/delete"
                               and "id" in c["query"] and c["body"] is None for c in deletes)
    cli.assert_never_printed(TOKEN, DATABRICKS_SECRET, MLFLOW_SECRET)


@pytest.mark.parametrize("dialect", ["databricks", "mlflow"])
def test_generated_secret_is_printed_once_and_is_what_the_registry_signs_with(
        stagegate, double_factory, dialect):
    spec = DIALECTS[dialect]
    double = double_factory(dialect)
    server, cli = start(stagegate, double, dialect)
    url = f"http://127.0.0.1:{server.port}/hooks/{spec['endpoint']}"
    out = cli.ok("create", "--model", "churn", "--url", url, "--generate-secret",
                 "--endpoint", spec["endpoint"])
    secrets = re.findall(r"\b[0-9a-f]{64}\b", out.stdout)
    assert len(secrets) == 1, out.stdout
    generated = secrets[0]
    assert out.stdout.count(generated) == 1
    assert f"endpoint '{spec['endpoint']}'" in out.stdout
    assert "restart stagegate serve" in out.stdout
    assert "env:SG_E2E_" + dialect.upper() in out.stdout  # keep the old one while rotating
    (hook,) = stored_hooks(double, dialect).values()
    assert hook_secret(hook, dialect) == generated

    # Until the endpoint knows the new secret, stagegate rejects the signed test delivery.
    hook_id = hook["id"] if dialect == "databricks" else hook["webhook_id"]
    out = cli.run("test", "--id", hook_id)
    assert out.returncode == 1, out
    assert "answered HTTP 401" in out.stdout

    as_json = cli.json("create", "--model", "churn", "--url", url, "--generate-secret")
    assert re.fullmatch(r"[0-9a-f]{64}", as_json["secret"]["value"])
    assert as_json["secret"]["handling"] == "generated"
    stored = stored_hooks(double, dialect)[as_json["webhook"]["id"]]
    assert hook_secret(stored, dialect) == as_json["secret"]["value"]
    cli.assert_never_printed(TOKEN, spec["secret"])


def test_bad_input(stagegate, double_factory, tmp_path):
    double = double_factory("databricks")
    server, cli = start(stagegate, double, "databricks")
    url = f"http://127.0.0.1:{server.port}/hooks/databricks"

    def misuse(*args, action="create", text=(), **kw):
        out = cli.run(action, *args, **kw)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert out.stdout == "" and out.stderr.strip(), out
        for t in text:
            assert t in out.stderr, (t, out.stderr)
        return out

    # An unknown registry: named, with a suggestion and the configured ones.
    out = misuse("--url", url, "--no-secret", registry="dbxx",
                 text=["unknown registry 'dbxx'", "did you mean 'dbx'?", "'dbx', 'staging-dbx'"])
    assert len(out.stderr.splitlines()) == 1
    misuse(action="list", registry="prod", text=["unknown registry 'prod'", "'dbx'"])
    misuse(action="list", registry=None, text=["--registry NAME is required", "'staging-dbx'"])
    misuse(action="list", config=None, text=["--config FILE is required"])
    misuse(action="list", config=tmp_path / "missing.yaml")

    # create needs a URL, a choice of secret, known events and statuses.
    misuse("--model", "churn", "--secret", "env:SG_E2E_DATABRICKS", text=["--url is required"])
    misuse("--endpoint", "databricks", text=["--url is required", "listen:"])
    misuse("--url", url, "--model", "churn", text=["--secret", "--generate-secret", "--endpoint"])
    misuse("--url", "ftp://x/hooks", "--no-secret", text=["must start with https://"])
    misuse("--url", url, "--no-secret", "--event", "MODEL_VERSION_CREATD",
           text=["unknown databricks webhook event", "did you mean 'MODEL_VERSION_CREATED'?"])
    misuse("--url", url, "--no-secret", "--status", "ACTIV", text=["did you mean 'ACTIVE'?"])
    misuse("--url", url, "--no-secret", "--name", "x", text=["Databricks webhooks have no name"])
    misuse("--url", url, "--endpoint", "mlflow", text=["endpoint 'mlflow' verifies mlflow"])
    misuse("--url", url, "--endpoint", "databrick", text=["did you mean 'databricks'?"])
    misuse("--url", url, "--secret", "env:SG_E2E_UNSET_VARIABLE",
           text=["SG_E2E_UNSET_VARIABLE is not set"])
    # A secret value on the command line is refused and not echoed back.
    inline = "inline-secret-value-" + os.urandom(8).hex()
    misuse("--url", url, "--secret", inline, text=["env:NAME or file:PATH"])
    misuse("--url", url, "--secret", "env:SG_E2E_DATABRICKS", "--generate-secret",
           text=["one of --secret, --generate-secret and --no-secret"])
    misuse("--url", url, "--endpoint", "databricks", "--no-secret",
           text=["endpoint 'databricks' verifies signatures"])
    misuse("--url", url, "--secret", "env:SG_E2E_DATABRICKS", "--bogus")

    # delete needs --id or --model with --all; update needs a change; test an id.
    misuse("--all", action="delete", text=["--model MODEL --all"])
    misuse("--model", "churn", action="delete", text=["--model MODEL --all"])
    misuse("--id", "x", action="update", text=["nothing to change"])
    misuse("--id", "x", "--url", url, action="update", text=["URL and the secret together"])
    misuse("--id", "x", "--endpoint", "databricks", action="update",
           text=["--url is required", "no public_url:"])  # never the listen: address
    misuse(action="test", text=["--id is required"])
    assert double.calls() == [], "misuse never reaches the registry"

    # Registry errors exit 1 with the registry's message.
    out = cli.run("delete", "--id", "0" * 32)
    assert out.returncode == 1
    assert "RESOURCE_DOES_NOT_EXIST" in out.stderr and "HTTP 404" in out.stderr
    out = cli.run("update", "--id", "0" * 32, "--status", "ACTIVE")
    assert out.returncode == 1 and "does not exist" in out.stderr
    out = cli.run("create", "--url", url, "--model", "churn", "--no-secret", "--event",
                  "REGISTERED_MODEL_CREATED")
    assert out.returncode == 1 and "INVALID_PARAMETER_VALUE" in out.stderr, out.stderr
    env = dict(server.env, SG_E2E_REGISTRY_TOKEN="wrong-token-" + os.urandom(4).hex())
    out = cli.run("list", env=env)
    assert out.returncode == 1 and "UNAUTHENTICATED" in out.stderr and "HTTP 401" in out.stderr
    assert env["SG_E2E_REGISTRY_TOKEN"] not in out.stdout + out.stderr
    out = cli.run("list", registry="staging-dbx")  # nothing listens there
    assert out.returncode == 1 and "list webhooks failed" in out.stderr, out.stderr
    assert stored_hooks(double, "databricks") == {}

    # A secret the endpoint behind the URL does not list: created, with a warning.
    out = cli.ok("create", "--url", url, "--model", "churn", "--secret", "env:SG_E2E_MLFLOW")
    assert "warning: endpoint 'databricks' does not list this secret" in out.stdout
    assert "answers these deliveries with 401" in out.stdout
    (hook,) = stored_hooks(double, "databricks").values()
    assert hook["http_url_spec"]["secret"] == MLFLOW_SECRET

    cli.assert_never_printed(TOKEN, DATABRICKS_SECRET, MLFLOW_SECRET, inline)


def test_endpoint_url_comes_from_public_url(stagegate, double_factory, tmp_path):
    double = double_factory("mlflow")
    server, cli = start(stagegate, double, "mlflow")
    config = json.loads(server.config_path.read_text())
    config["public_url"] = "https://stagegate.example.com/"
    path = tmp_path / "public.yaml"
    path.write_text(json.dumps(config))
    out = cli.ok("create", "--endpoint", "mlflow", "--model", "churn", config=path)
    assert "from public_url: in" in out.stdout
    (hook,) = stored_hooks(double, "mlflow").values()
    assert hook["url"] == "https://stagegate.example.com/hooks/mlflow"
    assert hook["secret"] == MLFLOW_SECRET and hook["name"] == "stagegate-churn"
    # --url wins over public_url; MLflow takes a new URL without a new secret.
    hook_id = hook["webhook_id"]
    cli.ok("update", "--id", hook_id, "--url", "https://other.example.com/hooks/mlflow",
           config=path)
    hook = stored_hooks(double, "mlflow")[hook_id]
    assert hook["url"] == "https://other.example.com/hooks/mlflow"
    assert hook["secret"] == MLFLOW_SECRET
    cli.assert_never_printed(TOKEN, MLFLOW_SECRET)


def test_help_names_every_action():
    out = subprocess.run([stagegate_bin(), "registry", "webhooks", "--help"], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 0
    for action in ("list", "create", "update", "delete", "test"):
        assert action in out.stdout
    out = subprocess.run([stagegate_bin(), "--help"], capture_output=True, text=True, timeout=20)
    assert "registry" in out.stdout
