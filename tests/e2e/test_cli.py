"""The command line: help, misuse, `send`, config errors and the first-run experience."""

import os
import re
import shlex
import socket
import subprocess

import pytest

from conftest import (ALL_SCHEMES_ENDPOINTS, ALL_SCHEMES_SECRETS, DATABRICKS_SECRET,
                      GITHUB_SECRET, MLFLOW_SECRET, STANDARD_SECRET, read_stdout_until,
                      stagegate_bin)


def run(*args, env=None, cwd=None, timeout=20):
    return subprocess.run([stagegate_bin(), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["send", "--help"],
                                  ["version"]], ids=" ".join)
def test_help_and_version_exit_0(args):
    out = run(*args)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    if args == ["version"]:
        assert re.match(r"^stagegate \S+\n$", out.stdout), out.stdout
    if args == ["send", "--help"]:
        for flag in ("--url", "--scheme", "--secret", "--type"):
            assert flag in out.stdout
    if args == ["serve", "--help"]:
        assert "--config" in out.stdout


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["serve", "--no-such-flag"],
    ["send", "--scheme", "mlflow", "--secret", "x"],  # no --url
    ["send", "--url", "http://127.0.0.1:9/hooks/x", "--scheme", "nope", "--secret", "x"],
    ["serve", "--log-level", "loud"],
    [],
], ids=lambda a: " ".join(a) or "(nothing)")
def test_misuse_is_one_line_and_nonzero(args):
    out = run(*args)
    assert out.returncode != 0
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), out.stderr
    assert out.stdout == ""


SEND_CASES = [
    # endpoint, scheme, secret env var, extra args, expected type, expected model, to_stage
    ("databricks", "databricks", "SG_E2E_DATABRICKS",
     ["--type", "TRANSITION_REQUEST_CREATED", "--model", "cli-dbx", "--version", "12",
      "--to-stage", "Production"], "transition_request.created", "cli-dbx", "Production"),
    ("mlflow", "mlflow", "SG_E2E_MLFLOW",
     ["--type", "model_version_alias.created", "--model", "cli-mlflow", "--alias", "champion"],
     "model_version_alias.created", "cli-mlflow", None),
    ("standard", "standard", "SG_E2E_STANDARD",
     ["--type", "model_version.stage_transitioned", "--model", "cli-std", "--to-stage",
      "Staging"], "model_version.stage_transitioned", "cli-std", "Staging"),
    ("github", "github", "SG_E2E_GITHUB", [], "push", None, None),
    ("open", "none", None, ["--type", "comment.created", "--model", "cli-none", "--text", "hi"],
     "comment.created", "cli-none", None),
]


@pytest.fixture(scope="module")
def server(stagegate_module):
    endpoints = dict(ALL_SCHEMES_ENDPOINTS)
    endpoints["open"] = {"scheme": "none"}
    return stagegate_module(endpoints, secrets=ALL_SCHEMES_SECRETS)


@pytest.mark.parametrize("endpoint,scheme,var,extra,type_,model,to_stage", SEND_CASES,
                         ids=[c[1] for c in SEND_CASES])
def test_send_against_a_running_server(server, endpoint, scheme, var, extra, type_, model,
                                       to_stage):
    env = dict(os.environ)
    env.update({"SG_E2E_DATABRICKS": DATABRICKS_SECRET, "SG_E2E_MLFLOW": MLFLOW_SECRET,
                "SG_E2E_STANDARD": STANDARD_SECRET, "SG_E2E_GITHUB": GITHUB_SECRET})
    before = server.count(endpoint=endpoint)
    args = ["send", "--url", f"http://127.0.0.1:{server.port}/hooks/{endpoint}",
            "--scheme", scheme, *extra]
    if var:
        args += ["--secret", f"env:{var}"]
    out = run(*args, env=env)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert out.stdout.startswith("HTTP 200"), out.stdout
    events = server.all_events(endpoint=endpoint)
    assert len(events) == before + 1
    ev = events[0]
    assert ev["type"] == type_
    assert ev["source"] == scheme
    if model:
        assert ev["model"]["name"] == model
    if to_stage:
        assert ev["to_stage"] == to_stage
    # The secret never shows up in what send prints.
    for secret in (DATABRICKS_SECRET, MLFLOW_SECRET, STANDARD_SECRET, GITHUB_SECRET):
        assert secret not in out.stdout + out.stderr


def test_send_with_the_wrong_secret_fails(server):
    env = dict(os.environ, SG_E2E_WRONG="not-the-secret")
    out = run("send", "--url", f"http://127.0.0.1:{server.port}/hooks/mlflow",
              "--scheme", "mlflow", "--secret", "env:SG_E2E_WRONG", env=env)
    assert out.returncode != 0
    assert "401" in out.stdout + out.stderr


INVALID_CONFIGS = [
    # (text, line, column, words the message must contain)
    ("listen: 127.0.0.1:0\nstore: sqlite:x.db\nendpoints:\n  mlflow:\n    scheme: mlflow\n"
     "    secrets: [env:SG_E2E_MLFLOW]\n    tolerence: 5m\n", 7, 5, ["tolerence", "tolerance"]),
    ("listen: 127.0.0.1:0\nendpoints:\n  mlflow:\n    scheme: mlflwo\n"
     "    secrets: [env:SG_E2E_MLFLOW]\n", 4, 13, ["mlflwo", "mlflow"]),
    ("listen: 127.0.0.1:0\nendpoints:\n  mlflow:\n    scheme: mlflow\n"
     "    secrets: [s3cr3t-inline]\n", 5, 15, ["env:"]),
    ("listen: 127.0.0.1:0\nendpoints:\n  mlflow: {scheme: mlflow, secrets: [env:SG_E2E_UNSET]\n",
     None, None, ["YAML"]),
    ("listen: 127.0.0.1:0\nlimits:\n  max_body: lots\nendpoints:\n"
     "  mlflow: {scheme: mlflow, secrets: [env:SG_E2E_MLFLOW]}\n", 3, 13, ["max_body"]),
]


