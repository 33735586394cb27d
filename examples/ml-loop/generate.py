#!/usr/bin/python3
"""Writes the synthetic churn data of the retraining loop.

    generate.py [--out DIR] [--rows N] [--seed S]

DIR (default: data/ next to this script) gets three CSV files:
  reference.csv  the window the first model was trained on (N rows);
  recent.csv     the last weeks (N/2 rows): customers now pay more, call support more often
                 and sign fewer long contracts (feature drift), and heavy data users have
                 started to leave (concept drift: a model trained on reference.csv misses it);
  holdout.csv    the latest labelled customers (N/2 rows, drawn like recent.csv), kept out of
                 training so the promotion gate compares models on data neither has seen.
Needs only python3-numpy.
"""
import argparse
import csv
import pathlib

import numpy as np

COLUMNS = ["customer_id", "tenure_months", "monthly_charges", "support_calls", "usage_gb",
           "contract", "region", "churned"]
CONTRACTS = ["month-to-month", "one-year", "two-year"]
REGIONS = ["north", "south", "east", "west"]


def customers(rng, rows, first_id, recent):
    tenure = rng.integers(1, 73, rows)
    charges = np.round(rng.normal(78 if recent else 65, 22 if recent else 20, rows).clip(18, 150), 2)
    calls = rng.poisson(2.0 if recent else 1.2, rows)
    usage = np.round(rng.lognormal(3.0, 0.6, rows), 1)
    contract = rng.choice(CONTRACTS, rows, p=[0.65, 0.25, 0.10] if recent else [0.5, 0.3, 0.2])
    region = rng.choice(REGIONS, rows)
    logit = (-1.2 + 0.55 * (calls - 1.2) - 0.045 * (tenure - 24) + 0.02 * (charges - 65)
             + 1.1 * (contract == "month-to-month") - 0.8 * (contract == "two-year"))
    if recent:
        logit += 1.6 * (np.log(usage) - 3.0)  # heavy users now leave for a competitor's offer
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    ids = np.arange(first_id, first_id + rows)
    return zip(ids, tenure, charges, calls, usage, contract, region, churned)


def write(path, rows):
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(COLUMNS)
        out.writerows(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent / "data"))
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.rows < 100:
        ap.error(f"--rows {args.rows}: give at least 100 rows")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    half = args.rows // 2
    write(out / "reference.csv", customers(rng, args.rows, 1, recent=False))
    write(out / "recent.csv", customers(rng, half, args.rows + 1, recent=True))
    write(out / "holdout.csv", customers(rng, half, args.rows + half + 1, recent=True))
    print(f"wrote reference.csv ({args.rows} rows), recent.csv and holdout.csv ({half} rows each) to {out}")


if __name__ == "__main__":
    main()
