"""Sending django-q2 tasks through one broker per process.

`async_task` builds a new broker for every call unless it is given one, and for the Redis
broker that is a new client, connection pool and TCP connection per task: most of what
an async trigger cost. The broker's own client is safe to share between threads, and
redis-py resets its pool in a forked child.
"""

from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

_broker: Broker | None = None


def broker() -> Broker:
    global _broker
    if _broker is None:
        _broker = get_broker()
    return _broker


def enqueue(func: str, *args) -> str:
    """Queue `func(*args)` for the cluster; a failure is acknowledged, never redelivered
    (the tasks record their own outcome)."""
    return async_task(func, *args, q_options={"ack_failure": True, "broker": broker()})
