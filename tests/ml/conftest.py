"""Shared helpers for the ml exactness suites.

Each suite compares a C++ probe (a small executable that answers one JSON request per line)
with the Python reference (scipy, scikit-learn, numpy from Debian 12). The probe's path comes
from an environment variable set by tests/ml/CMakeLists.txt; run the suites with Debian's
/usr/bin/python3, which has those packages.
"""

import json
import math
import os
import subprocess

import pytest


class Probe:
    """A running probe executable, spoken to line by line (one JSON request, one answer)."""

    def __init__(self, env_var):
        path = os.environ.get(env_var)
        if not path:
            pytest.skip(f"{env_var} is not set: point it at the built probe executable")
        if not os.access(path, os.X_OK):
            pytest.fail(f"{env_var}={path} is not an executable file: build the probe first")
        self.env_var = env_var
        self._proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, bufsize=1)

    def call(self, fn, **kwargs):
        """Sends {"fn": fn, **kwargs} and returns the decoded answer (a dict).

        Numbers written as "nan", "inf" or "-inf" come back as floats.
        """
        request = {"fn": fn, **{k: to_jsonable(v) for k, v in kwargs.items()}}
        self._proc.stdin.write(json.dumps(request, allow_nan=False) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"probe {self.env_var} exited (code {self._proc.poll()})")
        return decode_nonfinite(json.loads(line))

    def close(self):
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def to_jsonable(value):
    """numpy arrays and scalars to plain lists / numbers; NaN and infinities to the strings
    "nan", "inf", "-inf", which the probes read back as doubles."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode_nonfinite(value):
    if isinstance(value, dict):
        return {k: decode_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_nonfinite(v) for v in value]
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    return value


def close_enough(actual, expected, rel=1e-9, abs_tol=1e-12):
    """math.isclose with explicit non-finite rules: NaN equals only NaN, inf only the same inf."""
    actual = float(actual)
    expected = float(expected)
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return actual == expected
    return math.isclose(actual, expected, rel_tol=rel, abs_tol=abs_tol)


def assert_close(actual, expected, what, rel=1e-9, abs_tol=1e-12):
    assert close_enough(actual, expected, rel, abs_tol), (
        f"{what}: probe gave {actual!r}, reference {expected!r}")


def probe_fixture(env_var):
    """Builds a module-scoped fixture that starts the probe named by `env_var` once."""

    @pytest.fixture(scope="module")
    def _probe():
        probe = Probe(env_var)
        yield probe
        probe.close()

    return _probe


stats_probe = probe_fixture("SG_ML_STATS_PROBE")
metrics_probe = probe_fixture("SG_ML_METRICS_PROBE")


def stagegate_bin():
    """The built stagegate binary (STAGEGATE_BIN, set by tests/ml/CMakeLists.txt)."""
    path = os.environ.get("STAGEGATE_BIN")
    if not path:
        pytest.skip("STAGEGATE_BIN is not set: point it at the built stagegate binary")
    return path
