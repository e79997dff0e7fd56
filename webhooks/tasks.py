"""django-q2 tasks that send webhooks. Never called inside a request or a run.

`deliver` makes one attempt; a retry is a django-q2 schedule at the row's
`next_attempt_at` (a database row, so it outlives any worker). `sweep`, every minute, sends
whatever is due and was not picked up: a lost message, a worker killed mid-attempt.
"""

import logging

from django.conf import settings
from django_q.models import Schedule
from django_q.tasks import schedule

from webhooks.models import Delivery, enqueue

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


def deliver(delivery_id: int) -> str:
    """Make the delivery's due attempt; plan the next one if it may still succeed."""
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        return "gone"
    attempt = delivery.attempt()
    if attempt is None:
        return "not due"  # another worker has it, or it already ended
    if delivery.status == Delivery.Status.PENDING and delivery.next_attempt_at is not None:
        schedule(
            "webhooks.tasks.deliver",
            delivery.pk,
            schedule_type=Schedule.ONCE,
            next_run=delivery.next_attempt_at,
            cluster=settings.WEBHOOK_QUEUE,  # its scheduler sends it to its own queue
            q_options={"ack_failure": True},
        )
    return delivery.status


def sweep(due_before=None) -> dict:
    """django-q2 schedule: send every due delivery (safety net for lost messages). The
    reaper calls it every few seconds for deliveries due since before `due_before`: their
    message was lost (a broker or database outage), or their worker died."""
    due = Delivery.objects.due()
    if due_before is not None:
        due = due.filter(next_attempt_at__lte=due_before)
    due = due.order_by("next_attempt_at").values_list("pk", flat=True)
    ids = list(due[:SWEEP_BATCH])
    for pk in ids:
        enqueue(pk)
    if ids:
        log.info("webhook sweep: %d due deliveries queued", len(ids))
    return {"queued": len(ids)}
