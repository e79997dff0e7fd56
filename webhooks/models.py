"""Outgoing webhooks: one Delivery per message and URL, one DeliveryAttempt per try.

A Delivery is created when an async run ends (`Delivery.objects.announce`), or when a
connection is created, overridden or fails to refresh (`Delivery.objects.announce_auth`),
with its body serialized once. django-q2 sends it (`webhooks.tasks.deliver`); a retry's
time is kept on the row (`next_attempt_at`), so a worker restart loses nothing: a
schedule sends it at that time, and the webhook sweep picks up any due row whose message
was lost.
"""

import json
import logging
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from django.db import DatabaseError, models, transaction
from django.db.models import F, Q
from django.utils.timezone import now

from executions.models import Execution, Status
from integrations.models import Connection, Environment
from nangosite.lib import http, metrics
from nangosite.lib.backoff import backoff
from nangosite.lib.cache import TTLCache
from nangosite.lib.logs import event
from nangosite.lib.retrying import retrying
from nangosite.lib.storable import clean_text
from webhooks import signing

EXCERPT_CHARS = 2000

log = logging.getLogger("webhooks.deliveries")


def sent_at(moment) -> str:
    # JavaScript's Date.toISOString(), which is what receivers written for Nango parse.
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _loaded(instance: models.Model | None, name: str) -> models.Model | None:
    """The related object `name` if it is already loaded, else None (never a query)."""
    if instance is None or not getattr(type(instance), name).is_cached(instance):
        return None
    return getattr(instance, name)


# Environments' webhook settings by id, briefly: every async run's end reads them and a
# run of an environment without webhooks must cost no query. A change of URLs or toggle
# reaches every worker within WEBHOOK_SETTINGS_CACHE_SECONDS.
_hooks = TTLCache("WEBHOOK_SETTINGS_CACHE_SECONDS")


def _environment_hooks(execution: Execution) -> tuple[bool, tuple[str, str]]:
    """(toggle, (primary URL, secondary URL)) of the run's environment."""
    env = _loaded(execution, "environment") or _loaded(
        _loaded(_loaded(execution, "connection_record"), "integration"), "environment"
    )
    if env is not None:  # loaded with the run: free and fresh
        return env.send_async_action_webhooks, (env.webhook_primary_url, env.webhook_secondary_url)
    cached = _hooks.get(execution.environment_id)
    if cached is not None:
        return cached
    row = (
        Environment.objects.filter(pk=execution.environment_id)
        .values_list("send_async_action_webhooks", "webhook_primary_url", "webhook_secondary_url")
        .first()
    )
    value = (row[0], (row[1], row[2])) if row else (False, ("", ""))
    _hooks.set(execution.environment_id, value)
    return value


def webhook_urls(execution: Execution) -> list[str]:
    """Where the end of this async run is announced: the connection's override, else the
    environment's URLs; none while the environment's toggle is off.

    Uses what the worker loaded with the run, and a short per-process cache of the
    environment's settings, so a run without webhooks costs no query.
    """
    enabled, env_urls = _environment_hooks(execution)
    if not enabled:
        return []
    connection = _loaded(execution, "connection_record")
    if connection is None and execution.connection_record_id is not None:
        # None if it was deleted since: the environment's URLs apply.
        connection = (
            Connection.objects.only("webhook_url_override")
            .filter(pk=execution.connection_record_id)
            .first()
        )
    if connection is not None and connection.webhook_url_override:
        return [connection.webhook_url_override]
    return list(dict.fromkeys(u for u in env_urls if u))


def auth_webhook_urls(connection: Connection, operation: str) -> list[str]:
    """Where an auth event goes: the connection's override, else the environment's URLs;
    `creation` and `refresh` (a failure) only while the environment's toggle is on."""
    env = connection.integration.environment
    toggle = {
        "creation": env.send_auth_creation_webhooks,
        "refresh": env.send_auth_refresh_error_webhooks,
    }
    if not toggle.get(operation, True):
        return []
    if connection.webhook_url_override:
        return [connection.webhook_url_override]
    return list(dict.fromkeys(u for u in (env.webhook_primary_url, env.webhook_secondary_url) if u))


