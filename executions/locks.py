"""Locks that functions take across processes (`nango.try_acquire_lock`), in the database.

One row per held key of an environment. A run takes a free key, or one whose holder's
time ran out (its process died, or it outlived its ttl), with one guarded write; the
unique key settles two runs racing for a free one. A run's locks are released when it
ends (`ActionContext.release_locks`, called by the runner).
"""

from datetime import timedelta

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils.timezone import now

from integrations.models import Environment


class LockQuerySet(models.QuerySet):
    def try_acquire(
        self, env_id: int, key: str, owner: str, ttl: float, execution_pk: int | None = None
    ) -> bool:
        """Take `key` for `owner` for `ttl` seconds: True if it was free, expired or already
        `owner`'s (then renewed), False if another holder has it."""
        moment = now()
        expires = moment + timedelta(seconds=ttl)
        held = dict(owner=owner, acquired=moment, expires=expires, execution_id=execution_pk)
        mine_or_expired = Q(owner=owner) | Q(expires__lte=moment)
        if self.filter(mine_or_expired, environment_id=env_id, key=key).update(**held):
            return True
        try:
            with transaction.atomic():
                self.create(environment_id=env_id, key=key, **held)
        except IntegrityError:
            return False  # held by another run (which may have taken it just now)
        return True

    def release(self, env_id: int, key: str, owner: str) -> bool:
        return bool(self.filter(environment_id=env_id, key=key, owner=owner).delete()[0])

    def release_all(self, owner: str) -> int:
        return self.filter(owner=owner).delete()[0]


class Lock(models.Model):
    environment = models.ForeignKey(Environment, models.CASCADE, related_name="locks")
    key = models.CharField(max_length=255)
    # The holding run's token (one per run, never shown to functions).
    owner = models.CharField(max_length=32)
    # The holder's execution, for staff; none for a dry run's lock.
    execution = models.ForeignKey(
        "executions.Execution", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acquired = models.DateTimeField(default=now)
    expires = models.DateTimeField()

    objects = LockQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "key"], name="unique_lock_key")
        ]

    def __str__(self) -> str:
        return self.key
