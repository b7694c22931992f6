"""Feedback: the specification's shape is enforced and every accepted post is stored durably."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from typing import Any

import httpx

from test_service_support import (
    Keys,
    Server,
)

FB = "/cds-services/b12ms-patient-view/feedback"

pytest_plugins = ("test_service_support",)


def accepted() -> dict[str, Any]:
    return {
        "card": str(uuid.uuid4()),
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
        "outcomeTimestamp": "2026-11-01T10:00:00Z",
    }


def overridden(comment: str = "seen in clinic") -> dict[str, Any]:
    return {
        "card": str(uuid.uuid4()),
        "outcome": "overridden",
        "overrideReason": {
            "reason": {
                "code": "patient-declined",
                "system": "urn:b12ms:cds-override-reason",
                "display": "Patient declined",
            },
            "userComment": comment,
        },
        "outcomeTimestamp": "2026-11-01T10:05:00Z",
    }


def send(server: Server, keys: Keys, body: Any) -> httpx.Response:
    url = server.url(FB)
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {keys.token(url)}"})


def rows(server: Server, where: str = "1=1", *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(server.db_path) as conn:
        return conn.execute(f"SELECT * FROM feedback WHERE {where}", args).fetchall()  # noqa: S608


def test_spec_shaped_feedback_is_stored(server: Server, keys: Keys) -> None:
    """Accepted and overridden items from one post are both stored, with their details."""
    a, o = accepted(), overridden("Patient prefers to wait")
    assert send(server, keys, {"feedback": [a, o]}).status_code == 200
    (row,) = rows(server, "card_uuid = ?", o["card"])
    assert "patient-declined" in row and "Patient prefers to wait" in row
    assert "b12ms-patient-view" in row
    (row,) = rows(server, "card_uuid = ?", a["card"])
    assert a["acceptedSuggestions"][0]["id"] in row[6]


def test_comments_are_never_logged(server: Server, keys: Keys) -> None:
    """The free-text comment is stored but does not reach the log."""
    assert send(server, keys, {"feedback": [overridden("zebra-comment-77")]}).status_code == 200
    assert "zebra-comment-77" not in server.log()


def test_malformed_feedback_is_400(server: Server, keys: Keys) -> None:
    """Wrong shapes are refused and nothing is stored for them."""
    bad_items: list[Any] = [
        {**accepted(), "outcome": "ignored"},
        {k: v for k, v in accepted().items() if k != "acceptedSuggestions"},
        {**accepted(), "acceptedSuggestions": []},
        {**overridden(), "acceptedSuggestions": [{"id": "x"}]},
        {**accepted(), "outcomeTimestamp": "yesterday"},
        {**accepted(), "outcomeTimestamp": "2026-11-01T10:00:00"},  # no zone
        {**overridden(), "overrideReason": {"reason": {"code": "x"}}},  # no system
        {k: v for k, v in accepted().items() if k != "card"},
    ]
    before = len(rows(server))
    for item in bad_items:
        r = send(server, keys, {"feedback": [item]})
        assert r.status_code == 400, item
        assert r.json()["resourceType"] == "OperationOutcome"
    assert send(server, keys, {"feedback": []}).status_code == 400
    assert send(server, keys, {}).status_code == 400
    assert len(rows(server)) == before


def test_feedback_for_unknown_service_is_404(server: Server, keys: Keys) -> None:
    """Feedback must name one of the services."""
    url = server.url("/cds-services/nope/feedback")
    r = httpx.post(
        url,
        json={"feedback": [accepted()]},
        headers={"Authorization": f"Bearer {keys.token(url)}"},
    )
    assert r.status_code == 404


def test_concurrent_feedback_loses_nothing(server: Server, keys: Keys) -> None:
    """20 threads x 20 posts (2 items each) against the live server: all 800 rows are stored."""
    run = str(uuid.uuid4())
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(timeout=60) as client:
            for i in range(20):
                items = [accepted(), overridden(f"{run} {n} {i}")]
                url = server.url(FB)
                r = client.post(
                    url,
                    json={"feedback": items},
                    headers={"Authorization": f"Bearer {keys.token(url)}"},
                )
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:100]}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    mine = rows(server, "user_comment LIKE ?", f"{run} %")
    assert len(mine) == 400
    assert len({r[10] for r in mine}) == 400  # every comment distinct: no duplicates either
