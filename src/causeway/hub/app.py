"""The hub's HTTP API (FastAPI). Handlers are thin: they authenticate, call a service, shape output.

Errors are RFC 9457 problem documents carrying Causeway's stable error code; the client maps them
back to the same exception classes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from causeway.crypto.keys import load_or_create, load_public, public_text
from causeway.crypto.requests import (
    MAX_SKEW_SECONDS,
    SignedHeaders,
    read_headers,
    verify_request,
)
from causeway.hub import accounts, broker, catalog, review
from causeway.hub.db import (
    AssignmentRecord,
    NodeRecord,
    Nonce,
    Organisation,
    Project,
    Task,
    User,
    make_engine,
    migrate,
    utcnow,
)
from causeway.hub.db import session_factory as make_sessions
from causeway.hub.notify import Notifier
from causeway.hub.schemas import (
    AssignmentOut,
    CatalogIn,
    DecisionIn,
    NodeIn,
    NodeOut,
    ProjectIn,
    ProjectOut,
    ResultIn,
    ResultOut,
    TaskIn,
    TaskOut,
    UserIn,
    UserOut,
)
from causeway.model.errors import (
    CausewayError,
    InternalError,
    InvalidRequest,
    PermissionDenied,
    ReplayError,
    SignatureError,
)
from causeway.model.task import TaskSpec

log = logging.getLogger("causeway.hub")
T = TypeVar("T")
MAX_WAIT_SECONDS = 30.0
FALLBACK_POLL_SECONDS = 0.5
NONCE_PRUNE_SECONDS = 60.0


@dataclass(frozen=True)
class HubSettings:
    database_url: str
    key_path: Path
    round_timeout: float = broker.ROUND_TIMEOUT_SECONDS

    @classmethod
    def in_directory(
        cls,
        data_dir: Path,
        database_url: str | None = None,
        round_timeout: float = broker.ROUND_TIMEOUT_SECONDS,
    ) -> HubSettings:
        data_dir.mkdir(parents=True, exist_ok=True)
        url = database_url or f"sqlite:///{(data_dir / 'hub.sqlite').resolve()}"
        return cls(url, data_dir / "hub_key.pem", round_timeout)


class HubState:
    """What every request shares: the database, the hub's signing key, the notifier."""

    def __init__(self, settings: HubSettings) -> None:
        self.engine = make_engine(settings.database_url)
        migrate(self.engine)
        self.sessions: sessionmaker[Session] = make_sessions(self.engine)
        self._serial = threading.Lock() if self.engine.dialect.name == "sqlite" else None
        self.key = load_or_create(settings.key_path)
        self.public_key = public_text(self.key)
        self.notifier = Notifier()
        self.round_timeout = settings.round_timeout
        self.closing = False
        self.nonces_pruned_at = 0.0

    def close(self) -> None:
        """Release long-polling requests at once (for a clean shutdown)."""
        self.closing = True
        self.notifier.notify()

    @contextmanager
    def session(self) -> Iterator[Session]:
        # SQLite has one writer at a time and its busy handler waits by sleeping (1, 2, 5, 10 ms…),
        # which made concurrent node requests stall; queue on a lock instead, which wakes at once.
        # PostgreSQL needs no such thing and takes transactions concurrently.
        with self._serial or nullcontext(), self.sessions.begin() as session:
            yield session

    def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction."""
        with self.session() as session:
            return fn(session)

    def ensure_admin(self, name: str = "admin") -> str | None:
        """Create the first admin if there is no user; returns its token (shown once)."""
        with self.session() as session:
            if session.scalar(select(User).limit(1)) is not None:
                return None
            _user, token = accounts.add_user(session, name, accounts.Role.ADMIN, None)
            return token


def problem(exc: CausewayError) -> JSONResponse:
    return JSONResponse(
        {
            "type": f"urn:causeway:error:{exc.code}",
            "title": exc.title,
            "status": exc.status,
            "detail": exc.detail,
            "code": exc.code,
        },
        status_code=exc.status,
        media_type="application/problem+json",
    )


def _hub(request: Request) -> HubState:
    hub: HubState = request.app.state.hub
    return hub


def current_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> User:
    token = None
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    return _hub(request).run(lambda s: accounts.authenticate(s, token))


@dataclass(frozen=True)
class NodeRequest:
    """A request claiming to come from a node, checked inside the handler's own transaction
    (one transaction per request: the nonce is recorded with the work it authorises)."""

    hub: HubState
    signed: SignedHeaders
    method: str
    target: str
    body: bytes

    def authenticate(self, session: Session) -> NodeRecord:
        """The enrolled node whose key signed this request; refuses a bad signature or a replay."""
        signed = self.signed
        node = session.scalar(select(NodeRecord).where(NodeRecord.name == signed.node))
        if node is None or not node.active:
            raise SignatureError(f"no enrolled node {signed.node!r}")
        verify_request(load_public(node.public_key), signed, self.method, self.target, self.body)
        session.add(Nonce(node_id=node.id, nonce=signed.nonce, seen_at=signed.timestamp))
        try:
            session.flush()
        except IntegrityError:
            raise ReplayError("this request was seen before") from None
        node.last_seen = utcnow()
        now = time.time()
        if now - self.hub.nonces_pruned_at > NONCE_PRUNE_SECONDS:
            self.hub.nonces_pruned_at = now
            session.execute(delete(Nonce).where(Nonce.seen_at < now - 2 * MAX_SKEW_SECONDS))
        return node


async def node_request(request: Request) -> NodeRequest:
    body = await request.body()
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return NodeRequest(_hub(request), read_headers(request.headers), request.method, target, body)


UserDep = Annotated[User, Depends(current_user)]
NodeDep = Annotated[NodeRequest, Depends(node_request)]


def create_app(state: HubState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.engine.dispose()

    app = FastAPI(
        title="Causeway hub",
        description="Catalog, projects, task broker and aggregator of a Causeway federation.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.hub = state

    @app.exception_handler(CausewayError)
    async def _causeway_error(_request: Request, exc: CausewayError) -> JSONResponse:
        return problem(exc)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem(InternalError("the hub hit an internal error (logged at the hub)"))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return problem(InvalidRequest(details or "malformed request"))

    def in_session(fn: Callable[[Session], T]) -> T:
        return state.run(fn)

    def changed(task_id: str, nodes: list[str]) -> None:
        state.notifier.notify(f"task:{task_id}", *(f"node:{name}" for name in nodes))

    async def long_poll(fetch: Callable[[], T | None], wait: float, topic: str) -> T | None:
        deadline = time.monotonic() + max(0.0, min(wait, MAX_WAIT_SECONDS))
        while True:
            waiter = state.notifier.register(topic)
            event = waiter.event
            try:
                found = await run_in_threadpool(fetch)
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0 or state.closing:
                    return found
                with suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, FALLBACK_POLL_SECONDS))
            finally:
                state.notifier.unregister(waiter)

    # -- people and nodes --------------------------------------------------------------------

    @app.get("/api/health", tags=["hub"])
    def health() -> dict[str, str]:
        return {"status": "ok", "public_key": state.public_key}

    @app.get("/api/me", tags=["accounts"])
    def me(user: UserDep) -> UserOut:
        return UserOut(name=user.name, role=user.role)

    @app.post("/api/users", status_code=201, tags=["accounts"])
    def add_user(body: UserIn, user: UserDep) -> UserOut:
        accounts.require(user, accounts.Role.ADMIN)
        role = accounts.Role.parse(body.role)

        def run(session: Session) -> UserOut:
            _new, token = accounts.add_user(session, body.name, role, body.organisation)
            return UserOut(
                name=body.name, role=role.value, organisation=body.organisation, token=token
            )

        return in_session(run)

    @app.post("/api/nodes", status_code=201, tags=["nodes"])
    def enrol(body: NodeIn, user: UserDep) -> NodeOut:
        accounts.require(user, accounts.Role.ADMIN, accounts.Role.STEWARD)

        def run(session: Session) -> NodeOut:
            if user.role == accounts.Role.STEWARD:
                org = session.get(Organisation, user.organisation_id or -1)
                if org is None or org.name != body.organisation:
                    raise PermissionDenied("a steward enrols nodes of their own organisation")
            node = accounts.enrol_node(session, body.name, body.organisation, body.public_key)
            return NodeOut(
                name=node.name, organisation=body.organisation, hub_public_key=state.public_key
            )

        return in_session(run)

    # -- catalog and projects ----------------------------------------------------------------

    @app.get("/api/datasets", tags=["catalog"])
    def datasets(_user: UserDep) -> list[dict[str, Any]]:
        return in_session(lambda s: [entry.to_json() for entry in catalog.entries(s)])

    @app.post("/api/projects", status_code=201, tags=["projects"])
    def add_project(body: ProjectIn, user: UserDep) -> ProjectOut:
        accounts.require(user, accounts.Role.ADMIN)

        def run(session: Session) -> ProjectOut:
            p = catalog.add_project(session, body.name, body.datasets, body.members, body.sites)
            return _project_out(p)

        return in_session(run)

    @app.get("/api/projects", tags=["projects"])
    def projects(user: UserDep) -> list[ProjectOut]:
        return in_session(lambda s: [_project_out(p) for p in catalog.projects_of(s, user)])

    # -- tasks ---------------------------------------------------------------------------------

    @app.post("/api/tasks", status_code=201, tags=["tasks"])
    async def create_task(body: TaskIn, user: UserDep, wait: float = 0.0) -> TaskOut:
        """Queue a task; with ``wait``, answer when it finishes or finishes its first round (saves
        the client a second request for short tasks)."""
        accounts.require(user, accounts.Role.RESEARCHER)
        spec = TaskSpec.from_json(body.model_dump())

        def create(session: Session) -> tuple[TaskOut, list[str]]:
            task, nodes = broker.create_task(session, state.key, user, spec)
            return _task_out(task), nodes

        out, nodes = await run_in_threadpool(in_session, create)
        changed(out.id, nodes)
        if wait <= 0:
            return out

        def fetch() -> TaskOut | None:
            now = in_session(
                lambda s: _task_out(broker.task_for(s, user, out.id, state.round_timeout))
            )
            return now if now.status != "running" or now.round > 0 else None

        return await long_poll(fetch, wait, f"task:{out.id}") or out

    @app.get("/api/tasks/{task_id}", tags=["tasks"])
    async def get_task(
        task_id: str, user: UserDep, wait: float = 0.0, after_round: int = -1
    ) -> TaskOut:
        """The task; with ``wait``, block up to that many seconds until it finishes or moves past
        ``after_round``."""

        def fetch() -> TaskOut | None:
            out = in_session(
                lambda s: _task_out(broker.task_for(s, user, task_id, state.round_timeout))
            )
            return out if out.status != "running" or out.round > after_round else None

        found = await long_poll(fetch, wait, f"task:{task_id}")
        return found or in_session(
            lambda s: _task_out(broker.task_for(s, user, task_id, state.round_timeout))
        )

    # -- output checking and privacy budgets ---------------------------------------------------

    @app.get("/api/reviews", tags=["output checking"])
    def held_outputs(user: UserDep) -> list[dict[str, Any]]:
        """Held outputs this output checker may still decide on."""
        return in_session(lambda s: [h.to_json() for h in review.pending(s, user)])

    @app.post("/api/reviews/{task_id}", tags=["output checking"])
    def decide(task_id: str, body: DecisionIn, user: UserDep) -> TaskOut:
        """Release, reject or ask for changes to a held output (two checkers decide)."""
        decision = review.Decision.parse(body.decision)
        out = in_session(
            lambda s: _task_out(review.decide(s, user, task_id, decision, body.comment))
        )
        changed(task_id, [])
        return out

    @app.get("/api/reviews/{task_id}", tags=["output checking"])
    def decisions(task_id: str, user: UserDep) -> list[dict[str, Any]]:
        """The checkers' decisions, once both have decided (blinded until then)."""
        return in_session(lambda s: review.decisions(s, user, task_id))

    @app.get("/api/budgets", tags=["privacy"])
    def budgets(project: str, dataset: str, user: UserDep) -> list[dict[str, Any]]:
        """Each site's privacy budget of a project on a dataset, as the nodes last reported it."""
        return in_session(lambda s: broker.budgets(s, user, project, dataset))

    # -- the node side: every request signed by the node's key -------------------------------

    @app.put("/api/node/datasets", tags=["node"])
    def node_datasets(body: CatalogIn, node: NodeDep) -> dict[str, int]:
        entries = [d.model_dump() for d in body.datasets]
        count = in_session(lambda s: catalog.register_datasets(s, node.authenticate(s), entries))
        return {"registered": count}

    def next_assignments(node_id: int) -> list[AssignmentOut] | None:
        def run(session: Session) -> list[AssignmentOut]:
            if not broker.has_pending(session, node_id):
                return []  # the common wake-up: read only, nothing to write or commit
            record = session.get(NodeRecord, node_id)
            assert record is not None
            return [
                AssignmentOut(id=r.id, payload=r.payload, signature=r.signature)
                for r in broker.claim(session, record)
            ]

        return in_session(run) or None

    @app.get("/api/node/assignments", tags=["node"])
    async def node_assignments(node: NodeDep, wait: float = 0.0) -> list[AssignmentOut]:
        """The node's next assignments; with ``wait``, long-poll up to that many seconds."""
        node_id = await run_in_threadpool(in_session, lambda s: node.authenticate(s).id)
        found = await long_poll(lambda: next_assignments(node_id), wait, f"node:{node.signed.node}")
        return found or []

    @app.post("/api/node/assignments/{assignment_id}", tags=["node"])
    async def node_result(
        assignment_id: int, body: ResultIn, node: NodeDep, wait: float = 0.0
    ) -> ResultOut:
        """A node's answer. With ``wait``, the response also carries the node's next assignments
        (long-polled), so a busy node needs one request per assignment, not two."""

        def run(session: Session) -> tuple[int, str, list[str]]:
            sender = node.authenticate(session)
            queued = broker.submit(
                session, state.key, sender, assignment_id, body.contribution, body.error
            )
            record = session.get(AssignmentRecord, assignment_id)
            return sender.id, (record.task_id if record else ""), queued

        node_id, task_id, queued = await run_in_threadpool(in_session, run)
        changed(task_id, queued)
        if wait <= 0:
            return ResultOut(status="received")
        found = await long_poll(lambda: next_assignments(node_id), wait, f"node:{node.signed.node}")
        return ResultOut(status="received", next=found or [])

    return app


def _project_out(p: Project) -> ProjectOut:
    return ProjectOut(
        name=p.name, status=p.status, datasets=p.datasets, members=p.members, sites=p.sites
    )


def _task_out(task: Task) -> TaskOut:
    return TaskOut(
        id=task.id,
        status=task.status,
        round=task.round,
        note=task.note,
        algorithm=str(task.spec["algorithm"]),
        dataset=str(task.spec["dataset"]),
        # only a finished, released result is shown (a held or rejected one never is)
        result=task.result if task.status == "done" else None,
        error=task.error,
    )
