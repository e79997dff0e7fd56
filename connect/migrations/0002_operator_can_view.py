"""The read-only "operator" group (executions/migrations/0006) may view end users and
connect sessions too."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    create_permissions(global_apps.get_app_config("connect"), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="operator")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="connect", codename__startswith="view_")
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name="operator"):
        group.permissions.remove(*group.permissions.filter(content_type__app_label="connect"))


class Migration(migrations.Migration):
    dependencies = [
        ("connect", "0001_end_users_sessions_oauth_states"),
        ("executions", "0006_operator_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
