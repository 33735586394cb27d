"""An endpoint with `authorization:` also requires the Authorization header Databricks sends
from a webhook's http_url_spec.authorization (protocols.md §1.4), on top of the signature."""

from conftest import DATABRICKS_SECRET, databricks_body, signed_headers

TOKEN = "Bearer e2e-hook-token-5f1c"


def test_configured_authorization_is_required(stagegate):
    server = stagegate(
        {"dbx": {"scheme": "databricks", "secrets": ["env:SG_E2E_DATABRICKS"],
                 "authorization": "env:SG_E2E_DBX_AUTH"}},
        secrets={"env:SG_E2E_DATABRICKS": DATABRICKS_SECRET, "env:SG_E2E_DBX_AUTH": TOKEN})
    body = databricks_body(model="auth-model")
    signed = signed_headers("databricks", DATABRICKS_SECRET, body)

    missing = server.post("dbx", body, signed)
    assert missing.status == 401, missing
    assert "missing Authorization header" in missing.json()["error"]["message"]

    wrong = server.post("dbx", body, dict(signed, Authorization=TOKEN[:-1] + "x"))
    assert wrong.status == 401, wrong
    assert "Authorization header does not match" in wrong.json()["error"]["message"]
    assert "e2e-hook-token" not in wrong.text
    assert server.count() == 0

    ok = server.post("dbx", body, dict(signed, Authorization=TOKEN))
    assert ok.status == 200, ok
    event = server.event(ok.json()["event_id"])
    assert event["model"]["name"] == "auth-model"
    # Stored redacted, like every credential header.
    assert {"name": "Authorization", "value": "[redacted]"} in event["headers"]

    server.stop()
    assert "e2e-hook-token" not in server.stderr_text()
