"""The few MLflow REST calls the loop's scripts make (MLflow 3.x tracking server API 2.0).

The server is $MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:5000); $MLFLOW_TRACKING_TOKEN, when
set, is sent as a bearer token. Standard library only.
"""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

API = "/api/2.0/mlflow"


class RegistryError(Exception):
    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


def tracking_uri():
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").rstrip("/")
    if not uri.startswith(("http://", "https://")):
        sys.exit("set MLFLOW_TRACKING_URI to the MLflow server, e.g. http://127.0.0.1:5000")
    return uri


def call(method, path, body=None, query=None):
    url = tracking_uri() + API + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        request.add_header("Authorization", "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"])
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as e:
        try:
            error = json.loads(e.read().decode())
        except ValueError:
            error = {}
        raise RegistryError(e.code, error.get("error_code", "?"), error.get("message", e.reason)) from None
    except urllib.error.URLError as e:
        sys.exit(f"cannot reach the MLflow server at {tracking_uri()} ({e.reason}): start it, or set "
                 "MLFLOW_TRACKING_URI (in the pipelines' env:) to where it runs")
    return json.loads(text) if text else {}


def create_model(name):
    """Creates the registered model unless it exists."""
    try:
        call("POST", "/registered-models/create", {"name": name})
    except RegistryError as e:
        if e.code != "RESOURCE_ALREADY_EXISTS":
            raise


def create_version(name, source, description="", tags=None):
    body = {"name": name, "source": source, "description": description,
            "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()]}
    return call("POST", "/model-versions/create", body)["model_version"]


def set_alias(name, alias, version):
    call("POST", "/registered-models/alias", {"name": name, "alias": alias, "version": str(version)})


def version_by_alias(name, alias):
    """The model version the alias points at, or None when the model has no such alias."""
    try:
        return call("GET", "/registered-models/alias", query={"name": name, "alias": alias})["model_version"]
    except RegistryError as e:
        if e.code == "RESOURCE_DOES_NOT_EXIST" or e.status == 404:
            return None
        raise


def get_version(name, version):
    return call("GET", "/model-versions/get", query={"name": name, "version": str(version)})["model_version"]


def local_path(source):
    """A model version's source as a local directory (file:// or a plain path)."""
    if source.startswith("file://"):
        return urllib.parse.urlparse(source).path
    if "://" in source:
        sys.exit(f"source {source}: this example loads models from local paths only")
    return source