class DeliveryQuerySet(models.QuerySet):
    def due(self) -> "DeliveryQuerySet":
        return self.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now())

    def announce(self, execution: Execution) -> list["Delivery"]:
        """Create the deliveries for an async run that just ended, and queue them.

        Only for Nango's cases: a success, or a failure with no attempt left. Sent after
        the surrounding transaction commits, so a worker never looks for a row not yet there.
        """
        if not execution.is_announced:
            return []
        urls = webhook_urls(execution)
        if not urls:
            return []
        moment = now()
        body = signing.serialize(
            {
                "type": "async_action",
                "from": "nango",
                "connectionId": execution.connection_id,
                "providerConfigKey": execution.provider_config_key,
                "payload": {"id": str(execution.code), "statusUrl": execution.status_url},
                "success": execution.status == Status.SUCCEEDED,
                "sentAt": sent_at(moment),
            }
        )
        return self._send(urls, body, moment, execution.environment_id, execution=execution)

    def announce_auth(
        self, connection: Connection, operation: str, error: dict | None = None
    ) -> list["Delivery"]:
        """Nango's `auth` webhook: a connection was created or overridden (`success`), or
        its token refresh failed (`error`: {type, description}). Sent after the
        surrounding transaction commits, as completion webhooks are."""
        urls = auth_webhook_urls(connection, operation)
        if not urls:
            return []
        integration = connection.integration
        message = {
            "type": "auth",
            "from": "nango",
            "connectionId": connection.connection_id,
            "providerConfigKey": integration.unique_key,
            "authMode": integration.catalog.auth_mode.value,
            "provider": integration.provider,
            "environment": integration.environment.name,
            "operation": operation,
            "success": error is None,
        }
        if connection.tags:
            message["tags"] = connection.tags
        end_user = connection.end_user if connection.end_user_id else None
        if end_user is not None:
            message["endUser"] = {
                "endUserId": end_user.end_user_id,
                "endUserEmail": end_user.email or None,
                "organizationId": end_user.organization_id or None,
                "tags": end_user.tags or {},
            }
        if error is not None:
            message["error"] = error
        moment = now()
        message["sentAt"] = sent_at(moment)
        body = signing.serialize(message)
        environment_id = connection.integration.environment_id
        return self._send(urls, body, moment, environment_id, connection=connection, type="auth")

    def _send(
        self, urls: list[str], body: str, moment, environment_id: int, **about
    ) -> list["Delivery"]:
        deliveries = [
            self.create(
                environment_id=environment_id,
                url=url,
                body=body,
                max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
                next_attempt_at=moment,
                created=moment,
                **about,
            )
            for url in urls
        ]
        for delivery in deliveries:
            delivery.enqueue_on_commit()
        return deliveries


