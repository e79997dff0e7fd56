"""The read-only "operator" group: it may view everything staff see in the admin (the
dashboard included) and change nothing: no retry, cancel, resend, rotation or edit."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("integrations", "executions", "webhooks")


def create(apps, schema_editor):
    # Permissions are normally made after all migrations (post_migrate); make them now.
    for label in APPS:
        config = global_apps.get_app_config(label)
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="operator")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=APPS, codename__startswith="view_")
    )


def remove(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="operator").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0005_admin_indexes"),
        ("webhooks", "0002_sweep_schedule"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create, remove)]
