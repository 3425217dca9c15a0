"""Reminders of the filings state rules oblige (app/documents/filings.py), derived each day
from the filings' deadlines on the app's clock: a missed run loses nothing (the next one sends
what is due then), and tests move the clock instead of waiting."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.documents.filings import DUE_SOON_DAYS
from app.documents.models import Filing, FilingParty, FilingStatus
from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.kit.clock import today
from app.notifications.recipients import clinic_admin_ids, physician_user_id
from app.notifications.service import notify, notify_ops


class Reminder(StrEnum):
    """In the order they fall due; each goes once (`Filing.reminders_sent`)."""

    due_soon = "due_soon"
    due_tomorrow = "due_tomorrow"
    overdue = "overdue"


def reminder_due(due_on: date | None, on: date) -> Reminder | None:
    """The reminder a filing due `due_on` calls for on `on` (none: nothing yet, or no date)."""
    if due_on is None:
        return None
    days = (due_on - on).days
    if days < 0:
        return Reminder.overdue
    if days <= 1:
        return Reminder.due_tomorrow
    if days <= DUE_SOON_DAYS:
        return Reminder.due_soon
    return None


@dataclass
class ReminderRun:
    due_soon: int = 0
    due_tomorrow: int = 0
    overdue: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "due_soon": self.due_soon,
            "due_tomorrow": self.due_tomorrow,
            "overdue": self.overdue,
        }


_ORDER = list(Reminder)


async def send_reminders(session: AsyncSession, *, on: date) -> ReminderRun:
    """Send each open filing the reminder its deadline calls for on `on`, once: the rows are
    locked (SKIP LOCKED: a concurrent run takes the others) and `reminders_sent` is updated in
    the same transaction as the notifications, so a redelivered run sends nothing twice. A
    reminder passed over (the task opened two days before its deadline) is not sent late."""
    run = ReminderRun()
    filings = await session.scalars(
        select(Filing)
        .where(
            Filing.status == FilingStatus.open.value,
            Filing.due_on.is_not(None),
            Filing.due_on <= on + timedelta(days=DUE_SOON_DAYS),
            # Overdue is the last reminder: a filing told it is overdue leaves the sweep.
            ~Filing.reminders_sent.contains([Reminder.overdue.value]),
        )
        .order_by(Filing.due_on, Filing.id)
        .with_for_update(skip_locked=True)
    )
    for filing in list(filings):
        reminder = reminder_due(filing.due_on, on)
        if reminder is None:
            continue
        sent = set(filing.reminders_sent)
        if any(r.value in sent for r in _ORDER[_ORDER.index(reminder) :]):
            continue
        await _remind(session, filing, reminder, on)
        filing.reminders_sent = [*filing.reminders_sent, reminder.value]
        setattr(run, reminder.value, getattr(run, reminder.value) + 1)
    await session.flush()
    return run


async def _recipients(session: AsyncSession, filing: Filing) -> list[uuid.UUID]:
    if filing.responsible == FilingParty.director.value:
        if filing.physician_id is None:
            return []
        return [await physician_user_id(session, filing.physician_id)]
    return await clinic_admin_ids(session, filing.clinic_id)


async def _remind(session: AsyncSession, filing: Filing, reminder: Reminder, on: date) -> None:
    assert filing.due_on is not None
    data = {
        "engagement_id": str(filing.engagement_id),
        "filing_id": str(filing.id),
        "state": filing.state,
        "due_on": filing.due_on.isoformat(),
    }
    citation = (filing.source or {}).get("citation")
    cited = f" ({citation})" if citation else ""
    what = f"{filing.what} — with the {filing.filed_with}{cited}"
    if reminder is Reminder.overdue:
        title = f"Overdue {filing.state} filing (was due {filing.due_on.isoformat()})"
        body = f"{what}. It was due on {filing.due_on.isoformat()}; file it now."
        for user_id in await _recipients(session, filing):
            await notify(
                session,
                user_id=user_id,
                kind="documents.filing_overdue",
                title=title,
                body=body,
                data=data,
                email=True,
            )
        await notify_ops(
            session,
            kind="documents.filing_overdue",
            title=title,
            body=body + f" Owed by the {filing.responsible}.",
            data=data,
            email=True,
        )
        return
    days = (filing.due_on - on).days
    when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
    title = f"{filing.state} filing due {when}"
    body = f"{what}. Due on {filing.due_on.isoformat()}."
    for user_id in await _recipients(session, filing):
        await notify(
            session,
            user_id=user_id,
            kind="documents.filing_due",
            title=title,
            body=body,
            data=data,
            email=True,
        )


@queue.periodic(cron="0 14 * * *", periodic_id="documents-remind-filings")
@queue.task(name="documents.remind_filings", queueing_lock="documents-remind-filings")
async def remind_filings(timestamp: int) -> dict[str, int]:
    """Daily (14:00 UTC): tell whoever owes an open filing that it is due within 7 days, due
    by tomorrow, or overdue (operations too), each once."""
    async with get_runtime().sessionmaker() as session:
        run = await send_reminders(session, on=today())
        await session.commit()
    return run.as_dict()
