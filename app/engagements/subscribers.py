"""Who hears of engagement events: subscribers named by job name, so the engagement domain
imports none of them. Each job takes one argument, `event_id` (a string), reads the event
(`app.engagements.events.get_event`) and claims it (`claim`) in the transaction of its work.

Add a subscriber by registering its job (in its own domain's `jobs.py`, listed in
`app.jobs.queue.JOB_MODULES`) and naming it here with the kinds it wants (`ALL` for every
kind). `tests/engagements/test_lifecycle.py` checks every name is a registered job.
"""

from __future__ import annotations

ALL: frozenset[str] = frozenset({"*"})

SUBSCRIBERS: dict[str, frozenset[str]] = {
    "webhooks.fan_out": ALL,
    # Compliance documents: generated on confirmation, kept current as the engagement changes
    # (app/documents/jobs.py; its EVENT_KINDS must match, a test checks).
    "documents.on_engagement_event": frozenset(
        {
            "engagement.confirmed",
            "engagement.scope_changed",
            "engagement.roster_changed",
            "engagement.canceled",
            "director.joined",
            "director.ended",
            "director.rescheduled",
        }
    ),
}


def subscribers_of(kind: str) -> list[str]:
    """The job names to queue for an event of `kind`, in a stable order."""
    return sorted(name for name, kinds in SUBSCRIBERS.items() if "*" in kinds or kind in kinds)
