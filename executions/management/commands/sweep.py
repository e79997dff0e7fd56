from django.core.management.base import BaseCommand

from executions.tasks import sweep


class Command(BaseCommand):
    help = (
        "End runs whose process died, wake due queues, prune old results (what the schedule runs)."
    )

    def handle(self, **options):
        summary = sweep()
        self.stdout.write(
            f"{summary['crashed']} crashed run(s) ended or re-queued, "
            f"{summary['woken']} queue(s) woken, {summary['pruned']} old result(s) pruned"
        )
