#!/usr/bin/python3
"""Trains the churn model and saves it as an MLflow model directory.

    train.py --data CSV [--data CSV ...] --out MODEL_DIR [--shuffle-labels]

Fits a scikit-learn pipeline (one-hot contract and region, gradient-boosted trees) on the
rows of every --data file and writes MODEL_DIR in MLflow's layout: MLmodel (python_function
and sklearn flavors, the input signature, the input example's location, metadata),
model.pkl, input_example.json (split orient), requirements.txt, python_env.yaml and
conda.yaml. MLflow itself is not needed: `mlflow.pyfunc.load_model(MODEL_DIR)` loads the
result where MLflow is installed. --shuffle-labels trains on shuffled labels, a model that
has learnt nothing, to watch the promotion gate reject it.
Needs python3-sklearn, python3-pandas and python3-numpy.
"""
import argparse
import datetime
import json
import pathlib
import pickle
import platform
import sys
import uuid

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

NUMERIC = ["tenure_months", "monthly_charges", "support_calls", "usage_gb"]
CATEGORICAL = ["contract", "region"]
LABEL = "churned"


def signature_json():
    columns = [{"type": "double", "name": c, "required": True} for c in NUMERIC]
    columns += [{"type": "string", "name": c, "required": True} for c in CATEGORICAL]
    return json.dumps(columns), json.dumps([{"type": "long", "required": True}])


def write_model_dir(model, example, out, sources):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "model.pkl", "wb") as f:
        pickle.dump(model, f)
    (out / "input_example.json").write_text(json.dumps(
        {"columns": list(example.columns), "data": example.values.tolist()}))
    versions = {"scikit-learn": sklearn.__version__, "numpy": np.__version__,
                "pandas": pd.__version__}
    (out / "requirements.txt").write_text("".join(f"{k}=={v}\n" for k, v in versions.items()))
    python = platform.python_version()
    (out / "python_env.yaml").write_text(
        f"python: {python}\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n")
    (out / "conda.yaml").write_text(
        "channels:\n- conda-forge\ndependencies:\n"
        f"- python={python}\n- pip\n- pip:\n" + "".join(f"  - {k}=={v}\n" for k, v in versions.items())
        + "name: churn-env\n")
    inputs, outputs = signature_json()
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    (out / "MLmodel").write_text(f"""\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict_proba
    python_version: {python}
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: pickle
    sklearn_version: {sklearn.__version__}
metadata:
  owner: ml-platform
  dataset: {json.dumps(", ".join(sources))}
model_uuid: {uuid.uuid4().hex}
saved_input_example_info:
  artifact_path: input_example.json
  pandas_orient: split
  type: dataframe
signature:
  inputs: '{inputs}'
  outputs: '{outputs}'
  params: null
utc_time_created: '{created}'
""")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True, help="a CSV file to train on")
    ap.add_argument("--out", required=True, help="the model directory to write")
    ap.add_argument("--shuffle-labels", action="store_true")
    args = ap.parse_args()
    frames = []
    for path in args.data:
        if not pathlib.Path(path).is_file():
            sys.exit(f"{path}: no such file; run generate.py first (it writes data/ next to it)")
        frame = pd.read_csv(path)
        missing = [c for c in NUMERIC + CATEGORICAL + [LABEL] if c not in frame.columns]
        if missing:
            sys.exit(f"{path}: no column {', '.join(missing)}; run generate.py for the expected layout")
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    x = data[NUMERIC + CATEGORICAL].astype({c: "float64" for c in NUMERIC})
    y = data[LABEL].to_numpy()
    if args.shuffle_labels:
        y = np.random.default_rng(0).permutation(y)
    model = Pipeline([
        ("encode", ColumnTransformer(
            [("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL)],
            remainder="passthrough")),
        ("trees", HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=0)),
    ])
    model.fit(x, y)
    out = pathlib.Path(args.out).resolve()
    write_model_dir(model, x.head(5), out, [pathlib.Path(p).name for p in args.data])
    print(f"trained on {len(data)} rows from {', '.join(args.data)}; model written to {out}")


if __name__ == "__main__":
    main()
