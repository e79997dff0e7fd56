from django.utils.timezone import now

from refsite.models import Run


def finish(run_pk: int) -> None:
    """A trivial django-q2 task: mark the run done (so its end can be timed)."""
    Run.objects.filter(pk=run_pk).update(finished=now())
