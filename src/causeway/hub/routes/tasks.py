"""A researcher's tasks: ask for an analysis, follow it (long-polled) until it finishes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from causeway.hub import broker, tasks
from causeway.hub.db import User
from causeway.hub.deps import BearerDep, HubDep, UserDep
from causeway.hub.notify import Waiter
from causeway.hub.polling import long_poll
from causeway.hub.schemas import TaskIn, TaskOut
from causeway.hub.state import HubState
from causeway.model.task import TaskSpec

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.post("", status_code=201)
async def create_task(body: TaskIn, bearer: BearerDep, hub: HubDep, wait: float = 0.0) -> TaskOut:
    """Queue a task; with ``wait``, answer when it finishes or finishes its first round (saves
    the client a second request for short tasks). The token is checked in the task's own
    transaction."""
    spec = TaskSpec.from_json(body.model_dump())
    if wait <= 0:
        return (await run_in_threadpool(tasks.start_as, hub, bearer.authenticate, spec))[1]
    # Listening before the task exists: its first change wakes this request, which need not
    # read the task it has just created (it is running, in round 0).
    task_id = str(uuid.uuid4())
    listening = hub.notifier.register(f"task:{task_id}")
    try:
        user, out = await run_in_threadpool(tasks.start_as, hub, bearer.authenticate, spec, task_id)
    except BaseException:
        hub.notifier.unregister(listening)
        raise
    if not out.running:  # (failed as it was queued: no change is coming to wake it)
        hub.notifier.unregister(listening)
        return out
    return await _follow(hub, user, out.id, wait, after_round=0, listening=listening) or out


@router.get("")
def list_tasks(user: UserDep, hub: HubDep, limit: int = 100) -> list[TaskOut]:
    """Your most recent tasks, newest first (results are fetched one task at a time)."""
    return hub.run(
        lambda s: [
            TaskOut.of(t).model_copy(update={"result": None})
            for t in broker.tasks_of(s, user, limit)
        ]
    )


@router.post("/{task_id}/cancel")
def cancel_task(task_id: str, user: UserDep, hub: HubDep) -> TaskOut:
    """Stop a running task; a finished one is left as it is."""
    out = hub.run(lambda s: TaskOut.of(broker.cancel(s, user, task_id)))
    hub.changed(task_id, [])
    return out


@router.get("/{task_id}")
async def get_task(
    task_id: str, user: UserDep, hub: HubDep, wait: float = 0.0, after_round: int = -1
) -> TaskOut:
    """The task; with ``wait``, block up to that many seconds until it finishes or moves past
    ``after_round``."""
    found = await _follow(hub, user, task_id, wait, after_round)
    if found is None:
        found = await run_in_threadpool(tasks.read, hub, user, task_id)
    return found


async def _follow(
    hub: HubState,
    user: User,
    task_id: str,
    wait: float,
    after_round: int,
    listening: Waiter | None = None,
) -> TaskOut | None:
    """The task once it finishes or moves past ``after_round``; None if ``wait`` ran out first
    (``listening``: see :func:`long_poll`)."""

    def fetch() -> TaskOut | None:
        out = tasks.read(hub, user, task_id)
        return out if not out.running or out.round > after_round else None

    def handed() -> TaskOut | None:
        # finished by the answer that woke this request: its final state, with no transaction
        return hub.outcomes.take(task_id, user.id)

    return await long_poll(hub, fetch, wait, f"task:{task_id}", listening=listening, handed=handed)
