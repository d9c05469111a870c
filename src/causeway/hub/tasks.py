"""A researcher's task over one request, as both the API and the web pages ask for it: queue it
(and wake the nodes given work), or read it with each site's progress in the current round."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from causeway.hub import accounts, broker
from causeway.hub.db import User
from causeway.hub.deliveries import Claimed
from causeway.hub.schemas import TaskOut
from causeway.hub.state import HubState
from causeway.hub.status import TaskStatus
from causeway.model.task import TaskSpec


def start(hub: HubState, user: User, spec: TaskSpec, task_id: str | None = None) -> TaskOut:
    """Queue ``spec`` for ``user`` (a researcher in the project) and wake the nodes given work
    (``task_id``: see :func:`broker.create_task`)."""
    accounts.require(user, accounts.Role.RESEARCHER)
    return start_as(hub, lambda _: user, spec, task_id)[1]


def start_as(
    hub: HubState,
    authenticate: Callable[[Session], User],
    spec: TaskSpec,
    task_id: str | None = None,
) -> tuple[User, TaskOut]:
    """:func:`start` for the user ``authenticate`` finds in the task's own transaction (see
    :class:`causeway.hub.deps.Bearer`); returns them with the task."""

    def create(session: Session) -> tuple[User, TaskOut, list[str], Claimed]:
        user = authenticate(session)
        accounts.require(user, accounts.Role.RESEARCHER)
        task, nodes = broker.create_task(session, hub.key, user, spec, task_id)
        # the nodes waiting for work here take it with no transaction of their own
        waiting = [name for name in nodes if hub.notifier.listening(f"node:{name}")]
        return user, TaskOut.of(task), nodes, hub.deliveries.claim(session, waiting)

    user, out, nodes, claimed = hub.run(create)
    hub.deliveries.hand_over(claimed)
    # Work for the nodes; no one follows a task before its id is given out (the request that
    # created it listens already), so its own topic is not woken for its creation.
    hub.changed(None, nodes)
    return user, out


def read(hub: HubState, user: User, task_id: str) -> TaskOut:
    """The task as ``user`` may see it; while running, each site's state in the current round."""

    def fetch(session: Session) -> TaskOut:
        task = broker.task_for(session, user, task_id, hub.round_timeout, hub.key, hub.site_silence)
        sites = (
            broker.site_status(session, task, hub.site_silence)
            if task.status == TaskStatus.RUNNING
            else {}
        )
        return TaskOut.of(task).model_copy(update={"sites": sites})

    return hub.run(fetch)
