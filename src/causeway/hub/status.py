"""The life-cycle states the hub stores, as enums whose values are the strings in the database
and on the wire (so changing a name here never needs a migration; changing a value would)."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    RUNNING = "running"  # a round is out at the sites
    HELD = "held"  # finished, waiting for two output checkers
    DONE = "done"  # finished and released
    FAILED = "failed"


class AssignmentStatus(StrEnum):
    PENDING = "pending"  # queued, not yet delivered
    CLAIMED = "claimed"  # delivered to its node, leased until answered or the lease runs out
    DONE = "done"  # answered with a contribution
    FAILED = "failed"  # answered with an error
    STALE = "stale"  # its task ended (failed, timed out) before it was answered


# still waiting for the node's answer
OPEN_ASSIGNMENT = (AssignmentStatus.PENDING, AssignmentStatus.CLAIMED)


class ProjectStatus(StrEnum):
    """A project's state at the hub, computed from its reviews (see :mod:`causeway.hub.applications`);
    the node keeps its own steward's decision and never takes this one's word."""

    UNDER_REVIEW = "under_review"  # an application some required approval is still missing from
    APPROVED = "approved"
    REJECTED = "rejected"  # by a reviewer or a steward: the application ends
    SUSPENDED = "suspended"  # by a steward or an admin, until they approve again
    REVOKED = "revoked"  # by a steward (until they approve again) or an admin (for good)
    WITHDRAWN = "withdrawn"  # by the applicant
    EXPIRED = "expired"  # its approval ran out


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # refused at once; an admin may reinstate
    DELETED = "deleted"  # kept (tasks and reviews name them), never signs in again
