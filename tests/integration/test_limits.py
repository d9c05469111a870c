"""Bounded work for every input (#18): inputs that froze the hub or made it answer 500 are typed
4xx errors now, and a client guessing tokens is throttled."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from projects import approved

import causeway
from causeway.crypto.keys import sign
from causeway.model.canonical import canonical_json
from causeway.model.task import Assignment, TaskSpec
from causeway.node.agent import NodeAgent
from causeway.node.config import load_key
from causeway.node.store import NodeStore
from causeway.node.transport import HubConnection
from causeway.synthetic import hospitals

FRAMES = hospitals()


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", policy=causeway.Policy.unrestricted()
    ) as federation:
        yield federation


def _post(fed: causeway.LocalFederation, path: str, body: bytes) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {fed.researcher_token}",
        "Content-Type": "application/json",
    }
    return httpx.post(f"{fed.url}{path}", content=body, headers=headers, timeout=60)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("hba1c ~ age + I(3 ** (2 * 10 ** 7))", "the power"),  # held the hub for 40 s
        ("hba1c ~ I(age + 7 ** 10 ** 9)", "the power"),
        ("hba1c ~ I(age * (2 ** 2) ** (10 ** 8))", "the power"),
        ("hba1c ~ I(age * 1e300)", "the number"),
        ("hba1c ~ (age + sbp + bmi) ** 12", "interactions up to order 3"),
        ("hba1c ~ age | sbp", "has parts"),  # an AttributeError, a 500
        ("hba1c ~ " + " + ".join(["age"] * 2_000), "at most 2000 characters"),
    ],
)
def test_formulas_of_unbounded_cost_are_refused_before_evaluation(
    fed: causeway.LocalFederation, formula: str, message: str
) -> None:
    with pytest.raises(causeway.InvalidRequest, match=message):
        fed.client.glm("cohort", formula)
    assert httpx.get(f"{fed.url}/api/health").status_code == 200


def test_bad_filter_values_are_typed_errors(fed: causeway.LocalFederation) -> None:
    huge = {"op": ">=", "column": "age", "value": int("9" * 4_000)}
    with pytest.raises(causeway.QueryError, match="64 bits"):
        fed.client.count("cohort", where=huge)
    raw = (
        b'{"algorithm": "count", "dataset": "cohort", "project": "'
        + fed.project.encode()
        + b'", "params": {}, "where": {"op": ">=", "column": "age", "value": '
        + b"9" * 4_000
        + b"}}"
    )
    answer = _post(fed, "/api/tasks", raw)
    assert answer.status_code == 422 and answer.json()["code"] in ("E100", "E101")
    long = {"op": "==", "column": "diagnosis", "value": "x" * 20_000}
    with pytest.raises(causeway.QueryError, match="at most 10000 characters"):
        fed.client.count("cohort", where=long)


def test_a_lone_surrogate_is_a_typed_error_not_a_500(fed: causeway.LocalFederation) -> None:
    body = {"algorithm": "count", "dataset": "cohort", "project": "\ud800x", "params": {}}
    answer = _post(fed, "/api/tasks", json.dumps(body).encode())
    assert answer.status_code == 422 and answer.json()["code"] == "E100"
    assert "lone surrogate" in answer.json()["detail"]
    paired = {"algorithm": "count", "dataset": "cohort", "project": "\U0001f600", "params": {}}
    answer = _post(fed, "/api/tasks", json.dumps(paired).encode())  # a real emoji: just no project
    assert answer.status_code in (403, 404)


def test_a_body_beyond_the_limit_is_refused_unread(fed: causeway.LocalFederation) -> None:
    big = b'{"x": "' + b"a" * (33 * 2**20) + b'"}'
    answer = _post(fed, "/api/tasks", big)
    assert answer.status_code == 413 and answer.json()["code"] == "E113"
    # a task's body is small by nature: 2 MiB is refused there, unparsed ...
    answer = _post(fed, "/api/tasks", b'{"x": "' + b"a" * (2 * 2**20) + b'"}')
    assert answer.status_code == 413 and "limit of 1 MiB" in answer.json()["detail"]
    # ... while a document of that size is welcome
    document = httpx.put(
        f"{fed.url}/api/documents",
        content=b"%PDF" + b"a" * (2 * 2**20),
        headers={"Authorization": f"Bearer {fed.researcher_token}"},
    )
    assert document.status_code == 201, document.text


def test_long_parameter_lists_are_refused(fed: causeway.LocalFederation) -> None:
    with pytest.raises(causeway.InvalidRequest, match="at most 1000 probabilities"):
        fed.client.quantiles("cohort", "age", probs=[0.5] * 1_001)
    with pytest.raises(causeway.InvalidRequest, match="limit of 1 MiB"):
        fed.client.quantiles("cohort", "age", probs=[0.5] * 1_000_000)  # refused unparsed
    with pytest.raises(causeway.InvalidRequest, match="at most 100 columns"):
        fed.client.corr("cohort", ["age"] * 101)


def test_token_guessing_is_throttled_per_client() -> None:
    with causeway.LocalFederation(
        {k: FRAMES[k] for k in list(FRAMES)[:1]},
        dataset="cohort",
        policy=causeway.Policy.unrestricted(),
    ) as fed:
        guesses = 0
        while True:
            guess = causeway.Client(fed.url, f"cw_guess{guesses}")
            try:
                guess.projects()
            except causeway.AuthenticationError:
                guesses += 1
                continue
            except causeway.Throttled as refused:
                assert refused.code == "E429" and "try again in" in refused.detail
                break
            finally:
                guess.close()
        assert guesses == 10
        # now even the right token from this address waits out the window
        with pytest.raises(causeway.Throttled):
            fed.client.projects()


def test_a_second_process_with_one_nodes_identity_is_refused(
    fed: causeway.LocalFederation, tmp_path: Path
) -> None:
    """A copied data directory: the same key and name, another process. 20 counts answered
    twice would count a site twice; the hub refuses the second while the first lives."""
    live = fed.agents["north"]
    directory = Path(live.store.path).parent
    copy = NodeStore(tmp_path / "copy.duckdb")
    twin = NodeAgent(
        live.config,
        copy,
        HubConnection(fed.url, "north", load_key(directory)),
        causeway.Policy.unrestricted(),
    )
    with pytest.raises(
        causeway.CausewayError, match="already served by another process"
    ) as refused:
        twin.poll_once(0.0)
    assert refused.value.code == "E109"
    assert str(directory) in refused.value.detail  # where the live one runs
    copy.close()
    assert fed.client.count("cohort").total == sum(len(f) for f in FRAMES.values())


def test_a_node_that_stopped_cleanly_is_served_again_at_once(tmp_path: Path) -> None:
    """A clean stop says goodbye: the restarted process (same identity, new instance) is not
    refused as a second process; without the goodbye it would be, for the grace period."""
    frames = {"north": FRAMES["north"]}
    with causeway.LocalFederation(frames, dataset="cohort") as federation:
        live = federation.agents["north"]
        directory = Path(live.store.path).parent

        def restarted() -> NodeAgent:
            return NodeAgent(
                live.config,
                NodeStore(tmp_path / f"restart-{len(list(tmp_path.iterdir()))}.duckdb"),
                HubConnection(federation.url, "north", load_key(directory)),
                causeway.Policy.unrestricted(),
            )

        early = restarted()  # the live process still polls: refused
        with pytest.raises(causeway.CausewayError, match="already served by another process"):
            early.poll_once(0.0)
        federation.stop_node("north")  # a clean stop: its goodbye releases the identity
        again = restarted()
        assert again.poll_once(0.0) == 0  # served at once, nothing to do
        again.goodbye()
        early.store.close()
        again.store.close()


def test_an_assignment_from_the_future_is_refused(fed: causeway.LocalFederation) -> None:
    payload = Assignment(
        task_id="future",
        round=0,
        node="north",
        spec=TaskSpec(algorithm="count", dataset="cohort", project=fed.project),
        state={},
        dictionary=fed.dictionary.to_json(),
        issued_at=time.time() + 2 * 3600,
        **approved(fed),
    ).to_json()
    with pytest.raises(causeway.SignatureError, match="in the future"):
        fed.agents["north"].compute(payload, sign(fed.hub.key, canonical_json(payload)))
