"""Sending django-q2 tasks through one broker per queue and process.

`async_task` builds a new broker for every call unless it is given one, and for the Redis
broker that is a new client, connection pool and TCP connection per task: most of what
an async trigger cost. The broker's own client is safe to share between threads, and
redis-py resets its pool in a forked child.
"""

from django.conf import settings
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

_brokers: dict[str | None, Broker] = {}


def broker(queue: str | None = None) -> Broker:
    """The broker of `queue` (a django-q2 cluster name; None: the action runs' queue, the
    default cluster's, whichever cluster this process belongs to: a webhook worker that
    wakes a queue sends to the runs' workers, not to its own)."""
    queue = queue or settings.Q_CLUSTER["name"]
    if queue not in _brokers:
        _brokers[queue] = get_broker(queue)
    return _brokers[queue]


def pending(queue: str | None = None) -> int:
    """How many tasks wait in `queue`'s broker (not those a worker has already taken)."""
    return broker(queue).queue_size()


def enqueue(func: str, *args, queue: str | None = None) -> str:
    """Queue `func(*args)` for the cluster serving `queue`; a failure is acknowledged,
    never redelivered (the tasks record their own outcome)."""
    queue = queue or settings.Q_CLUSTER["name"]
    options = {"ack_failure": True, "broker": broker(queue), "cluster": queue}
    return async_task(func, *args, q_options=options)
