"""Engagement events reach endpoints: the fan-out job writes one delivery per endpoint that
wants the event, each attempt POSTs the signed event to a real HTTP receiver and is logged with
its answer; failures are retried with backoff, then the delivery fails and the clinic's admins
are told; replays send again; redelivered jobs do nothing twice."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from app.engagements.events import EventKind
from app.kit.clock import travel, utcnow
from app.notifications.models import Notification
from app.webhooks import delivery as engine
from app.webhooks import jobs
from app.webhooks.delivery import retry_delay
from app.webhooks.models import WebhookDelivery
from app.webhooks.signing import InvalidSignature, parse_header, verify
from tests.billing.helpers import confirmed_engagement
from tests.factories import ops_headers
from tests.webhooks.helpers import (
    PROBLEMS,
    attempts_of,
    delivery_of,
    job_settings,
    mark_done,
    other_clinic,
    queued,
    record_event,
    register_endpoint,
    run_deliveries,
    run_fan_out,
)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


async def test_an_event_reaches_the_clinics_endpoint_signed_with_its_secret(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(
        client, engaged.admin, receiver.url, ["engagement.activated"]
    )
    event = await record_event(session, engaged, EventKind.activated)

    assert await run_fan_out(session, event) == 1
    [job] = await queued(session)
    assert job.args["attempt"] == 1
    assert await run_deliveries(session) == ["delivered"]

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/mdmatch")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("mdmatch-webhooks/")
    assert request.headers["mdmatch-event-id"] == str(event.id)
    sent = json.loads(request.body)
    assert sent == {
        "id": str(event.id),
        "type": "engagement.activated",
        "sequence": event.seq,
        "occurred_at": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "created": int(event.occurred_at.timestamp()),
        "engagement_id": engaged.id,
        "clinic_id": engaged.clinic["id"],
        "data": {"from": "pending_payment", "to": "active", "reason": "paid"},
    }
    header = request.headers["mdmatch-signature"]
    assert verify(request.body, header, endpoint["secret"], tolerance=300)
    timestamp, signatures = parse_header(header)
    assert len(signatures) == 1
    assert abs(timestamp - utcnow().timestamp()) < 60
    try:
        verify(request.body, header, "whsec_someone_else")
        raise AssertionError("a wrong secret verified")
    except InvalidSignature:
        pass

    row = await delivery_of(session, event.id, endpoint["id"])
    assert row.status == "delivered"
    assert row.delivered_at is not None
    [attempt] = await attempts_of(session, row.id)
    assert (attempt.outcome, attempt.status_code, attempt.response_body) == ("succeeded", 200, "ok")
    assert attempt.duration_ms is not None
    assert attempt.duration_ms >= 0
    log = await client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=engaged.admin
    )
    assert log.status_code == 200, log.text
    [item] = log.json()["items"]
    assert item["event_type"] == "engagement.activated"
    assert item["engagement_id"] == engaged.id
    assert item["status"] == "delivered"
    assert item["attempts"][0]["status_code"] == 200
    assert item["attempts"][0]["trigger"] == "automatic"


async def test_only_endpoints_that_want_the_kind_get_it_and_another_clinics_never(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    admin = engaged.admin
    wants = await register_endpoint(client, admin, receiver.url, ["engagement.activated"])
    other_kind = await register_endpoint(client, admin, receiver.url, ["engagement.canceled"])
    disabled = await register_endpoint(client, admin, receiver.url, ["*"], enabled=False)
    other = await other_clinic(client)
    foreign = await register_endpoint(client, other.admin, receiver.url, ["*"])
    ops = await ops_headers(client, session, settings)
    platform = await register_endpoint(client, ops, receiver.url, ["*"])
    platform_other_kind = await register_endpoint(client, ops, receiver.url, ["director.ended"])

    event = await record_event(session, engaged, EventKind.activated)
    assert await run_fan_out(session, event) == 2
    got = set(
        await session.scalars(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id)
        )
    )
    assert got == {uuid.UUID(wants["id"]), uuid.UUID(platform["id"])}
    for endpoint in (other_kind, disabled, foreign, platform_other_kind):
        assert uuid.UUID(endpoint["id"]) not in got
    assert sorted(await run_deliveries(session)) == ["delivered", "delivered"]
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["engagement.activated"] * 2
    # The other clinic's log is empty; the platform's shows the clinic's event.
    foreign_log = await client.get(
        f"/v1/webhook-endpoints/{foreign['id']}/deliveries", headers=other.admin
    )
    assert foreign_log.json()["items"] == []
    platform_log = await client.get(
        f"/v1/webhook-endpoints/{platform['id']}/deliveries", headers=ops
    )
    assert [d["event_id"] for d in platform_log.json()["items"]] == [str(event.id)]


async def test_a_redelivered_fan_out_or_delivery_does_nothing_twice(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, receiver.url)
    event = await record_event(session, engaged)
    assert await jobs.fan_out(str(event.id)) == 1
    assert await jobs.fan_out(str(event.id)) == 0  # the claim is taken
    await session.commit()
    [job] = await queued(session)
    assert await jobs.deliver(**job.args) == "delivered"
    assert await jobs.deliver(**job.args) == "done-before"
    assert len(receiver.requests) == 1
    row = await delivery_of(session, event.id, endpoint["id"])
    assert row.attempts == 1
    assert len(await attempts_of(session, row.id)) == 1


async def test_a_500_is_logged_and_retried_with_backoff_then_fails_and_the_clinic_is_told(
    client, session, settings, receiver, bound_app
):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, receiver.url)
    receiver.answer(500, b"upstream exploded", times=3)
    event = await record_event(session, engaged)
    await run_fan_out(session, event)
    with job_settings(webhook_max_attempts=3):
        [first] = await queued(session)
        assert await jobs.deliver(**first.args) == "retry"
        row = await delivery_of(session, event.id, endpoint["id"])
        [attempt] = await attempts_of(session, row.id)
        assert (attempt.outcome, attempt.status_code) == ("failed", 500)
        assert attempt.response_body == "upstream exploded"
        assert row.status == "pending"
        assert row.next_attempt_at is not None
        wait = row.next_attempt_at - (attempt.finished_at or utcnow())
        assert wait == timedelta(minutes=1)
        [second] = [j for j in await queued(session) if j.id != first.id]
        assert second.args["attempt"] == 2
        assert second.scheduled_at == row.next_attempt_at  # waits in the queue

        assert await jobs.deliver(**second.args) == "retry"
        row = await delivery_of(session, event.id, endpoint["id"])
        attempts = await attempts_of(session, row.id)
        assert row.next_attempt_at is not None
        assert row.next_attempt_at - (attempts[-1].finished_at or utcnow()) == timedelta(minutes=5)
        [third] = [j for j in await queued(session) if j.args["attempt"] == 3]
        assert await jobs.deliver(**third.args) == "failed"

    row = await delivery_of(session, event.id, endpoint["id"])
    assert (row.status, row.next_attempt_at) == ("failed", None)
    assert row.failed_at is not None
    attempts = await attempts_of(session, row.id)
    assert [(a.number, a.outcome, a.status_code) for a in attempts] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "failed", 500),
    ]
    assert not [j for j in await queued(session) if j.args.get("attempt") == 4]
    assert len(receiver.requests) == 3
    notes = list(
        await session.scalars(
            select(Notification).where(
                Notification.kind == "webhook.delivery_failed",
                Notification.data["delivery_id"].astext == str(row.id),
            )
        )
    )
    assert len(notes) == 1  # the clinic's owner
    assert notes[0].email_status == "pending"  # e-mailed too
    assert "HTTP 500" in notes[0].body
    assert "replay" in notes[0].body
    log = await client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries",
        params={"status": "failed"},
        headers=engaged.admin,
    )
    [item] = log.json()["items"]
    assert [a["status_code"] for a in item["attempts"]] == [500, 500, 500]
    assert item["failed_at"] is not None


def test_the_backoff_ladder():
    from app.config import Settings

    settings = Settings(_env_file=None)
    assert [retry_delay(settings, n) for n in range(1, 9)] == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    assert settings.webhook_max_attempts == 8


async def test_a_timeout_and_a_refused_connection_are_logged_as_errors(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    slow = await register_endpoint(client, engaged.admin, receiver.url)
    down = await register_endpoint(client, engaged.admin, closed_port_url())
    receiver.answer(200, b"too late", delay=3)
    event = await record_event(session, engaged)
    await run_fan_out(session, event)
    with job_settings(webhook_timeout_seconds=0.5):
        assert sorted(await run_deliveries(session)) == ["retry", "retry"]
    [timed_out] = await attempts_of(session, (await delivery_of(session, event.id, slow["id"])).id)
    assert timed_out.status_code is None
    assert timed_out.error == "timed out after 0.5 s"
    assert timed_out.duration_ms is not None
    assert 400 <= timed_out.duration_ms < 3000
    [refused] = await attempts_of(session, (await delivery_of(session, event.id, down["id"])).id)
    assert refused.status_code is None
    assert refused.error is not None
    assert "Connect" in refused.error


async def test_replay_sends_again_as_a_new_attempt(client, session, settings, receiver):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, receiver.url)
    receiver.answer(503, b"maintenance")
    event = await record_event(session, engaged)
    await run_fan_out(session, event)
    with job_settings(webhook_max_attempts=1):
        assert await run_deliveries(session) == ["failed"]
    row = await delivery_of(session, event.id, endpoint["id"])

    replayed = await client.post(f"/v1/webhook-deliveries/{row.id}/replay", headers=engaged.admin)
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["status"] == "failed"
    [job] = await queued(session)
    assert job.args["replay_id"]
    assert await run_deliveries(session) == ["delivered"]
    assert await jobs.deliver(**job.args) == "done-before"  # a redelivered replay job
    await session.commit()
    row = await delivery_of(session, event.id, endpoint["id"])
    assert row.status == "delivered"
    attempts = await attempts_of(session, row.id)
    assert [(a.number, a.trigger, a.outcome) for a in attempts] == [
        (1, "automatic", "failed"),
        (2, "replay", "succeeded"),
    ]
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body  # the same event
    # A delivered event may be replayed too; a failed replay leaves it delivered.
    receiver.answer(500)
    again = await client.post(f"/v1/webhook-deliveries/{row.id}/replay", headers=engaged.admin)
    assert again.status_code == 202
    assert await run_deliveries(session) == ["replay-failed"]
    row = await delivery_of(session, event.id, endpoint["id"])
    assert row.status == "delivered"
    assert [a.outcome for a in await attempts_of(session, row.id)][-1] == "failed"
    # A disabled endpoint's deliveries are not replayed.
    await client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False}, headers=engaged.admin
    )
    refused = await client.post(f"/v1/webhook-deliveries/{row.id}/replay", headers=engaged.admin)
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEMS + "webhook-endpoint-disabled"
    missing = await client.post(
        f"/v1/webhook-deliveries/{uuid.uuid4()}/replay", headers=engaged.admin
    )
    assert missing.status_code == 404


async def test_during_a_roll_each_delivery_carries_both_signatures(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, receiver.url)
    rolled = (
        await client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/roll-secret", headers=engaged.admin
        )
    ).json()
    event = await record_event(session, engaged)
    await run_fan_out(session, event)
    assert await run_deliveries(session) == ["delivered"]
    [request] = receiver.requests
    header = request.headers["mdmatch-signature"]
    _, signatures = parse_header(header)
    assert len(signatures) == 2
    assert verify(request.body, header, rolled["secret"])  # the new secret
    assert verify(request.body, header, endpoint["secret"])  # the old one, for 24 hours
    # After the grace period only the new secret signs.
    with travel(timedelta(hours=25)):
        later = await record_event(session, engaged, EventKind.past_due)
        await run_fan_out(session, later)
        assert await run_deliveries(session) == ["delivered"]
        header = receiver.requests[-1].headers["mdmatch-signature"]
        now = utcnow().timestamp()
    _, signatures = parse_header(header)
    assert len(signatures) == 1
    assert verify(receiver.requests[-1].body, header, rolled["secret"], now=now)
    try:
        verify(receiver.requests[-1].body, header, endpoint["secret"], now=now)
        raise AssertionError("the expired secret still signs")
    except InvalidSignature:
        pass


async def test_a_disabled_endpoint_is_skipped(client, session, settings, receiver):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, receiver.url)
    event = await record_event(session, engaged)
    assert await run_fan_out(session, event) == 1
    await client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": False}, headers=engaged.admin
    )
    assert await run_deliveries(session) == ["skipped"]
    assert receiver.requests == []
    row = await delivery_of(session, event.id, endpoint["id"])
    assert row.status == "skipped"
    assert await attempts_of(session, row.id) == []
    # Disabled at fan-out time: no delivery at all.
    later = await record_event(session, engaged, EventKind.past_due)
    assert await run_fan_out(session, later) == 0


async def test_the_sweep_closes_an_attempt_a_stopped_worker_left_open(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, receiver.url)
    event = await record_event(session, engaged)
    await run_fan_out(session, event)
    row = await delivery_of(session, event.id, endpoint["id"])
    [job] = await queued(session)
    # The worker wrote the attempt, then died before the answer was recorded.
    started = await engine.start_attempt(session, row.id, attempt=1)
    assert not isinstance(started, str)
    await session.commit()
    assert await jobs.sweep(0) == {"closed": 0, "requeued": 0, "fanned_out": 0}  # not stale yet
    with travel(timedelta(minutes=5)):
        assert await jobs.sweep(0) == {"closed": 1, "requeued": 0, "fanned_out": 0}
    [attempt] = await attempts_of(session, row.id)
    assert attempt.outcome == "failed"
    assert attempt.error is not None
    assert "worker stopped" in attempt.error
    # The job run again by the stalled-job sweep finds its attempt made; the retry is queued.
    assert await jobs.deliver(**job.args) == "done-before"
    await mark_done(session, job.id)
    retry = [j for j in await queued(session) if j.args.get("attempt") == 2]
    assert len(retry) == 1
    # A retry whose job waits is left alone; one whose job was lost is queued again once overdue.
    with travel(timedelta(minutes=30)):
        assert (await jobs.sweep(0))["requeued"] == 0
        await session.execute(
            text("DELETE FROM procrastinate_jobs WHERE id = :id"), {"id": retry[0].id}
        )
        await session.commit()
        assert (await jobs.sweep(0))["requeued"] == 1
        assert (await jobs.sweep(0))["requeued"] == 0
        assert await run_deliveries(session) == ["delivered"]
    assert len(receiver.requests) == 1


async def test_a_host_resolving_to_a_non_public_address_is_not_sent_to(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, receiver.url)
    event = await record_event(session, engaged)
    await run_fan_out(session, event)
    # Loopback is allowed here only by the test setting; without it, 127.0.0.1 is private.
    with job_settings(webhook_allow_http_loopback=False):
        assert await run_deliveries(session) == ["retry"]
    assert receiver.requests == []
    [attempt] = await attempts_of(
        session, (await delivery_of(session, event.id, endpoint["id"])).id
    )
    assert attempt.status_code is None
    assert attempt.error == "refused: 127.0.0.1 resolves to a non-public address (127.0.0.1)"


async def fan_out_jobs(session, event) -> list[int]:
    return [
        j.id
        for j in await queued(session, "webhooks.fan_out")
        if j.args["event_id"] == str(event.id)
    ]


async def test_the_sweep_queues_again_a_fan_out_that_failed_for_good_or_was_lost(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, receiver.url)
    failed = await record_event(session, engaged)
    lost = await record_event(session, engaged, EventKind.past_due)
    waiting = await record_event(session, engaged, EventKind.ending)
    # The first's job failed every retry; the second's vanished; the third's still waits.
    [failed_job] = await fan_out_jobs(session, failed)
    await session.execute(
        text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :id"), {"id": failed_job}
    )
    [lost_job] = await fan_out_jobs(session, lost)
    await session.execute(text("DELETE FROM procrastinate_jobs WHERE id = :id"), {"id": lost_job})
    await session.commit()

    assert (await jobs.sweep(0))["fanned_out"] == 0  # minutes old only: retries may yet come
    with travel(engine.FAN_OUT_REPAIR_AFTER + timedelta(minutes=1)):
        assert (await jobs.sweep(0))["fanned_out"] == 2
        assert len(await fan_out_jobs(session, failed)) == 1
        assert len(await fan_out_jobs(session, lost)) == 1
        assert len(await fan_out_jobs(session, waiting)) == 1  # its own, not a second
        assert (await jobs.sweep(0))["fanned_out"] == 0  # their jobs wait now
        assert await run_fan_out(session, failed) == 1
        assert await run_fan_out(session, lost) == 1
        assert sorted(await run_deliveries(session)) == ["delivered", "delivered"]
        assert (await jobs.sweep(0))["fanned_out"] == 0  # fanned out: their receipts are there
    assert {json.loads(r.body)["id"] for r in receiver.requests} == {str(failed.id), str(lost.id)}
    for event in (failed, lost):
        assert (await delivery_of(session, event.id, endpoint["id"])).status == "delivered"


async def test_the_fan_out_repair_is_bounded_and_leaves_old_events_alone(
    client, session, settings, monkeypatch
):
    engaged = await confirmed_engagement(client, session, settings)
    events_ = [await record_event(session, engaged) for _ in range(3)]
    for event in events_:
        for job_id in await fan_out_jobs(session, event):
            await session.execute(
                text("DELETE FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
            )
    await session.commit()
    monkeypatch.setattr(engine, "SWEEP_BATCH", 2)
    with travel(engine.FAN_OUT_REPAIR_AFTER + timedelta(minutes=1)):
        assert (await jobs.sweep(0))["fanned_out"] == 2  # the oldest two
        assert [len(await fan_out_jobs(session, e)) for e in events_] == [1, 1, 0]
        assert (await jobs.sweep(0))["fanned_out"] == 1
    # Events older than the window are not pushed days late.
    later = await record_event(session, engaged, EventKind.past_due)
    for job_id in await fan_out_jobs(session, later):
        await session.execute(text("DELETE FROM procrastinate_jobs WHERE id = :id"), {"id": job_id})
    await session.commit()
    with travel(engine.FAN_OUT_REPAIR_WINDOW + timedelta(hours=1)):
        assert (await jobs.sweep(0))["fanned_out"] == 0
    assert await fan_out_jobs(session, later) == []


def test_a_failed_fan_out_job_is_retried_by_the_queue():
    from procrastinate.jobs import Job

    strategy = jobs.fan_out.retry_strategy
    assert strategy is jobs.FAN_OUT_RETRY

    def job(attempts: int) -> Job:
        return Job(
            id=1,
            queue="default",
            lock=None,
            queueing_lock=None,
            task_name="webhooks.fan_out",
            task_kwargs={"event_id": str(uuid.uuid4())},
            attempts=attempts,
        )

    error = ConnectionError("the database went away")
    first = strategy.get_retry_decision(exception=error, job=job(1))
    assert first is not None
    assert first.retry_at is not None
    assert first.retry_at - utcnow() < timedelta(seconds=10)
    tries = jobs.FAN_OUT_RETRY.max_attempts
    assert tries is not None
    assert tries >= 5
    assert strategy.get_retry_decision(exception=error, job=job(tries)) is None


async def test_the_body_orders_events_committed_in_the_same_second(
    client, session, settings, receiver
):
    engaged = await confirmed_engagement(client, session, settings)
    await register_endpoint(client, engaged.admin, receiver.url)
    # A cancel writes several events in one transaction, within one second.
    kinds = [EventKind.director_ended, EventKind.director_ended, EventKind.canceled]
    written = [await record_event(session, engaged, kind) for kind in kinds]
    for event in written:
        await run_fan_out(session, event)
    await run_deliveries(session)
    bodies = sorted((json.loads(r.body) for r in receiver.requests), key=lambda b: b["sequence"])
    assert [b["id"] for b in bodies] == [str(e.id) for e in written]
    assert [b["sequence"] for b in bodies] == [e.seq for e in written]
    assert bodies[0]["sequence"] < bodies[1]["sequence"] < bodies[2]["sequence"]
    for body, event in zip(bodies, written, strict=True):
        moment = datetime.fromisoformat(body["occurred_at"])
        assert body["occurred_at"].endswith("Z")
        assert moment == event.occurred_at  # to the microsecond
        assert body["created"] == int(event.occurred_at.timestamp())
    occurred = [b["occurred_at"] for b in bodies]
    assert occurred == sorted(occurred)
