"""In-memory model registry and tracking state shared by both dialects of the double.

Everything is guarded by one re-entrant lock. Every state change that the real services turn
into a webhook calls `emit(kind, **fields)` with a dialect-neutral event; webhooks.py turns it
into Databricks and MLflow deliveries. Objects are returned as JSON-ready dicts shaped like the
REST responses (protocols.md §2.1, §2.2, §2.3), with unset and empty fields left out the way a
proto3 JSON encoder leaves them out.
"""

import re
import threading
import time
import uuid

STAGES = ("None", "Staging", "Production", "Archived")


class ApiError(Exception):
    """An error answered in the shared Databricks/MLflow shape {"error_code", "message"}."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self):
        return {"error_code": self.code, "message": self.message}


def not_found(message):
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def invalid(message):
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def now_ms():
    return int(time.time() * 1000)


def required(params, name):
    value = params.get(name)
    if value is None or value == "":
        raise invalid(f"Missing value for required parameter '{name}'.")
    return value


def canonical_stage(stage):
    """Stages are matched case-insensitively, as MLflow does; unknown ones are refused."""
    for s in STAGES:
        if str(stage).lower() == s.lower():
            return s
    raise invalid(f"Invalid Model Version stage: {stage}. "
                  f"Value must be one of {', '.join(STAGES)}.")


def as_bool(params, name, required_=False):
    value = params.get(name)
    if value is None:
        if required_:
            raise invalid(f"Missing value for required parameter '{name}'.")
        return False
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise invalid(f"Invalid value {value!r} for parameter '{name}': expected a boolean.")


def tag_list(tags):
    """[{key, value}] from a dict or a list of {key, value}."""
    if not tags:
        return []
    if isinstance(tags, dict):
        return [{"key": str(k), "value": str(v)} for k, v in tags.items()]
    return [{"key": t["key"], "value": t.get("value", "")} for t in tags]


def compact(d):
    """Drops None values and empty lists/dicts (proto3 JSON leaves unset fields out)."""
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


class Registry:
    def __init__(self, emit=lambda kind, **fields: None, user="stagegate@example.com"):
        self.lock = threading.RLock()
        self.emit = emit
        self.user = user
        self.reset()

    def reset(self):
        with self.lock:
            self.models = {}  # name -> dict
            self.versions = {}  # (name, "n") -> dict
            self.open_requests = {}  # (name, "n") -> [Activity]
            self.activities = {}  # (name, "n") -> [Activity] (full history)
            self.comments = {}  # (name, "n") -> [CommentObject]
            self.runs = {}  # run_id -> {"info", "params", "tags", "metrics": [history]}
            self._next_id = 1

    def _new_id(self):
        self._next_id += 1
        return str(self._next_id - 1)

    # -- registered models --------------------------------------------------------------------

    def create_model(self, name, tags=None, description=None, user=None):
        with self.lock:
            if name in self.models:
                raise ApiError(400, "RESOURCE_ALREADY_EXISTS",
                               f"Registered Model (name={name}) already exists.")
            t = now_ms()
            self.models[name] = {"name": name, "creation_timestamp": t,
                                 "last_updated_timestamp": t, "user_id": user or self.user,
                                 "description": description, "tags": tag_list(tags),
                                 "aliases": {}}
            self.emit("registered_model_created", name=name,
                      tags={x["key"]: x["value"] for x in tag_list(tags)},
                      description=description)
            return self.model_json(name)

    def _model(self, name):
        if not name:
            raise invalid("Missing value for required parameter 'name'.")
        m = self.models.get(name)
        if m is None:
            raise not_found(f"Registered Model with name={name} not found")
        return m

    def latest_versions(self, name, stages=None):
        with self.lock:
            self._model(name)
            wanted = [canonical_stage(s) for s in stages] if stages else list(STAGES)
            out = []
            for stage in wanted:
                in_stage = [v for (n, _), v in self.versions.items()
                            if n == name and v["current_stage"] == stage]
                if in_stage:
                    latest = max(in_stage, key=lambda v: int(v["version"]))
                    out.append(self.version_json(name, latest["version"]))
            return out

    def model_json(self, name):
        with self.lock:
            m = self._model(name)
            return compact({
                "name": m["name"], "creation_timestamp": m["creation_timestamp"],
                "last_updated_timestamp": m["last_updated_timestamp"], "user_id": m["user_id"],
                "description": m["description"], "latest_versions": self.latest_versions(name),
                "tags": list(m["tags"]),
                "aliases": [{"alias": a, "version": v} for a, v in sorted(m["aliases"].items())],
            })

    # -- model versions -----------------------------------------------------------------------

    def create_version(self, name, source, run_id=None, tags=None, description=None,
                       run_link=None, user=None):
        with self.lock:
            self._model(name)
            if not source:
                raise invalid("Missing value for required parameter 'source'.")
            numbers = [int(v) for (n, v) in self.versions if n == name]
            version = str(max(numbers, default=0) + 1)
            t = now_ms()
            self.versions[(name, version)] = {
                "name": name, "version": version, "creation_timestamp": t,
                "last_updated_timestamp": t, "user_id": user or self.user,
                "current_stage": "None", "description": description, "source": source,
                "run_id": run_id, "run_link": run_link, "status": "READY",
                "tags": tag_list(tags)}
            self.models[name]["last_updated_timestamp"] = t
            self.emit("model_version_created", name=name, version=version, source=source,
                      run_id=run_id, tags={x["key"]: x["value"] for x in tag_list(tags)},
                      description=description)
            return self.version_json(name, version)

    def _version(self, name, version):
        if not name:
            raise invalid("Missing value for required parameter 'name'.")
        if version is None or version == "":
            raise invalid("Missing value for required parameter 'version'.")
        self._model(name)
        v = self.versions.get((name, str(version)))
        if v is None:
            raise not_found(f"Model Version (name={name}, version={version}) not found")
        return v

    def version_json(self, name, version, databricks=False):
        with self.lock:
            v = self._version(name, version)
            aliases = sorted(a for a, n in self.models[name]["aliases"].items()
                             if n == v["version"])
            out = dict(v, tags=list(v["tags"]), aliases=aliases)
            if databricks:
                out["open_requests"] = list(self.open_requests.get((name, v["version"]), []))
                out["permission_level"] = "CAN_MANAGE"
            return compact(out)

    def update_version(self, name, version, description):
        with self.lock:
            v = self._version(name, version)
            v["description"] = description
            v["last_updated_timestamp"] = now_ms()
            return self.version_json(name, version)

    def search_versions(self, filter_="", order_by=None):
        with self.lock:
            preds = parse_filter(filter_ or "")
            rows = [self.version_json(n, v) for (n, v) in self.versions
                    if all(p(self.versions[(n, v)]) for p in preds)]
        keys = order_by or ["name ASC", "version_number DESC"]
        for spec in reversed(keys):
            field, _, direction = spec.strip().partition(" ")
            attr = {"version_number": lambda r: int(r["version"]), "name": lambda r: r["name"],
                    "creation_timestamp": lambda r: r["creation_timestamp"],
                    "last_updated_timestamp": lambda r: r["last_updated_timestamp"]}.get(field)
            if attr is None:
                raise invalid(f"Invalid order_by clause '{spec}'.")
            rows.sort(key=attr, reverse=direction.strip().upper() == "DESC")
        return rows

    def set_version_tag(self, name, version, key, value, user=None):
        with self.lock:
            v = self._version(name, version)
            if not key:
                raise invalid("Missing value for required parameter 'key'.")
            value = "" if value is None else str(value)
            v["tags"] = [t for t in v["tags"] if t["key"] != key] + [{"key": key,
                                                                       "value": value}]
            self.emit("version_tag_set", name=name, version=v["version"], key=key, value=value,
                      user=user or self.user)

    def delete_version_tag(self, name, version, key):
        # Deleting a tag that is not there is not an error (MLflow's SQL store ignores it).
        with self.lock:
            v = self._version(name, version)
            if not key:
                raise invalid("Missing value for required parameter 'key'.")
            v["tags"] = [t for t in v["tags"] if t["key"] != key]
            self.emit("version_tag_deleted", name=name, version=v["version"], key=key)

    # -- aliases (MLflow) ---------------------------------------------------------------------

    def set_alias(self, name, alias, version):
        with self.lock:
            if not alias:
                raise invalid("Missing value for required parameter 'alias'.")
            if alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
                raise invalid(f"'{alias}' alias name (case insensitive) is reserved.")
            v = self._version(name, version)
            self.models[name]["aliases"][alias] = v["version"]
            self.emit("alias_created", name=name, alias=alias, version=v["version"])

    def delete_alias(self, name, alias):
        with self.lock:
            m = self._model(name)
            if not alias:
                raise invalid("Missing value for required parameter 'alias'.")
            m["aliases"].pop(alias, None)
            self.emit("alias_deleted", name=name, alias=alias)

    def version_by_alias(self, name, alias):
        with self.lock:
            m = self._model(name)
            if alias not in m["aliases"]:
                raise not_found(f"Registered model alias {alias} not found.")
            return self.version_json(name, m["aliases"][alias])

    # -- stages and transition requests (Databricks) ------------------------------------------

    def _activity(self, key, activity_type, from_stage, to_stage, comment=None, user=None,
                  system_comment=None):
        t = now_ms()
        a = compact({"id": self._new_id(), "activity_type": activity_type,
                     "from_stage": from_stage, "to_stage": to_stage, "comment": comment,
                     "system_comment": system_comment, "user_id": user or self.user,
                     "creation_timestamp": t, "last_updated_timestamp": t})
        self.activities.setdefault(key, []).append(a)
        return a

    def _move(self, v, stage, user, activity_type, comment=None, system_comment=None):
        from_stage = v["current_stage"]
        v["current_stage"] = stage
        v["last_updated_timestamp"] = now_ms()
        self._activity((v["name"], v["version"]), activity_type, from_stage, stage, comment,
                       user, system_comment)
        self.emit("stage_transitioned", name=v["name"], version=v["version"],
                  from_stage=from_stage, to_stage=stage, user=user or self.user)
        return from_stage

    def _archive_others(self, v, stage, user):
        if stage not in ("Staging", "Production"):
            return
        for (n, _), other in sorted(self.versions.items(), key=lambda kv: int(kv[0][1])):
            if n == v["name"] and other is not v and other["current_stage"] == stage:
                self._move(other, "Archived", user, "SYSTEM_TRANSITION",
                           system_comment=f"Archived because version {v['version']} "
                                          f"was transitioned to {stage}.")

    def transition_stage(self, name, version, stage, archive_existing_versions, comment=None,
                         user=None):
        with self.lock:
            v = self._version(name, version)
            stage = canonical_stage(stage)
            self._move(v, stage, user, "APPLIED_TRANSITION", comment)
            if archive_existing_versions:
                self._archive_others(v, stage, user)
            return self.version_json(name, version)

    def create_transition_request(self, name, version, stage, comment=None, user=None):
        with self.lock:
            v = self._version(name, version)
            stage = canonical_stage(stage)
            key = (name, v["version"])
            a = self._activity(key, "REQUESTED_TRANSITION", v["current_stage"], stage, comment,
                               user)
            self.open_requests.setdefault(key, []).append(a)
            self.emit("transition_requested", name=name, version=v["version"],
                      from_stage=v["current_stage"], to_stage=stage, user=user or self.user)
            return compact({"available_actions": ["APPROVE_TRANSITION_REQUEST",
                                                   "REJECT_TRANSITION_REQUEST",
                                                   "CANCEL_TRANSITION_REQUEST"],
                            "comment": comment, "creation_timestamp": a["creation_timestamp"],
                            "to_stage": stage, "user_id": a["user_id"]})

    def list_transition_requests(self, name, version):
        with self.lock:
            v = self._version(name, version)
            return list(self.open_requests.get((name, v["version"]), []))

    def _close_requests(self, name, version, stage, creator=None):
        v = self._version(name, version)
        stage = canonical_stage(stage)
        key = (name, v["version"])
        open_ = self.open_requests.get(key, [])
        closing = [a for a in open_ if a["to_stage"] == stage
                   and (creator is None or a["user_id"] == creator)]
        if not closing:
            raise not_found(f"Transition request to {stage} for registered model '{name}' "
                            f"version {v['version']} does not exist.")
        self.open_requests[key] = [a for a in open_ if a not in closing]
        return v, stage

    def approve_transition_request(self, name, version, stage, archive_existing_versions,
                                   comment=None, user=None):
        with self.lock:
            v, stage = self._close_requests(name, version, stage)
            from_stage = self._move(v, stage, user, "APPROVED_REQUEST", comment)
            if archive_existing_versions:
                self._archive_others(v, stage, user)
            a = [x for x in self.activities[(name, v["version"])]
                 if x["activity_type"] == "APPROVED_REQUEST"][-1]
            assert a["from_stage"] == from_stage
            return a

    def reject_transition_request(self, name, version, stage, comment=None, user=None):
        with self.lock:
            v, stage = self._close_requests(name, version, stage)
            return self._activity((name, v["version"]), "REJECTED_REQUEST", v["current_stage"],
                                  stage, comment, user)

    def cancel_transition_request(self, name, version, stage, creator, comment=None, user=None):
        with self.lock:
            v, stage = self._close_requests(name, version, stage, creator)
            return self._activity((name, v["version"]), "CANCELLED_REQUEST",
                                  v["current_stage"], stage, comment, user)

    # -- comments (Databricks) ----------------------------------------------------------------

    def create_comment(self, name, version, comment, user=None):
        with self.lock:
            v = self._version(name, version)
            if not comment:
                raise invalid("Missing value for required parameter 'comment'.")
            t = now_ms()
            c = {"id": uuid.uuid4().hex, "comment": comment, "user_id": user or self.user,
                 "creation_timestamp": t, "last_updated_timestamp": t,
                 "available_actions": ["EDIT_COMMENT", "DELETE_COMMENT"]}
            self.comments.setdefault((name, v["version"]), []).append(c)
            self._activity((name, v["version"]), "NEW_COMMENT", None, None, comment, user)
            self.emit("comment_created", name=name, version=v["version"], comment=comment,
                      user=user or self.user)
            return dict(c)

    def _comment(self, comment_id):
        for cs in self.comments.values():
            for c in cs:
                if c["id"] == comment_id:
                    return c, cs
        raise not_found(f"Comment with id={comment_id} not found.")

    def update_comment(self, comment_id, comment):
        with self.lock:
            c, _ = self._comment(comment_id)
            c["comment"] = comment
            c["last_updated_timestamp"] = now_ms()
            return dict(c)

    def delete_comment(self, comment_id):
        with self.lock:
            c, cs = self._comment(comment_id)
            cs.remove(c)

    def list_comments(self, name, version):
        with self.lock:
            return [dict(c) for c in self.comments.get((name, str(version)), [])]

    # -- runs ---------------------------------------------------------------------------------

    def add_run(self, run_id=None, metrics=None, params=None, tags=None, experiment_id="0",
                run_name=None, status="FINISHED"):
        """metrics: {key: value} or [{key, value, timestamp?, step?}] (a history)."""
        with self.lock:
            run_id = run_id or uuid.uuid4().hex
            t = now_ms()
            history = []
            if isinstance(metrics, dict):
                metrics = [{"key": k, "value": v} for k, v in metrics.items()]
            for m in metrics or []:
                history.append({"key": m["key"], "value": float(m["value"]),
                                "timestamp": int(m.get("timestamp", t)),
                                "step": int(m.get("step", 0))})
            self.runs[run_id] = {
                "info": compact({"run_id": run_id, "run_uuid": run_id,
                                 "experiment_id": str(experiment_id),
                                 "run_name": run_name or f"run-{run_id[:8]}",
                                 "status": status, "start_time": t, "end_time": t,
                                 "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run_id}"
                                                 "/artifacts",
                                 "lifecycle_stage": "active", "user_id": self.user}),
                "params": tag_list(params), "tags": tag_list(tags), "metrics": history}
            return run_id

    def _run(self, run_id):
        if not run_id:
            raise invalid("Missing value for required parameter 'run_id'.")
        r = self.runs.get(run_id)
        if r is None:
            raise not_found(f"Run with id={run_id} not found")
        return r

    def run_json(self, run_id):
        with self.lock:
            r = self._run(run_id)
            latest = {}
            for m in r["metrics"]:  # latest timestamp wins; on a tie the larger value
                cur = latest.get(m["key"])
                if cur is None or (m["timestamp"], m["value"]) > (cur["timestamp"],
                                                                   cur["value"]):
                    latest[m["key"]] = m
            data = compact({"metrics": [dict(m) for m in latest.values()],
                            "params": list(r["params"]), "tags": list(r["tags"])})
            return {"info": dict(r["info"]), "data": data, "inputs": {}}

    def metric_history(self, run_id, metric_key):
        with self.lock:
            r = self._run(run_id)
            if not metric_key:
                raise invalid("Missing value for required parameter 'metric_key'.")
            return [dict(m) for m in r["metrics"] if m["key"] == metric_key]

    def dump(self):
        with self.lock:
            return {"registered_models": [self.model_json(n) for n in sorted(self.models)],
                    "model_versions": [self.version_json(n, v, databricks=True)
                                       for (n, v) in sorted(self.versions)],
                    "comments": [dict(c, name=n, version=v)
                                 for (n, v), cs in sorted(self.comments.items()) for c in cs],
                    "activities": [dict(a, name=n, version=v)
                                   for (n, v), acts in sorted(self.activities.items())
                                   for a in acts],
                    "runs": [self.run_json(r) for r in sorted(self.runs)]}


_CLAUSE = re.compile(
    r"\s*(name|run_id|source|version_number|current_stage|tags\.(?:`[^`]+`|[\w.\-]+))"
    r"\s*(=|!=|LIKE|ILIKE)\s*('(?:[^']*)'|\"(?:[^\"]*)\"|\d+)\s*", re.IGNORECASE)


def parse_filter(text):
    """Predicates for a model-versions/search filter: clauses joined by AND, with =, !=, LIKE
    and ILIKE on name, run_id, source, version_number, current_stage and tags.<key>."""
    preds = []
    if not text.strip():
        return preds
    for clause in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.fullmatch(clause)
        if not m:
            raise invalid(f"Invalid filter '{text}'. Could not parse '{clause.strip()}'.")
        field, op, literal = m.group(1), m.group(2).upper(), m.group(3)
        value = literal[1:-1] if literal[0] in "'\"" else literal
        preds.append(_predicate(field, op, value))
    return preds


def _predicate(field, op, value):
    def get(v):
        if field.lower().startswith("tags."):
            key = field[5:].strip("`")
            return next((t["value"] for t in v["tags"] if t["key"] == key), None)
        if field == "version_number":
            return v["version"]
        return v.get(field)

    if op in ("LIKE", "ILIKE"):
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                          for c in value) + "$"
        flags = re.IGNORECASE if op == "ILIKE" else 0
        return lambda v: get(v) is not None and re.match(pattern, str(get(v)), flags) is not None
    if op == "=":
        return lambda v: get(v) is not None and str(get(v)) == value
    return lambda v: get(v) is None or str(get(v)) != value
