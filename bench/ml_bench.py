#!/usr/bin/python3
"""The ML actions against a straightforward scipy/pandas script doing the same work, in one run.

    bench/ml_bench.py STAGEGATE_BIN [--ks-rows 10000000] [--rows 1000000]
        [--boot-rows 200000] [--resamples 200] [--repeat 3] [--dir DIR]

1. KS on two samples of --ks-rows doubles, each in a one-column CSV:
   `stagegate action drift` (reads both files, sorts, KS with scipy's p-value) against
   pandas.read_csv + scipy.stats.ks_2samp.
2. A full drift report on --rows rows x 50 columns (40 numeric, 10 categorical), reference
   and current: `stagegate action drift --json --html` against a script that computes the same
   tests per column with pandas and scipy (KS, Wasserstein, decile bins with Jensen-Shannon
   and PSI for numeric columns; chi-square, Jensen-Shannon and PSI for categorical ones).
3. A paired bootstrap of the ROC AUC difference of two models on --boot-rows labelled rows,
   --resamples resamples: `stagegate action compare --mode evaluate` against numpy drawing the
   indices and sklearn.metrics.roc_auc_score on each resample (what a script would do).
Each side runs --repeat times, alternating with the other, and shows its median run; each run
is under /usr/bin/time -v for wall time and peak memory. Both read the same files
from the page cache (a first read warms it). Debian's /usr/bin/python3 with python3-pandas and
python3-scipy.
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pandas as pd

SCIPY_KS = textwrap.dedent("""\
    import sys
    import pandas as pd
    from scipy import stats
    a = pd.read_csv(sys.argv[1])["x"].to_numpy()
    b = pd.read_csv(sys.argv[2])["x"].to_numpy()
    r = stats.ks_2samp(a, b)
    print(r.statistic, r.pvalue)
    """)

SCIPY_DRIFT = textwrap.dedent("""\
    import json, sys
    import numpy as np
    import pandas as pd
    from scipy import stats
    from scipy.spatial import distance
    ref = pd.read_csv(sys.argv[1])
    cur = pd.read_csv(sys.argv[2])
    out = {}
    for col in ref.columns:
        a, b = ref[col].dropna(), cur[col].dropna()
        if pd.api.types.is_numeric_dtype(a):
            a, b = np.sort(a.to_numpy()), np.sort(b.to_numpy())
            ks = stats.ks_2samp(a, b)
            w = stats.wasserstein_distance(a, b)
            edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)))[1:-1]
            pa = np.bincount(np.searchsorted(edges, a, side="right"), minlength=len(edges) + 1) / len(a)
            pb = np.bincount(np.searchsorted(edges, b, side="right"), minlength=len(edges) + 1) / len(b)
            js = distance.jensenshannon(pa, pb)
            ea, eb = np.maximum(pa, 1e-4), np.maximum(pb, 1e-4)
            psi = float(np.sum((eb - ea) * np.log(eb / ea)))
            out[col] = [ks.statistic, ks.pvalue, w, js, psi, a.mean(), a.std(ddof=1)]
        else:
            ca, cb = a.value_counts(), b.value_counts()
            cats = sorted(set(ca.index) | set(cb.index))
            table = np.array([[ca.get(c, 0) for c in cats], [cb.get(c, 0) for c in cats]])
            chi2 = stats.chi2_contingency(table)
            js = distance.jensenshannon(table[0], table[1])
            pa, pb = table[0] / table[0].sum(), table[1] / table[1].sum()
            ea, eb = np.maximum(pa, 1e-4), np.maximum(pb, 1e-4)
            out[col] = [chi2[0], chi2[1], js, float(np.sum((eb - ea) * np.log(eb / ea)))]
    json.dump(out, open(sys.argv[3], "w"))
    """)


SKLEARN_BOOTSTRAP = textwrap.dedent("""\
    import sys
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score
    d = pd.read_csv(sys.argv[1])
    y, a, b = d["y"].to_numpy(), d["a"].to_numpy(), d["b"].to_numpy()
    rng = np.random.default_rng(20240917)
    n = len(y)
    diffs = []
    for _ in range(int(sys.argv[2])):
        i = rng.integers(0, n, n)
        diffs.append(roc_auc_score(y[i], b[i]) - roc_auc_score(y[i], a[i]))
    print(roc_auc_score(y, b) - roc_auc_score(y, a), np.percentile(diffs, [2.5, 97.5]))
    """)


def timed(cmd):
    """(seconds, peak MiB, stdout) of a command under GNU time."""
    r = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    seconds = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    return seconds, rss / 1024, r.stdout


def write_frames(work, rows, seed=11):
    rng = np.random.default_rng(seed)

    def frame(shift):
        data = {}
        for i in range(40):
            data[f"n{i}"] = np.round(rng.normal(shift * (i % 3) * 0.1, 1 + (i % 5), rows), 6)
        for i in range(10):
            k = 5 + i * 3
            p = np.linspace(1, 2 + shift, k)
            data[f"c{i}"] = rng.choice([f"v{j}" for j in range(k)], rows, p=p / p.sum())
        return pd.DataFrame(data)

    frame(0).to_csv(work / "ref.csv", index=False)
    frame(1).to_csv(work / "cur.csv", index=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--ks-rows", type=int, default=10_000_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--boot-rows", type=int, default=200_000)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side; the median is shown")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    work = pathlib.Path(tempfile.mkdtemp(prefix="sg-mlbench-", dir=args.dir))
    try:
        rng = np.random.default_rng(5)
        pd.DataFrame({"x": rng.normal(0, 1, args.ks_rows)}).to_csv(work / "ks_a.csv", index=False)
        pd.DataFrame({"x": rng.normal(0.001, 1, args.ks_rows)}).to_csv(work / "ks_b.csv", index=False)
        write_frames(work, args.rows)
        y = rng.integers(0, 2, args.boot_rows)
        pd.DataFrame({"y": y, "a": np.clip(0.30 * y + rng.normal(0.35, 0.25, args.boot_rows), 0, 1),
                      "b": np.clip(0.35 * y + rng.normal(0.33, 0.25, args.boot_rows), 0, 1)}
                     ).to_csv(work / "scored.csv", index=False)
        (work / "boot.py").write_text(SKLEARN_BOOTSTRAP)
        (work / "ks.py").write_text(SCIPY_KS)
        (work / "drift.py").write_text(SCIPY_DRIFT)
        for f in work.glob("*.csv"):  # warm the page cache for both sides
            f.read_bytes()

        cases = [
            (f"KS, 2 x {args.ks_rows:,} doubles (CSV in)",
             [binary, "action", "drift", "--reference", str(work / "ks_a.csv"),
              "--current", str(work / "ks_b.csv"), "--json", str(work / "ks.json")],
             ["/usr/bin/python3", str(work / "ks.py"), str(work / "ks_a.csv"), str(work / "ks_b.csv")]),
            (f"drift report, 2 x {args.rows:,} rows x 50 columns",
             [binary, "action", "drift", "--reference", str(work / "ref.csv"), "--current",
              str(work / "cur.csv"), "--json", str(work / "d.json"), "--html", str(work / "d.html")],
             ["/usr/bin/python3", str(work / "drift.py"), str(work / "ref.csv"), str(work / "cur.csv"),
              str(work / "s.json")]),
            (f"ROC AUC bootstrap, {args.boot_rows:,} rows x {args.resamples}",
             [binary, "action", "compare", "--mode", "evaluate", "--data", str(work / "scored.csv"),
              "--label", "y", "--champion", "a", "--challenger", "b", "--task", "classification",
              "--metric", "roc_auc", "--resamples", str(args.resamples), "--json", str(work / "c.json")],
             ["/usr/bin/python3", str(work / "boot.py"), str(work / "scored.csv"), str(args.resamples)]),
        ]
        rows = []
        for name, ours_cmd, theirs_cmd in cases:
            # The two sides alternate, so that a noisy minute on this shared machine hits both;
            # each side's median run is reported.
            ours, theirs = [], []
            for _ in range(args.repeat):
                ours.append(timed(ours_cmd))
                theirs.append(timed(theirs_cmd))
            median = lambda runs: sorted(runs, key=lambda r: r[0])[len(runs) // 2]  # noqa: E731
            rows.append((name, median(ours), median(theirs)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{'work':<46} {'stagegate s':>11} {'MiB':>7} {'python s':>9} {'MiB':>7} {'speed-up':>9}")
    for name, (s, m, _), (t, n, _) in rows:
        print(f"{name:<46} {s:11.2f} {m:7.0f} {t:9.2f} {n:7.0f} {t / s:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
