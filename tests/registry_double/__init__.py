"""Test-only double of the Databricks Workspace Model Registry and MLflow 3.x tracking server
(see server.py for what it serves and where it differs from the real services)."""