@pytest.mark.parametrize("text,line,column,words", INVALID_CONFIGS,
                         ids=["unknown-key", "bad-scheme", "inline-secret", "yaml-syntax",
                              "bad-size"])
def test_invalid_config_exits_1_with_file_line_column(tmp_path, text, line, column, words):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    env = dict(os.environ, SG_E2E_MLFLOW="x")
    out = run("serve", "--config", str(config), env=env, cwd=tmp_path, timeout=10)
    assert out.returncode == 1, (out.stdout, out.stderr)
    m = re.search(re.escape(str(config)) + r":(\d+):(\d+): ", out.stderr)
    assert m, out.stderr
    if line is not None:
        assert (int(m.group(1)), int(m.group(2))) == (line, column), out.stderr
    for w in words:
        assert w in out.stderr, out.stderr
    assert "listening" not in out.stdout
    assert not (tmp_path / "x.db").exists()


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_serve_without_config_explains_the_first_event(tmp_path):
    if not port_free(8080):
        pytest.skip("127.0.0.1:8080 is taken; the embedded default listens there")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEGATE_")}
    proc = subprocess.Popen([stagegate_bin(), "serve", "--state-dir", "state"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        lines = read_stdout_until(proc, lambda line: line.strip().startswith("curl "))
        text = "\n".join(lines)
        assert "listening on http://127.0.0.1:8080 (config: embedded default)" in text, text
        assert "send a first event" in text, text
        # The printed command starts with the program as it was invoked, so it can be pasted.
        m = re.search(r"^\s+(\S*stagegate send .*)$", text, re.M)
        assert m, text
        send_cmd = shlex.split(m.group(1))
        assert "--url" in send_cmd and "--secret" in send_cmd
        secret_ref = send_cmd[send_cmd.index("--secret") + 1]
        assert secret_ref.startswith(("file:", "env:")), secret_ref  # a reference, not a value
        assert "/api/v1/events" in text
        for scheme in ("databricks", "mlflow", "standard", "github"):
            assert f"/hooks/{scheme}" in text
        # The generated secrets live in the state dir, readable only by the owner.
        secrets_dir = tmp_path / "state" / "secrets"
        assert secrets_dir.is_dir()
        for f in secrets_dir.iterdir():
            assert f.stat().st_mode & 0o077 == 0
            assert f.read_text().strip() not in text
        # Following the printed instruction works.
        assert send_cmd[0] == stagegate_bin()
        out = subprocess.run(send_cmd, cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, (out.stdout, out.stderr)
        assert out.stdout.startswith("HTTP 200")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode == 0, proc.stderr.read()
    assert (tmp_path / "state" / "stagegate.db").exists()


@pytest.mark.parametrize("store", [
    "store: sqlite:data/a.db",
    "store: {url: 'sqlite:data/a.db'}",
    "store:\n  url: sqlite:data/a.db\n  busy_timeout: 250ms",
], ids=["scalar", "mapping-url", "mapping-busy_timeout"])
def test_store_config_forms_are_accepted(tmp_path, store):
    """config_loader accepts `store: sqlite:PATH` and `store: {url, busy_timeout}`."""
    config = tmp_path / "stagegate.yaml"
    config.write_text("listen: 127.0.0.1:0\n" + store + "\nendpoints:\n  open: {scheme: none}\n")
    proc = subprocess.Popen([stagegate_bin(), "serve", "--config", str(config)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        first = "".join(read_stdout_until(proc, lambda line: True))
        if not first:
            proc.wait(timeout=5)
        assert "listening on http://127.0.0.1:" in first, (first, proc.returncode,
                                                          "" if first else proc.stderr.read())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    assert (tmp_path / "data" / "a.db").exists()


PIPELINES = os.path.join(os.path.dirname(__file__), "..", "data", "pipelines")


def test_validate_accepts_valid_pipelines():
    valid = sorted(os.listdir(os.path.join(PIPELINES, "valid")))
    out = subprocess.run([stagegate_bin(), "validate", *valid], cwd=os.path.join(PIPELINES, "valid"),
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    for name in valid:
        assert re.search(rf"^{re.escape(name)}: ok: pipeline \S+, \d+ tasks?, revision [0-9a-f]{{12}}$",
                         out.stdout, re.M), out.stdout


def test_validate_reports_every_invalid_file_with_positions():
    folder = os.path.join(PIPELINES, "invalid")
    names = sorted(n for n in os.listdir(folder) if n.endswith(".yaml"))
    out = subprocess.run([stagegate_bin(), "validate", *names], cwd=folder,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    expected = "".join(open(os.path.join(folder, n[:-5] + ".expected")).read() for n in names)
    assert out.stderr == expected + f"{len(names)} of {len(names)} files invalid\n"
    assert out.stdout == ""


def test_validate_mixed_files_exit_1_and_name_the_good_one():
    valid = os.path.join(PIPELINES, "valid", "production_gate.yaml")
    invalid = os.path.join(PIPELINES, "invalid", "needs_cycle.yaml")
    out = subprocess.run([stagegate_bin(), "validate", valid, invalid], capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 1
    assert "production_gate.yaml: ok" in out.stdout
    assert "needs: form a cycle: a -> c -> b -> a" in out.stderr
    assert out.stderr.endswith("1 of 2 files invalid\n")
