"""Fault injection for the registry double: failing API calls, latency, dropped and duplicated
webhook deliveries. Set from Python (RegistryDouble.faults) or POST /_double/faults."""

import threading
import time

ERROR_CODES = {429: "REQUEST_LIMIT_EXCEEDED", 500: "INTERNAL_ERROR", 502: "BAD_GATEWAY",
               503: "TEMPORARILY_UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _matches(rule, method, path):
    if rule.get("method") and rule["method"].upper() != method.upper():
        return False
    pattern = rule.get("path")
    if not pattern:
        return True
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self):
        with self._lock:
            self._failures = []  # {path, method, status, remaining|None, until|None, ...}
            self._latencies = []  # {path, method, seconds, remaining|None}
            self._drop = 0
            self._duplicate = 0

    # -- setting faults -----------------------------------------------------------------------

    def fail(self, path=None, status=503, count=1, method=None, error_code=None,
             message=None, retry_after=None):
        """The next `count` API calls to `path` (exact, or a prefix ending in '*'; None = any
        API path) answer `status` with an error body and change nothing."""
        self._add_failure(dict(path=path, method=method, status=int(status),
                               remaining=int(count), until=None, error_code=error_code,
                               message=message, retry_after=retry_after))

    def fail_for(self, seconds, status=503, path=None, method=None, error_code=None,
                 message=None, retry_after=None):
        """Every API call to `path` (None = any) answers `status` for `seconds` from now."""
        self._add_failure(dict(path=path, method=method, status=int(status), remaining=None,
                               until=time.monotonic() + float(seconds), error_code=error_code,
                               message=message, retry_after=retry_after))

    def _add_failure(self, rule):
        if not 400 <= rule["status"] <= 599:
            raise ValueError(f"a failure status must be 4xx or 5xx, not {rule['status']}")
        with self._lock:
            self._failures.append(rule)

    def add_latency(self, seconds, path=None, count=None, method=None):
        """Delays the answer to API calls to `path` (None = any) by `seconds`; for the next
        `count` calls, or until cleared when count is None."""
        with self._lock:
            self._latencies.append(dict(path=path, method=method, seconds=float(seconds),
                                        remaining=None if count is None else int(count)))

    def drop_deliveries(self, count=1):
        """The next `count` webhook deliveries are not sent (the state change still happens)."""
        with self._lock:
            self._drop += int(count)

    def duplicate_deliveries(self, count=1):
        """The next `count` webhook deliveries are sent twice, byte for byte."""
        with self._lock:
            self._duplicate += int(count)

    def apply(self, spec):
        """One fault from the control endpoint's JSON: {"kind": ..., ...}."""
        spec = dict(spec)
        kind = spec.pop("kind", None)
        actions = {"fail": self.fail, "fail_for": self.fail_for, "latency": self.add_latency,
                   "drop_deliveries": self.drop_deliveries,
                   "duplicate_deliveries": self.duplicate_deliveries}
        if kind not in actions:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(actions)}")
        actions[kind](**spec)

    # -- consulting them ----------------------------------------------------------------------

    def for_call(self, method, path):
        """(delay_seconds, failure_rule_or_None) for an API call; consumes counted faults."""
        now = time.monotonic()
        with self._lock:
            self._failures = [f for f in self._failures
                              if f["remaining"] != 0 and (f["until"] is None or f["until"] > now)]
            failure = next((f for f in self._failures if _matches(f, method, path)), None)
            if failure is not None and failure["remaining"] is not None:
                failure["remaining"] -= 1
            delay = 0.0
            for lat in self._latencies:
                if lat["remaining"] != 0 and _matches(lat, method, path):
                    delay += lat["seconds"]
                    if lat["remaining"] is not None:
                        lat["remaining"] -= 1
            self._latencies = [x for x in self._latencies if x["remaining"] != 0]
            return delay, (dict(failure) if failure else None)

    def for_delivery(self):
        """'drop', 'duplicate' or None for the next webhook delivery."""
        with self._lock:
            if self._drop:
                self._drop -= 1
                return "drop"
            if self._duplicate:
                self._duplicate -= 1
                return "duplicate"
            return None

    def describe(self):
        now = time.monotonic()
        with self._lock:
            return {
                "failures": [dict(f, until=None if f["until"] is None
                                  else round(f["until"] - now, 3))
                             for f in self._failures
                             if f["remaining"] != 0 and (f["until"] is None or f["until"] > now)],
                "latencies": [dict(x) for x in self._latencies],
                "drop_deliveries": self._drop, "duplicate_deliveries": self._duplicate}


def failure_body(rule, method, path):
    code = rule.get("error_code") or ERROR_CODES.get(rule["status"], "INTERNAL_ERROR")
    message = rule.get("message") or f"Injected fault: {method} {path} answered {rule['status']}."
    return {"error_code": code, "message": message}
