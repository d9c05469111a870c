"""Held outputs, for output checkers: each pending result with a release / reject / changes
form (:mod:`causeway.hub.review` decides who may decide)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from causeway.hub import review
from causeway.hub.deps import HubDep
from causeway.hub.web.page import PageRoute, render
from causeway.hub.web.results import present
from causeway.hub.web.session import PostedDep, SignedInDep

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)


@router.get("/reviews")
def held_outputs(request: Request, viewer: SignedInDep, hub: HubDep) -> Response:
    held = hub.run(lambda s: review.pending(s, viewer.user))
    shown = [(h, present(h.algorithm, h.result)) for h in held]
    return render(request, "reviews.html", held=shown, decisions=[d.value for d in review.Decision])


@router.post("/reviews/{task_id}")
def decide(task_id: str, viewer: SignedInDep, form: PostedDep, hub: HubDep) -> Response:
    decision = review.Decision.parse(form.text("decision"))
    comment = form.text("comment")
    hub.run(lambda s: review.decide(s, viewer.user, task_id, decision, comment))
    hub.changed(task_id, [])
    return RedirectResponse("/ui/reviews", status_code=303)
