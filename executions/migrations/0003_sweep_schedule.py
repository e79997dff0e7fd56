from django.conf import settings
from django.db import migrations


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="sweep executions",
        defaults={
            "func": "executions.tasks.sweep",
            "schedule_type": "I",  # every `minutes` minutes
            "minutes": settings.SWEEP_MINUTES,
            "repeats": -1,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="sweep executions").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0002_async_queue"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
