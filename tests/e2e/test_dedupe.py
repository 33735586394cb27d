"""Redeliveries are answered 200 with duplicate true and the first event's id."""

import time

import pytest

from conftest import (ALL_SCHEMES_ENDPOINTS, ALL_SCHEMES_SECRETS, DATABRICKS_SECRET, SECRET_OF,
                      databricks_body, new_id, sample_body, signed_headers)


@pytest.fixture(scope="module")
def server(stagegate_module):
    endpoints = dict(ALL_SCHEMES_ENDPOINTS)
    endpoints["dbx-short"] = {"scheme": "databricks", "secrets": ["env:SG_E2E_DATABRICKS"],
                              "dedupe_window": "1s"}
    return stagegate_module(endpoints, secrets=ALL_SCHEMES_SECRETS)


@pytest.mark.parametrize("scheme", ["mlflow", "standard", "github"])
def test_redelivery_with_the_same_id_is_a_duplicate(server, scheme):
    secret = SECRET_OF[scheme]
    body = sample_body(scheme)
    delivery = new_id(scheme)
    before = server.count()
    first = server.deliver(scheme, scheme, secret, body, delivery_id=delivery)
    assert first.status == 200, first
    assert first.json()["duplicate"] is False
    event_id = first.json()["event_id"]

    # The identical request again (MLflow retries resend it unchanged) ...
    headers = signed_headers(scheme, secret, body, delivery_id=delivery)
    again = server.post(scheme, body, headers)
    again2 = server.post(scheme, body, headers)
    # ... and a retry signed anew a little later (Standard Webhooks re-stamps each attempt).
    later = server.deliver(scheme, scheme, secret, body, delivery_id=delivery,
                           timestamp=int(time.time()) + 2)
    for r in (again, again2, later):
        assert r.status == 200, r
        assert r.json()["duplicate"] is True, r
        assert r.json()["event_id"] == event_id
    assert server.count() == before + 1

    # Another delivery id with the same body is a new event.
    other = server.deliver(scheme, scheme, secret, body, delivery_id=new_id(scheme))
    assert other.status == 200 and other.json()["duplicate"] is False, other
    assert other.json()["event_id"] > event_id
    assert server.count() == before + 2
    assert server.event(event_id)["dedupe_key"] == f"id:{delivery}"


def test_duplicate_is_per_endpoint(server):
    # The same delivery id on another endpoint is not a duplicate.
    delivery = new_id("x")
    a = server.deliver("mlflow", "mlflow", SECRET_OF["mlflow"], sample_body("mlflow"),
                       delivery_id=delivery)
    b = server.deliver("standard", "standard", SECRET_OF["standard"], sample_body("standard"),
                       delivery_id=delivery)
    assert a.status == b.status == 200
    assert a.json()["duplicate"] is False and b.json()["duplicate"] is False
    assert a.json()["event_id"] != b.json()["event_id"]


def test_databricks_same_body_twice_is_a_duplicate(server):
    body = databricks_body(model="dedupe-dbx", version="7")
    before = server.count()
    first = server.deliver("databricks", "databricks", DATABRICKS_SECRET, body)
    second = server.deliver("databricks", "databricks", DATABRICKS_SECRET, body)
    assert first.status == second.status == 200
    assert first.json()["duplicate"] is False
    assert second.json()["duplicate"] is True
    assert second.json()["event_id"] == first.json()["event_id"]
    assert server.count() == before + 1
    assert server.event(first.json()["event_id"])["dedupe_key"].startswith("sha256:")

    # One byte more is another event.
    third = server.deliver("databricks", "databricks", DATABRICKS_SECRET, body + " ")
    assert third.status == 200 and third.json()["duplicate"] is False
    assert server.count() == before + 2


def test_databricks_body_after_the_dedupe_window_is_a_new_event(server):
    body = databricks_body(model="dedupe-window", version="1")
    first = server.deliver("dbx-short", "databricks", DATABRICKS_SECRET, body)
    second = server.deliver("dbx-short", "databricks", DATABRICKS_SECRET, body)
    assert first.status == second.status == 200
    assert second.json() == dict(first.json(), duplicate=True)
    time.sleep(1.3)
    third = server.deliver("dbx-short", "databricks", DATABRICKS_SECRET, body)
    assert third.status == 200
    assert third.json()["duplicate"] is False
    assert third.json()["event_id"] > first.json()["event_id"]
    # Within the window of the new event, it is the one repeated.
    fourth = server.deliver("dbx-short", "databricks", DATABRICKS_SECRET, body)
    assert fourth.json()["duplicate"] is True
    assert fourth.json()["event_id"] == third.json()["event_id"]
    assert server.count(endpoint="dbx-short") == 2


def test_concurrent_identical_deliveries_store_one_event(server):
    # Group commit puts concurrent writes in one transaction: the dedupe must still hold.
    import threading

    body = sample_body("mlflow")
    headers = signed_headers("mlflow", SECRET_OF["mlflow"], body, delivery_id=new_id("same"))
    before = server.count()
    answers = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def send():
        barrier.wait(timeout=5)
        r = server.post("mlflow", body, headers)
        with lock:
            answers.append((r.status, r.json()))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert len(answers) == 8
    assert all(status == 200 for status, _ in answers), answers
    assert len({a["event_id"] for _, a in answers}) == 1, answers
    assert sum(1 for _, a in answers if not a["duplicate"]) == 1, answers
    assert server.count() == before + 1
