#!/usr/bin/python3
"""Registers a model directory as a new version of a registered model.

    register.py --model NAME --path MODEL_DIR [--alias ALIAS] [--tag KEY=VALUE ...]

Creates the registered model if needed, then a version whose source is MODEL_DIR; the MLflow
server then announces model_version.created to its webhooks, which starts stagegate's
promotion gate. --alias moves an alias to the new version at once (used once, for the very
first champion). Prints the version and, inside a stagegate task, writes `version=N` to
$STAGEGATE_OUTPUT. The server is $MLFLOW_TRACKING_URI (see registry.py).
"""
import argparse
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import registry  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--path", required=True, help="the MLflow model directory")
    ap.add_argument("--alias")
    ap.add_argument("--tag", action="append", default=[], help="KEY=VALUE")
    args = ap.parse_args()
    path = pathlib.Path(args.path).resolve()
    if not (path / "MLmodel").is_file():
        sys.exit(f"{path}: no MLmodel file; give the directory train.py wrote")
    tags = {}
    for tag in args.tag:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            sys.exit(f"--tag {tag!r}: write KEY=VALUE")
        tags[key] = value
    try:
        registry.create_model(args.model)
        version = registry.create_version(args.model, str(path), "trained by examples/ml-loop", tags)
        if args.alias:
            registry.set_alias(args.model, args.alias, version["version"])
    except registry.RegistryError as e:
        sys.exit(f"registry: {e}")
    alias = f" with alias {args.alias}" if args.alias else ""
    print(f"registered {args.model} version {version['version']}{alias} from {path}")
    if os.environ.get("STAGEGATE_OUTPUT"):
        with open(os.environ["STAGEGATE_OUTPUT"], "a") as f:
            f.write(f"version={version['version']}\n")


if __name__ == "__main__":
    main()
