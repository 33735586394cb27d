#!/usr/bin/python3
"""Scores labelled data with the champion and a challenger version, side by side.

    score.py --model NAME --challenger-version V --data CSV --out SCORED_CSV [--alias champion]

Finds the champion through its alias and both versions' model directories through the
registry, loads each model.pkl, and writes SCORED_CSV with the label and both models'
churn probabilities (columns churned, champion, challenger) for `stagegate action compare
--mode evaluate`. Inside a stagegate task it also writes the outputs scored, champion_version,
champion_path and challenger_path to $STAGEGATE_OUTPUT. The server is $MLFLOW_TRACKING_URI.
"""
import argparse
import os
import pathlib
import pickle
import sys

import pandas as pd

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import registry  # noqa: E402
from train import CATEGORICAL, LABEL, NUMERIC  # noqa: E402


def load(path):
    model_file = pathlib.Path(path) / "model.pkl"
    if not model_file.is_file():
        sys.exit(f"{path}: no model.pkl; was this version written by train.py?")
    with open(model_file, "rb") as f:
        return pickle.load(f)  # models of this example only: never unpickle untrusted files


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--challenger-version", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--alias", default="champion")
    args = ap.parse_args()
    if not pathlib.Path(args.data).is_file():
        sys.exit(f"{args.data}: no such file; run generate.py first (it writes data/ next to it)")
    try:
        champion = registry.version_by_alias(args.model, args.alias)
        challenger = registry.get_version(args.model, args.challenger_version)
    except registry.RegistryError as e:
        sys.exit(f"registry: {e}")
    if champion is None:
        sys.exit(f"{args.model} has no {args.alias!r} alias: register a first model with "
                 f"register.py --alias {args.alias}")
    champion_path = registry.local_path(champion["source"])
    challenger_path = registry.local_path(challenger["source"])
    data = pd.read_csv(args.data)
    x = data[NUMERIC + CATEGORICAL].astype({c: "float64" for c in NUMERIC})
    scored = pd.DataFrame({
        LABEL: data[LABEL],
        "champion": load(champion_path).predict_proba(x)[:, 1],
        "challenger": load(challenger_path).predict_proba(x)[:, 1],
    })
    scored.to_csv(args.out, index=False, float_format="%.17g")
    print(f"scored {len(data)} rows of {args.data}: champion version {champion['version']} "
          f"against challenger version {args.challenger_version}")
    if os.environ.get("STAGEGATE_OUTPUT"):
        with open(os.environ["STAGEGATE_OUTPUT"], "a") as f:
            f.write(f"scored={pathlib.Path(args.out).resolve()}\n")
            f.write(f"champion_version={champion['version']}\n")
            f.write(f"champion_path={champion_path}\n")
            f.write(f"challenger_path={challenger_path}\n")


if __name__ == "__main__":
    main()
