from django.db import migrations


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="sweep webhook deliveries",
        defaults={
            "func": "webhooks.tasks.sweep",
            "schedule_type": "I",  # every `minutes` minutes
            "minutes": 1,
            "repeats": -1,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="sweep webhook deliveries").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
