"""The node agent: long-polls its hub, re-checks every assignment, computes, gates, signs, posts.

The node trusts no one: it verifies the hub's signature on each assignment, and checks for itself
that the dataset and algorithm exist here, that its steward approved the project for this dataset,
and that the catalog's dictionary agrees with its own. Every byte it sends passes the release gate.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pyroaring import BitMap

from causeway.algorithms import get_algorithm
from causeway.algorithms.base import Cache
from causeway.algorithms.partition import sets as partition_sets
from causeway.crypto import secagg
from causeway.crypto.keys import load_public, public_text, sign, verify
from causeway.model import masking
from causeway.model.canonical import canonical_json
from causeway.model.catalog import round_count
from causeway.model.contribution import Contribution
from causeway.model.dictionary import Dictionary
from causeway.model.disclosure import Check, Outcome
from causeway.model.errors import (
    BudgetExceeded,
    CausewayError,
    DisclosureRefused,
    InternalError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    SignatureError,
    SourceDrifted,
    Unavailable,
)
from causeway.model.kept import Kept
from causeway.model.levels import Level
from causeway.model.ownership import Claim, dictionary_digest
from causeway.model.policy import NodePolicy, Policy
from causeway.model.task import Assignment, Participant, SecureRound, TaskSpec
from causeway.model.terms import ProjectTerms
from causeway.node import steward
from causeway.node.approvals import StatedTerms
from causeway.node.audit import AuditLog, Trace, received
from causeway.node.config import NodeConfig
from causeway.node.store import DatasetInfo, MaskStep, NodeStore
from causeway.node.transport import HubConnection
from causeway.node.witness import WITNESS_INTERVAL, Witness
from causeway.privacy import differencing
from causeway.privacy.budget import Budget
from causeway.privacy.dp import rho_from_epsilon
from causeway.privacy.gate import ReleaseGate
from causeway.query import from_json

log = logging.getLogger("causeway.node")
POLL_SECONDS = 20.0
POST_ATTEMPTS = 5
MAX_ASSIGNMENT_AGE_SECONDS = 3600.0
MAX_CLOCK_SKEW_SECONDS = 300.0
CACHED_TASKS = 8
PREPARED_SPECS = 64  # distinct questions whose checked parameters are kept across tasks
MIN_PARTICIPANTS = 3
# While it works through assignments the node renews their leases at the hub this many times per
# lease (the hub says how long a lease is with each assignment), and at most this often.
RENEWALS_PER_LEASE = 3
MIN_RENEWAL_SECONDS = 0.2
DEFAULT_LEASE_SECONDS = 60.0  # a hub that does not say


class Leases:
    """The leases of a batch of assignments, renewed at the hub from a background thread until
    each is answered (:meth:`release`) or the batch is done (:meth:`close`): a local step longer
    than the lease is not delivered again while the node computes it."""

    def __init__(self, hub: HubConnection, node: str, items: Iterable[dict[str, Any]]) -> None:
        self._hub = hub
        self._node = node
        self._held: set[int] = set()
        lease = DEFAULT_LEASE_SECONDS
        for item in items:
            self._held.add(int(item["id"]))
            if isinstance(item.get("lease"), int | float) and item["lease"] > 0:
                lease = min(lease, float(item["lease"]))
        self.interval = max(lease / RENEWALS_PER_LEASE, MIN_RENEWAL_SECONDS)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"causeway-leases-{node}")
        self._thread.daemon = True
        self._thread.start()

    def release(self, assignment_id: int) -> None:
        """Answered (or given up): its lease is no longer renewed."""
        with self._lock:
            self._held.discard(assignment_id)

    def close(self) -> None:
        self._done.set()

    def _renew(self) -> None:
        while not self._done.wait(self.interval):
            with self._lock:
                held = sorted(self._held)
            for assignment_id in held:
                if self._done.is_set():
                    return
                try:
                    self._hub.request("POST", f"/api/node/assignments/{assignment_id}/lease")
                except (PermissionDenied, NotFound, InvalidRequest) as exc:
                    # answered, its task ended, or a hub without leases to renew: nothing to hold
                    log.info("node %s: lease of %s not renewed: %s", self._node, assignment_id, exc)
                    self.release(assignment_id)
                except Exception as exc:  # the hub is away: try again at the next interval
                    if self._done.is_set():
                        return
                    log.warning("node %s: renewing a lease failed: %s", self._node, exc)


class NodeAgent:
    def __init__(
        self,
        config: NodeConfig,
        store: NodeStore,
        connection: HubConnection,
        policy: NodePolicy | Policy,
        *,
        signing_key: Ed25519PrivateKey | None = None,
        agreement_key: X25519PrivateKey | None = None,
        audit: AuditLog | None = None,
        witness: Witness | None = None,
        witness_interval: float = WITNESS_INTERVAL,
    ) -> None:
        """``signing_key`` signs the announcement of ``agreement_key``, the node's key for secure
        aggregation; without them the node refuses securely aggregated rounds. ``audit`` records
        every assignment, check and release (see :mod:`causeway.node.audit`). ``witness`` checks
        the hub's ledger at start and every ``witness_interval`` seconds while :meth:`run` serves
        (see :mod:`causeway.node.witness`); while one of its alarms is open, every assignment is
        refused."""
        self.config = config
        self.store = store
        self.hub = connection
        self.policies = policy if isinstance(policy, NodePolicy) else NodePolicy(fixed=policy)
        self._hub_key = load_public(config.hub_public_key)
        self._caches: OrderedDict[str, Cache] = OrderedDict()
        # checked parameters by (algorithm, parameters): (the dictionary they were checked
        # against, the algorithm's frozen spec)
        self._prepared_specs: Kept[str, tuple[Dictionary, Any]] = Kept(PREPARED_SPECS)
        self._memories: dict[tuple[str, str], differencing.CohortMemory] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._busy = threading.Event()  # computing an assignment
        self._signing_key = signing_key
        self._agreement_key = agreement_key
        self.audit = audit
        self.witness = witness
        self.witness_interval = witness_interval
        self.witness_thread: threading.Thread | None = None
        self._traces = threading.local()  # the assignment each thread is answering
        # which process this is: the hub refuses a second process with this node's identity
        where = f"{socket.gethostname()}:{Path(store.path).parent}"
        self._instance = {"instance": uuid.uuid4().hex, "where": where}
        # participants whose keys this node checked (against its trusted peers), most recent last
        self._verified: OrderedDict[tuple[Participant, ...], dict[str, X25519PublicKey]] = (
            OrderedDict()
        )

    def policy(self, dataset: str) -> Policy:
        """The policy this node enforces for one of its datasets."""
        return self.policies.for_dataset(dataset, self.store.dataset(dataset).level)

    # -- the loop ---------------------------------------------------------------------------------

    def publish_catalog(self) -> int:
        entries = [self._catalog_entry(info) for info in self.store.datasets()]
        self.hub.request("PUT", "/api/node/datasets", json={"datasets": entries})
        if self.audit is not None:
            published = [{k: e[k] for k in ("name", "level", "fingerprint")} for e in entries]
            self.audit.record("catalog", datasets=published)
        self.announce_key()
        return len(entries)

    def _catalog_entry(self, info: DatasetInfo) -> dict[str, Any]:
        """What the catalog may say of a dataset, with the hospital's signed claim of it."""
        dictionary = info.dictionary.to_json()
        entry: dict[str, Any] = {
            "name": info.name,
            "level": info.level.value,
            "description": info.description,
            # rounded here, so the hub never holds the exact count (see round_count)
            "rows": round_count(info.rows),
            "fingerprint": info.fingerprint,
            "policy": self.policy(info.name).summary(),
            "dictionary": dictionary,
            "metadata": info.metadata.to_json(),
        }
        if self._signing_key is not None:
            claim = Claim(
                dataset=info.name,
                node=self.config.name,
                organisation=self.config.organisation,
                fingerprint=info.fingerprint,
                dictionary=dictionary_digest(dictionary),
                usage=info.metadata.usage.digest(),
            )
            entry["claim"] = claim.to_json()
            entry["claim_signature"] = sign(self._signing_key, claim.to_sign())
        return entry

    def announce_key(self) -> None:
        """Publish this node's aggregation key through the hub, signed with its signing key."""
        if self._signing_key is None or self._agreement_key is None:
            return
        public = secagg.agreement_public_text(self._agreement_key)
        version = self.store.own_key_version(public)
        announcement = secagg.KeyAnnouncement(self.config.name, public, version)
        signed = announcement.signed(self._signing_key)
        body = {"key": public, "version": version, "signature": signed.signature}
        self.hub.request("PUT", "/api/node/aggregation-key", json=body)

    def run(self, poll_seconds: float = POLL_SECONDS) -> None:
        """Serve until :meth:`stop`; a lost hub is retried with back-off, never fatal. The witness
        checks the ledger in a thread of its own, so a check never delays an assignment."""
        if self.witness is not None:
            self.witness_thread = threading.Thread(
                target=self.witness.run,
                args=(self._stop, self.witness_interval),
                name=f"causeway-witness-{self.config.name}",
                daemon=True,
            )
            self.witness_thread.start()
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self.poll_once(poll_seconds)
                backoff = 0.5
            except Exception as exc:
                if self._stop.is_set():
                    break
                if isinstance(exc, CausewayError):
                    log.warning(
                        "node %s: %s (retrying in %.1fs)", self.config.name, exc.detail, backoff
                    )
                else:
                    log.exception(
                        "node %s: unexpected error (retrying in %.1fs)", self.config.name, backoff
                    )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def stop(self) -> None:
        self._stop.set()

    def goodbye(self, connection: HubConnection | None = None) -> None:
        """Tell the hub this process stops, so a restart is served at once (best effort: a hub
        that cannot be told forgets the process after its grace period)."""
        try:
            (connection or self.hub).request(
                "DELETE", "/api/node/instance", params={"instance": self._instance["instance"]}
            )
        except CausewayError as exc:
            log.info("node %s could not say goodbye to the hub: %s", self.config.name, exc.detail)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def busy(self) -> bool:
        """Whether it is computing an assignment now (a process stopping must not close the
        store under it)."""
        return self._busy.is_set()

    def poll_once(self, wait: float = 0.0) -> int:
        """Take work and answer it; the answer to a batch's last assignment also long-polls for
        the next batch, so a busy node sends one request per assignment. Returns how many
        assignments were answered."""
        found = self.hub.request(
            "GET", "/api/node/assignments", params={"wait": wait, **self._instance}
        )
        answered = 0
        while found and not self._stop.is_set():
            batch, found = found, []
            leases = Leases(self.hub, self.config.name, batch)
            try:
                for index, item in enumerate(batch):
                    if self._stop.is_set():
                        break  # the rest are delivered again when their leases run out
                    last = index == len(batch) - 1
                    found = self.handle(
                        int(item["id"]),
                        item["payload"],
                        str(item["signature"]),
                        wait if last else 0.0,
                        leases=leases,
                    )
                    answered += 1
            finally:
                leases.close()
        return answered

    # -- one assignment -----------------------------------------------------------------------

    def handle(
        self,
        assignment_id: int,
        payload: dict[str, Any],
        signature: str,
        wait: float = 0.0,
        *,
        leases: Leases | None = None,
    ) -> list[dict[str, Any]]:
        """Compute one assignment and post the answer; returns the next assignments the hub
        sent back (waiting up to ``wait`` seconds for them). ``leases`` keeps its lease renewed
        while it is computed."""
        self._busy.set()
        try:
            body = self.answer(payload, signature, assignment_id)
        finally:
            self._busy.clear()
            if leases is not None:
                leases.release(assignment_id)
        if self._stop.is_set() and "error" in body:
            return []  # stopped on the way: the hub delivers it again when its lease runs out
        return self._post(assignment_id, body, wait)

    def answer(
        self, payload: dict[str, Any], signature: str, assignment_id: int = 0
    ) -> dict[str, Any]:
        """The body to post: a contribution, or an error. Any failure becomes an error answer,
        so a bad request can fail its task but never stop the node. With an audit log, nothing
        leaves that the log did not record first."""
        trace, failure = None, None
        try:
            trace = self._begin(payload, assignment_id)
            body: dict[str, Any] = {"contribution": self.compute(payload, signature)}
            if trace is not None:
                trace.released(body["contribution"])
        except SourceDrifted as exc:
            log.error("node %s: assignment %s: %s", self.config.name, assignment_id, exc.detail)
            detail = (
                f"node {self.config.name} cannot read this dataset: its warehouse table no longer "
                "fits the dictionary it was registered with (the node's log says how; its "
                "steward fixes the table or registers it again)"
            )
            body = {"error": {"code": exc.code, "detail": detail}}
        except CausewayError as exc:
            log.info(
                "node %s refused assignment %s: %s", self.config.name, assignment_id, exc.detail
            )
            body = {"error": {"code": exc.code, "detail": exc.detail}}
        except Exception as exc:
            log.exception("node %s failed on assignment %s", self.config.name, assignment_id)
            detail = f"node {self.config.name} hit an internal error (logged at the node)"
            body = {"error": {"code": InternalError.code, "detail": detail}}
            failure = type(exc).__name__
        finally:
            self._traces.current = None
        if trace is not None and "error" in body:
            self._refused(trace, body["error"], failure)
        return body

    def _begin(self, payload: dict[str, Any], assignment_id: int) -> Trace | None:
        if self.audit is None:
            return None
        context, fields = received(payload, assignment_id)
        trace = Trace(self.audit, context)
        trace.record("assignment", **fields)
        self._traces.current = trace
        return trace

    def _refused(self, trace: Trace, error: dict[str, Any], failure: str | None) -> None:
        """Record a refusal; one the log cannot record still goes out (it reveals nothing)."""
        extra = {} if failure is None else {"error": failure}
        try:
            trace.refused(error["code"], error["detail"], **extra)
        except OSError:
            log.exception("node %s could not write its audit log", self.config.name)

    def _stage(self, check: str) -> None:
        """Mark the check this assignment is at, for the audit log (passed when the next begins,
        failed if it raises)."""
        trace: Trace | None = getattr(self._traces, "current", None)
        if trace is not None:
            trace.stage(check)

    def _note(self, **fields: Any) -> None:
        trace: Trace | None = getattr(self._traces, "current", None)
        if trace is not None:
            trace.note(**fields)

    def _post(self, assignment_id: int, body: dict[str, Any], wait: float) -> list[dict[str, Any]]:
        """Post an answer, retrying a lost connection; the hub refuses a second answer, which
        means the first one arrived."""
        path = f"/api/node/assignments/{assignment_id}"
        for attempt in range(POST_ATTEMPTS):
            try:
                out = self.hub.request("POST", path, json=body, params={"wait": wait})
                return list(out.get("next", []))
            except PermissionDenied:
                return []  # answered already
            except Unavailable:
                if attempt == POST_ATTEMPTS - 1 or self._stop.wait(0.5 * 2**attempt):
                    raise
        return []

    def compute(self, payload: dict[str, Any], signature: str) -> dict[str, Any]:
        self._stage("signature")
        verify(self._hub_key, canonical_json(payload), signature)
        assignment = Assignment.from_json(payload)
        policy = self._check_assignment(assignment)
        spec = assignment.spec
        algorithm = get_algorithm(spec.algorithm)
        secure = assignment.secure
        if secure is None and policy.secure_aggregation:
            raise DisclosureRefused(
                f"the policy of {self.config.name} for dataset {spec.dataset!r} requires secure "
                "aggregation, and this round is not securely aggregated"
            )
        peers = None if secure is None else self._peers(secure)
        if secure is not None and algorithm.estimates_per_site:
            raise DisclosureRefused(
                f"{spec.algorithm} releases this site's own estimates, which secure aggregation "
                "refuses"
            )
        if secure is not None and secure.phase == "unmask":
            return self._reveal(assignment, secure)
        self._stage("dictionary")
        own = self.store.dataset(spec.dataset)
        dictionary = _agreeing(own.dictionary, Dictionary.from_json(assignment.dictionary))
        self._stage("request")
        # Everything up to here depends on the request and the dictionary only, so its errors
        # may say exactly what is wrong. From here on the data is read.
        prepared = self._prepared(assignment, algorithm, dictionary)
        if bool(assignment.state.get("private")) != (policy.dp is not None):
            # the node, not the hub, decides whether the private variant runs: at L1 it would
            # drop the guards that the noise replaces at L2/L3
            raise DisclosureRefused(
                f"the task's privacy mode does not match this node's policy for {spec.dataset!r}"
            )
        if policy.dp is not None:
            algorithm.check_private(prepared, dictionary)
        if assignment.round >= algorithm.max_rounds:
            raise DisclosureRefused(
                f"{spec.algorithm} takes at most {algorithm.max_rounds} rounds; this node "
                f"releases nothing for round {assignment.round}"
            )
        algorithm.check_state(prepared, assignment.state, dictionary)
        where = from_json(spec.where) if spec.where is not None else None
        # the task's cache: a dataset in a warehouse keeps what it pulled there for later rounds
        view = self.store.view(spec.dataset, where, dictionary, cache=self._cache(assignment))
        try:
            if secure is None or peers is None:
                return self._compute(assignment, prepared, policy, view, where, dictionary)
            step = self._step(payload, assignment, secure, view)
            seed, answered = self.store.masking(step)
            if answered is not None:  # delivered again: the same bytes, never a new computation
                return dict(json.loads(answered))
            out = self._compute(assignment, prepared, policy, view, where, dictionary)
            return self._masked(step, seed, peers, out)
        except BudgetExceeded:
            raise  # the budget's state, not the data
        except DisclosureRefused:
            # every refusal from here on looked at the rows and says one thing about them
            if policy.max_refusals is not None:
                self.store.approvals.count_refusal(spec.project, spec.dataset)
                self._note(refusal_counted=True)
            raise

    def _compute(
        self,
        assignment: Assignment,
        prepared: Any,
        policy: Policy,
        view: Any,
        where: Any,
        dictionary: Dictionary,
    ) -> dict[str, Any]:
        spec = assignment.spec
        cache = self._cache(assignment)
        guarded = policy.differencing and policy.min_cell_count > 1
        # the row ids first where they are needed (read a batch at a time into the cohort's
        # bitmap): a view may count them instead of the rows
        ids = (
            differencing.cohort_from_batches(view.row_id_batches())
            if guarded or policy.dp is not None
            else BitMap()
        )
        cohort = view.count()
        if cohort < policy.min_cell_count:
            # Too few rows: the answer must not depend on them at all, not even by failing, so
            # the algorithm runs on no row and the gate withholds every part.
            view = self.store.view(spec.dataset, where, dictionary, empty=True)
            return self._release(assignment, prepared, policy, view, cohort, {}, rho=None)
        released = self._check_differencing(spec, policy, ids) if guarded else None
        if released is not None:
            sets = self._check_sets(assignment, prepared, dictionary, view, cache, policy, released)
            # remembered before computing: a failure or a refusal below says something too
            self._remember(spec, policy, released, sets)
        if policy.dp is None:
            return self._release(assignment, prepared, policy, view, cohort, cache, rho=None)
        return self._noisy(assignment, prepared, policy, view, ids, cache)

    def _release(
        self,
        assignment: Assignment,
        prepared: Any,
        policy: Policy,
        view: Any,
        cohort: int,
        cache: Cache,
        rho: float | None,
    ) -> dict[str, Any]:
        """The algorithm's local step through the release gate. A failure that the data caused
        is reported without its reason (which could describe rows: "not finite at some row" is
        an oracle); the reason goes to the node's log for its steward."""
        spec = assignment.spec
        algorithm = get_algorithm(spec.algorithm)
        self._stage("release_gate")
        try:
            local = algorithm.local(view, prepared, assignment.state, cache)
        except DisclosureRefused:
            raise
        except Exception:
            log.exception(
                "node %s: %s failed on the data of %r (task %s)",
                self.config.name,
                spec.algorithm,
                spec.dataset,
                assignment.task_id,
            )
            raise DisclosureRefused(
                f"{spec.algorithm} could not be computed on this site's rows; the reason is "
                "withheld (it could describe individual rows) and logged at the node for its "
                "steward"
            ) from None
        return (
            ReleaseGate(policy)
            .release(
                local,
                algorithm.profile,
                cohort=cohort,
                memo=cache,
                rho=rho,
                task_id=assignment.task_id,
                round=assignment.round,
                dataset=spec.dataset,
                algorithm=spec.algorithm,
            )
            .to_json()
        )

    # -- secure aggregation ---------------------------------------------------------------------

    def _peers(self, secure: SecureRound) -> dict[str, X25519PublicKey]:
        """The round's participants' aggregation keys, each checked against the signing key this
        node pinned for that peer (the hub relays keys; it cannot substitute one)."""
        self._stage("secure_aggregation")
        if self._agreement_key is None or self._signing_key is None:
            raise DisclosureRefused(f"node {self.config.name} has no aggregation key")
        names = secure.names
        if len(set(names)) != len(names) or self.config.name not in names:
            raise SignatureError("the round's participants are not distinct or omit this node")
        if len(names) < MIN_PARTICIPANTS:
            raise DisclosureRefused(
                f"secure aggregation needs at least {MIN_PARTICIPANTS} participants; this round "
                f"has {len(names)}"
            )
        known = self._verified.get(secure.participants)
        if known is not None:  # the same participants, verified for an earlier phase or round
            return known
        peers = {}
        own = (public_text(self._signing_key), secagg.agreement_public_text(self._agreement_key))
        for p in secure.participants:
            if p.node == self.config.name:
                if (p.signing_key, p.key) != own:
                    raise SignatureError("the hub presents this node's own keys wrongly")
                peers[p.node] = self._agreement_key.public_key()
                continue
            announced = secagg.KeyAnnouncement(p.node, p.key, p.key_version, p.key_signature)
            key = announced.verify(load_public(p.signing_key))  # before anything is kept
            self.store.check_peer(p.node, p.signing_key, p.key_version)
            peers[p.node] = key
        with self._lock:
            self._verified[secure.participants] = peers
            while len(self._verified) > CACHED_TASKS:
                self._verified.popitem(last=False)
        return peers

    def _step(
        self, payload: dict[str, Any], assignment: Assignment, secure: SecureRound, view: Any
    ) -> MaskStep:
        """What this attempt is bound to: everything the hub sent, and the question asked of the
        data (the same in any task or round, whatever the filter's wording)."""
        # what every participant is sent alike (so the pairwise masks agree and cancel)
        sent = {k: v for k, v in payload.items() if k not in ("issued_at", "node")}
        spec = assignment.spec
        cohort = differencing.serialize(differencing.cohort_from_batches(view.row_id_batches()))
        question = {
            "project": spec.project,
            "dataset": spec.dataset,
            "algorithm": spec.algorithm,
            "params": dict(spec.params),
            "state": dict(assignment.state),
            "cohort": hashlib.sha256(cohort).hexdigest(),
        }
        return MaskStep(
            assignment.task_id,
            assignment.round,
            secure.attempt,
            hashlib.sha256(canonical_json(sent)).hexdigest(),
            hashlib.sha256(canonical_json(question)).hexdigest(),
            secure.names,
        )

    def _masked(
        self,
        step: MaskStep,
        seed: bytes,
        peers: dict[str, X25519PublicKey],
        released: dict[str, Any],
    ) -> dict[str, Any]:
        """The released contribution with its parts fixed-point encoded and masked under masks
        bound to this attempt and its question. What would describe this site alone stays here:
        the meta, the budget, and every gate check but the noise's (which the policy alone sets)."""
        assert self._agreement_key is not None
        self._stage("masking")
        item = Contribution.from_json(released)
        self._note(local_report=[c.to_json() for c in item.report])
        log.info(
            "node %s: masked release for task %s: %s", self.config.name, step.task_id, item.report
        )
        layout, vector = masking.flatten(item.parts, len(step.participants))
        context = secagg.round_context(
            step.task_id, step.round, step.attempt, step.participants, step.assignment
        )
        masked = secagg.mask(vector, self.config.name, self._agreement_key, peers, context, seed)
        report = tuple(c for c in item.report if c.outcome is Outcome.NOISED and c.check == "dp")
        out = replace(
            item,
            parts={},
            meta={},
            masked=secagg.pack(masked),
            layout=layout,
            report=report,
            budget=None,
        ).to_json()
        self.store.keep_masked(step, json.dumps(out))
        return out

    def _reveal(self, assignment: Assignment, secure: SecureRound) -> dict[str, Any]:
        self._stage("unmask")
        seed = self.store.reveal_seed(assignment.task_id, assignment.round, secure.attempt)
        spec = assignment.spec
        out = Contribution(
            assignment.task_id,
            assignment.round,
            spec.dataset,
            spec.algorithm,
            self_seed=base64.b64encode(seed).decode("ascii"),
        )
        return out.to_json()

    # -- differential privacy -----------------------------------------------------------------------

    def _noisy(
        self,
        assignment: Assignment,
        prepared: Any,
        policy: Policy,
        view: Any,
        ids: Any,
        cache: Cache,
    ) -> dict[str, Any]:
        """A noisy release, paid from the project's budget on this dataset before anything is
        computed; the same question about the same cohort gets the same answer again, free."""
        spec = assignment.spec
        algorithm = get_algorithm(spec.algorithm)
        assert policy.dp is not None
        cohort = ids
        query = hashlib.sha256(
            canonical_json(
                {
                    "algorithm": spec.algorithm,
                    "params": spec.params,
                    "round": assignment.round,
                    "state": assignment.state,
                    "cohort": hashlib.sha256(differencing.serialize(cohort)).hexdigest(),
                }
            )
        ).hexdigest()
        with self._lock:
            budget = self._budget(spec, policy)
            self._stage("budget")
            before = self.store.released(spec.project, spec.dataset, query)
            if before is not None:
                self._note(budget_spent=0.0, budget_left=_budget_json(budget), replay=True)
                replay = Check(
                    "*",
                    "dp_budget",
                    Outcome.NOISED,
                    detail="asked before: the same noisy answer again, no budget spent",
                )
                return {
                    **before,
                    "task_id": assignment.task_id,
                    "round": assignment.round,
                    "report": [*before.get("report", []), replay.to_json()],
                    "budget": _budget_json(budget),
                }
            # A query's budget is spread over the rounds its algorithm declares in advance.
            rounds = max(algorithm.private_rounds(prepared), 1)
            if assignment.round >= rounds:
                raise DisclosureRefused(
                    f"{spec.algorithm} with differential privacy takes {rounds} round(s); this "
                    f"node releases nothing for round {assignment.round}"
                )
            rho = rho_from_epsilon(policy.dp.epsilon_per_query, policy.dp.delta) / rounds
            after = budget.spend(rho)  # refused here, before any computation
            spent = after.epsilon_spent - budget.epsilon_spent
            self._note(budget_spent=spent, budget_left=_budget_json(after))
            # the spend is kept before computing: a failure costs what a release costs
            self.store.record_budget(spec.project, spec.dataset, after.to_json())
            released = Contribution.from_json(
                self._release(assignment, prepared, policy, view, view.count(), cache, rho=rho)
            )
            report = Check(
                "*",
                "dp_budget",
                Outcome.NOISED,
                detail=(
                    f"epsilon {spent:.4g} spent (delta "
                    f"{after.delta:g}); {after.epsilon_left:.4g} of {after.epsilon:g} left"
                ),
            )
            out = {
                **released.to_json(),
                "report": [*(c.to_json() for c in released.report), report.to_json()],
                "budget": _budget_json(after),
            }
            self.store.record_release(spec.project, spec.dataset, query, out, after.to_json())
            return out

    def _budget(self, spec: TaskSpec, policy: Policy) -> Budget:
        assert policy.dp is not None
        stored = self.store.budget(spec.project, spec.dataset) or {}
        return Budget(policy.dp.epsilon, policy.dp.delta, float(stored.get("rho_spent", 0.0)))

    def budget(self, project: str, dataset: str) -> Budget | None:
        """What ``project`` has left to spend on ``dataset`` here (None: no noise asked)."""
        policy = self.policy(dataset)
        if policy.dp is None:
            return None
        return self._budget(TaskSpec(algorithm="count", dataset=dataset, project=project), policy)

    def _check_usage(self, spec: TaskSpec, terms: ProjectTerms) -> None:
        """The dataset's usage terms here, as the node holds them now: unchanged since the project
        accepted them (in the terms its steward approved), and allowing its use, this analysis
        and today's date."""
        usage = self.store.dataset(spec.dataset).metadata.usage
        where = f"dataset {spec.dataset!r} at {self.config.name}"
        accepted = terms.accepted_digest(spec.dataset, self.config.name)
        if accepted != usage.digest() and (accepted is not None or usage.restricted):
            raise PermissionDenied(
                f"the usage terms of {where} changed since project {terms.project!r} accepted "
                "them (or it never did): the project must accept the current terms"
            )
        usage.check(terms.use, spec.algorithm, dt.datetime.now(dt.UTC).date(), where)

    def _hub_terms(self, project: str) -> ProjectTerms:
        """The project's terms as the hub states them now (checked against their digest), to
        name what changed when an assignment's digest is not the approved one."""
        return steward.project(self.hub, self.config.name, project).terms

    def _check_assignment(self, assignment: Assignment) -> Policy:
        if assignment.node != self.config.name:
            raise SignatureError(
                f"the assignment is addressed to {assignment.node!r}, not this node"
            )
        age = time.time() - assignment.issued_at
        if age > MAX_ASSIGNMENT_AGE_SECONDS:
            raise SignatureError("the assignment is too old to act on")
        if age < -MAX_CLOCK_SKEW_SECONDS:
            raise SignatureError(
                f"the assignment is dated {-age:.0f}s in the future (beyond the clock skew of "
                f"{MAX_CLOCK_SKEW_SECONDS:.0f}s this node allows); refusing"
            )
        if self.witness is not None:
            self._stage("ledger")  # no open alarm of the node's witness of the hub's ledger
            self.witness.state.refuse_if_alarmed(self.config.name)
        self._stage("approval")  # the dataset and algorithm exist here, the steward approved
        spec = assignment.spec
        level = self.store.dataset(spec.dataset).level
        algorithm = get_algorithm(spec.algorithm)
        stated = StatedTerms(
            spec.project, assignment.terms_digest, lambda: self._hub_terms(spec.project)
        )
        approval = self.store.approvals.check(
            stated, spec.dataset, spec.algorithm, assignment.requester, self.config.name
        )
        if spec.dataset not in approval.terms.datasets:  # (approve keeps only the terms' own)
            raise PermissionDenied(
                f"project {spec.project!r} as approved at {self.config.name} does not cover "
                f"dataset {spec.dataset!r}"
            )
        self._check_usage(spec, approval.terms)
        policy = self.policy(spec.dataset)
        self._stage("suspension")
        refused = self.store.approvals.refusals(spec.project, spec.dataset)
        if policy.max_refusals is not None and refused >= policy.max_refusals:
            raise PermissionDenied(
                f"project {spec.project!r} is suspended on dataset {spec.dataset!r} at "
                f"{self.config.name} after {refused} refused queries; its steward reviews them "
                "and approves the project again to lift it"
            )
        self._stage("policy")
        if not policy.allows(spec.algorithm):
            raise DisclosureRefused(
                f"the policy of {self.config.name} does not allow {spec.algorithm} on "
                f"dataset {spec.dataset!r}"
            )
        if algorithm.estimates_per_site and not policy.per_site_estimates:
            raise DisclosureRefused(
                f"the policy of {self.config.name} for dataset {spec.dataset!r} forbids "
                f"per-site estimates ({spec.algorithm}, per_site): fit the pooled model instead"
            )
        if level in (Level.L2, Level.L3) and policy.dp is None:
            raise DisclosureRefused(
                f"dataset {spec.dataset!r} is {level.value}: its policy must ask for differential "
                "privacy, and this node's does not, so it releases nothing"
            )
        if policy.hold_for_review and not spec.held:
            raise DisclosureRefused(
                f"dataset {spec.dataset!r} releases only outputs held at the hub for two output "
                "checkers, and this task's output is not held"
            )
        return policy

    # -- differencing -----------------------------------------------------------------------------

    def _memory(self, spec: TaskSpec, policy: Policy) -> differencing.CohortMemory:
        key = (spec.project, spec.dataset)
        with self._lock:
            memory = self._memories.get(key)
            if memory is None or memory.threshold != policy.min_cell_count:
                memory = differencing.CohortMemory(
                    policy.min_cell_count,
                    (differencing.deserialize(b) for b in self.store.cohorts(*key)),
                    ((k, differencing.deserialize(b)) for k, b in self.store.released_sets(*key)),
                )
                self._memories[key] = memory
            return memory

    def _check_differencing(self, spec: TaskSpec, policy: Policy, ids: BitMap) -> BitMap:
        """Refuse a cohort a few rows away from one already released for this project and
        dataset (on every assignment: the hub's task ids and rounds are not trusted); returns
        the cohort, to remember."""
        self._stage("differencing")
        self._memory(spec, policy).check(ids)
        return ids

    def _check_sets(
        self,
        assignment: Assignment,
        prepared: Any,
        dictionary: Dictionary,
        view: Any,
        cache: Cache,
        policy: Policy,
        cohort: BitMap,
    ) -> list[tuple[str, BitMap]]:
        """Refuse a release whose groups, cells or intervals (as its algorithm declares them
        for this round) lie a few rows away from a cohort or set already released; returns the
        sets, to remember. The sets of a round are found once per task and question."""
        spec = assignment.spec
        algorithm = get_algorithm(spec.algorithm)
        partitions = algorithm.partitions(prepared, assignment.state, dictionary)
        if not partitions:
            return []
        known = cache.get("causeway:released_sets")
        if known is not None and known[0] == partitions:
            found: list[tuple[str, BitMap]] = known[1]
        else:
            names = list(dict.fromkeys(n for p in partitions for n in p.names))
            groups: dict[tuple[int, Hashable], BitMap] = {}
            with contextlib.closing(view.labelled(names)) as batches:
                for ids, frame in batches:
                    for number, key, members in partition_sets(ids, frame, partitions):
                        rows = differencing.cohort_from_ids(members)
                        groups.setdefault((number, key), BitMap()).update(rows)
            found = [(partitions[number].kind, rows) for (number, _), rows in groups.items()]
            cache["causeway:released_sets"] = (partitions, found)
        self._memory(spec, policy).check_sets(found, within=cohort)
        return found

    def _remember(
        self, spec: TaskSpec, policy: Policy, cohort: BitMap, sets: list[tuple[str, BitMap]]
    ) -> None:
        memory = self._memory(spec, policy)
        with self._lock:
            if memory.remember(cohort):
                self.store.remember_cohort(
                    spec.project, spec.dataset, differencing.serialize(cohort)
                )
            for kind, group in sets:
                if len(group) >= policy.min_cell_count and memory.remember(group, kind=kind):
                    self.store.remember_set(
                        spec.project, spec.dataset, kind, differencing.serialize(group)
                    )

    def _prepared(self, assignment: Assignment, algorithm: Any, dictionary: Dictionary) -> Any:
        """The task's parameters checked against the dictionary: once per task and question
        (what they give depends on them alone), again if the dictionary changed."""
        cache = self._cache(assignment)
        known = cache.get("causeway:prepared")
        if known is not None and known[0] == dictionary:
            return known[1]
        spec = assignment.spec
        # Tasks asking the same (a model refitted, a count repeated) share the checked form too:
        # checking a formula against the dictionary costs a GLM's round 0 more than its rows
        key = hashlib.sha256(
            canonical_json({"algorithm": spec.algorithm, "params": spec.params})
        ).hexdigest()
        shared = self._prepared_specs.get(key)
        if shared is not None and shared[0] == dictionary:
            prepared = shared[1]
        else:
            prepared = algorithm.prepare(spec.params, dictionary)
            self._prepared_specs.put(key, (dictionary, prepared))
        cache["causeway:prepared"] = (dictionary, prepared)
        return prepared

    def _cache(self, assignment: Assignment) -> Cache:
        """The task's cache (the design built in round 0, designs already judged), bound to the
        question: a task id the hub re-uses for another question gets nothing of it."""
        spec = assignment.spec
        question = hashlib.sha256(
            canonical_json(
                {
                    "algorithm": spec.algorithm,
                    "dataset": spec.dataset,
                    "project": spec.project,
                    "where": spec.where,
                    "params": spec.params,
                    "dictionary": assignment.dictionary,
                }
            )
        ).hexdigest()
        task_id = f"{assignment.task_id}:{question}"
        cache = self._caches.pop(task_id, None) or {}
        self._caches[task_id] = cache
        while len(self._caches) > CACHED_TASKS:
            self._caches.popitem(last=False)
        return cache


def _budget_json(budget: Budget) -> dict[str, float]:
    return {
        "epsilon": budget.epsilon,
        "delta": budget.delta,
        "epsilon_spent": budget.epsilon_spent,
        "epsilon_left": budget.epsilon_left,
    }


def _agreeing(own: Dictionary, catalog: Dictionary) -> Dictionary:
    """The catalog's dictionary, if it agrees with this node's own (same columns and types, and
    every level and bound of ours within it); otherwise refuse."""
    try:
        merged = catalog.merge(own)
    except CausewayError as exc:
        raise PermissionDenied(
            f"the catalog's dictionary disagrees with this node's: {exc}"
        ) from None
    if merged != catalog:
        raise PermissionDenied(
            "the catalog's dictionary does not cover this node's levels or bounds"
        )
    return catalog