class Delivery(models.Model):
    """One webhook message to one URL about one execution, or about one connection."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Deleted with it: deliveries are pruned with the executions they announce.
    execution = models.ForeignKey(
        Execution, models.CASCADE, null=True, blank=True, related_name="webhook_deliveries"
    )
    # An auth webhook's connection; the delivery's history outlives the connection.
    connection = models.ForeignKey(
        Connection, models.SET_NULL, null=True, blank=True, related_name="webhook_deliveries"
    )
    environment = models.ForeignKey(Environment, models.CASCADE, related_name="webhook_deliveries")
    type = models.CharField(max_length=32, default="async_action")
    url = models.URLField(max_length=2048)
    # The exact text sent (UTF-8 on the wire); signatures are computed over it at each
    # attempt with the environment's current key, so no secret is stored here.
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    # Pending: when the next attempt may start. While an attempt runs it is pushed past
    # that attempt's longest possible end (a lease), so one worker sends it at a time and
    # the row becomes due again if that worker dies.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(default=now)
    delivered = models.DateTimeField(null=True, blank=True)
    # Set on a delivery made by resend(): the one it repeats.
    resent_from = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="resends"
    )

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["environment", "-created"], name="delivery_env_recent"),
            # The sweep: WHERE status = 'pending' AND next_attempt_at <= now
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]),
                name="delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered__isnull=False),
                name="delivered_delivery_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} → {self.url}"

    def request_headers(self) -> dict[str, str]:
        """The headers sent, signatures left out (they are derived from the signing key)."""
        shown = signing.headers("", b"")
        for name in (signing.HMAC_HEADER, signing.LEGACY_HEADER):
            shown[name] = "(signature, computed when sent)"
        return shown

    def enqueue_on_commit(self) -> None:
        # robust: a broker that is down must not fail the run that announced its end; the
        # row is due, so the webhook sweep sends it. (A function, not a functools.partial:
        # Django names the callback by its __qualname__ when it logs that failure.)
        pk = self.pk

        def send() -> None:
            enqueue(pk)

        transaction.on_commit(send, robust=True)

    def resend(self) -> "Delivery":
        """Send this webhook again, as a new delivery to the same URL.

        The original keeps its history; the new one carries the same message with a fresh
        `sentAt`, and is signed with the environment's current key when sent.
        """
        moment = now()
        message = json.loads(self.body)
        message["sentAt"] = sent_at(moment)
        copy = Delivery.objects.create(
            execution_id=self.execution_id,
            connection_id=self.connection_id,
            environment_id=self.environment_id,
            type=self.type,
            url=self.url,
            body=signing.serialize(message),
            max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
            next_attempt_at=moment,
            created=moment,
            resent_from=self,
        )
        copy.enqueue_on_commit()
        return copy

    def claim(self) -> bool:
        """Take the next attempt, if it is due and no other worker holds it."""
        moment = now()
        lease = moment + timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 30)
        changed = Delivery.objects.filter(
            pk=self.pk,
            status=self.Status.PENDING,
            next_attempt_at__lte=moment,
            attempts__lt=F("max_attempts"),
        ).update(next_attempt_at=lease)
        if changed:
            # Held now (its lease): read it back even if the database falters meanwhile.
            retrying(self.refresh_from_db, "a webhook's claim")
        return bool(changed)

    def attempt(self) -> "DeliveryAttempt | None":
        """Claim and make one attempt, record it; None if the attempt was not ours to make.

        Afterwards the row is delivered, failed (3xx, a 4xx other than 408/429, or no
        attempt left), or pending with `next_attempt_at` set to when the next attempt may
        start.
        """
        # The key before the claim: a database that fails here leaves the row due, for the
        # reaper to send again; once claimed, only the POST comes before the record, which
        # waits out an outage (a claimed row is otherwise held for its whole lease).
        key = Environment.objects.only("webhook_signing_key").get(pk=self.environment_id)
        if not self.claim():
            return None
        lease, number = self.next_attempt_at, self.attempts + 1
        row, retryable = self._send(key.webhook_signing_key)
        row.number = number
        moment = now()
        fields = {
            "attempts": number,
            "last_status_code": row.status_code,
            "last_latency_ms": row.latency_ms,
            "last_error": row.error[:500],
        }
        if row.ok:
            fields.update(status=self.Status.DELIVERED, delivered=moment, next_attempt_at=None)
        elif retryable and number < self.max_attempts:
            wait = backoff(
                number - 1,
                settings.WEBHOOK_BACKOFF_BASE_SECONDS,
                settings.WEBHOOK_BACKOFF_MAX_SECONDS,
            )
            fields.update(next_attempt_at=moment + timedelta(seconds=wait))
        else:
            fields.update(status=self.Status.FAILED, next_attempt_at=None)

        tries = 0

        def write() -> bool:
            nonlocal tries
            tries += 1
            try:
                with transaction.atomic():
                    row.save()
                    # Guarded on our lease: if it ran out and another worker took the row,
                    # that worker's attempt decides; ours stays on record as a row.
                    if Delivery.objects.filter(
                        pk=self.pk, status=self.Status.PENDING, next_attempt_at=lease
                    ).update(**fields):
                        return True
            except DatabaseError:
                row.pk, row._state.adding = None, True  # rolled back: inserted again
                raise
            # After a failed try, the commit that failed may have happened: ours if so.
            return (
                tries > 1
                and Delivery.objects.filter(
                    pk=self.pk, attempts=number, last_latency_ms=row.latency_ms
                ).exists()
            )

        # Not past the lease: then the row is another worker's to send again.
        held = (lease - now()).total_seconds() - settings.WEBHOOK_TIMEOUT_SECONDS
        if retrying(write, "a webhook attempt", seconds=max(held, 0.0)):
            for name, value in fields.items():
                setattr(self, name, value)
            self.report(row)
        return row

    def report(self, row: "DeliveryAttempt") -> None:
        """One log line (logger `webhooks.deliveries`) and the webhook metrics for an
        attempt just recorded. The URL is named by its host alone: a receiver's URL may
        hold a token in its path or query."""
        outcome = {self.Status.DELIVERED: "delivered", self.Status.FAILED: "failed"}.get(
            self.status, "retrying"
        )
        level = logging.INFO if row.ok else logging.WARNING
        logging_on, counting = log.isEnabledFor(level), metrics.enabled()
        if not (logging_on or counting):
            return
        environment = Environment.objects.name_of(self.environment_id)
        if counting:
            found = metrics.get()
            found.webhook_attempts.labels(environment, outcome).inc()
            if outcome != "retrying":
                found.webhooks.labels(environment, outcome).inc()
            if self.delivered is not None:
                lag = (self.delivered - self.created).total_seconds()
                found.webhook_lag.labels(environment).observe(max(lag, 0.0))
        if logging_on:
            message = json.loads(self.body)
            action = None  # an auth webhook tells of no run
            if self.execution_id is not None:
                action = (
                    Execution.objects.filter(pk=self.execution_id)
                    .values_list("action_name", flat=True)
                    .first()
                )
            event(
                log,
                f"webhook {outcome}",
                level,
                delivery_id=str(self.code),
                execution_id=message.get("payload", {}).get("id"),
                environment=environment,
                integration=message.get("providerConfigKey"),
                action=action,
                connection=message.get("connectionId"),
                url_host=urlsplit(self.url).netloc.rpartition("@")[2],
                attempt=self.attempts,
                outcome=outcome,
                status_code=row.status_code,
                duration_ms=row.latency_ms,
                error_code=row.error_code,
            )

    def _send(self, key: str) -> tuple["DeliveryAttempt", bool]:
        """POST the body once; the attempt (unsaved) and whether a retry may help."""
        body = self.body.encode()
        request = http.Request(
            "POST",
            self.url,
            data=body,
            headers=signing.headers(key, body),
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            stream=True,  # read only an excerpt of whatever the receiver answers
        )
        row = DeliveryAttempt(delivery=self, url=self.url, started=now())
        clock = time.perf_counter()
        retryable = False
        try:
            response = http.send(request)  # one attempt; redirects are never followed
        except http.HttpError as exc:
            response = exc.response
            retryable = not exc.permanent
            if response is None:
                row.error = _network_error(exc)
                timed_out = isinstance(exc.__cause__, requests.Timeout)
                row.error_code = "timeout" if timed_out else "network_error"
        row.latency_ms = round((time.perf_counter() - clock) * 1000, 2)
        if response is not None:
            row.status_code = response.status_code
            row.response_excerpt = _excerpt(response)
            if 300 <= response.status_code < 400:
                # Not a delivery, and following it would send the body elsewhere.
                location = response.headers.get("Location", "")
                row.error = f"redirect to {location[:300]!r} not followed"
                row.error_code = "redirect_not_followed"
            elif response.status_code >= 400:
                row.error = f"the receiver answered {response.status_code}"
                row.error_code = f"http_{response.status_code}"
        return row, retryable


def _excerpt(response: requests.Response) -> str:
    try:
        raw = response.raw.read(EXCERPT_CHARS * 4, decode_content=True) or b""
    except (OSError, requests.RequestException, urllib3.exceptions.HTTPError):
        # A broken or slow body must not hide the status we already have.
        raw = b""
    finally:
        response.close()
    # Whatever the receiver sent, stored: a NUL would make PostgreSQL refuse the attempt row.
    return clean_text(raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS])


def _network_error(exc: http.HttpError) -> str:
    cause = exc.__cause__
    if isinstance(cause, requests.Timeout):
        return f"no answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s"
    if isinstance(cause, requests.ConnectionError):
        return "could not connect"
    return str(exc)[:500]


def enqueue(delivery_id: int) -> None:
    """Hand a delivery to the webhook cluster (its own queue: never behind action runs)."""
    from nangosite.lib import tasks  # django_q.tasks needs the app registry ready

    tasks.enqueue("webhooks.tasks.deliver", delivery_id, queue=settings.WEBHOOK_QUEUE)


class DeliveryAttempt(models.Model):
    """One POST of a delivery and what came back."""

    delivery = models.ForeignKey(Delivery, models.CASCADE, related_name="attempt_rows")
    number = models.PositiveSmallIntegerField()
    url = models.URLField(max_length=2048)
    started = models.DateTimeField(default=now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number", "pk"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"

    # Set by the attempt that made this row (not stored): timeout, network_error,
    # redirect_not_followed, http_<status>; empty when delivered.
    error_code = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
