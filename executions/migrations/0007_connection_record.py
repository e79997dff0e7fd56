"""Execution.connection (the foreign key) becomes connection_record, and connection_ref (the
connection id string) becomes connection_id: `execution.connection_id` now means what
`connection.connection_id` means, Nango's connection id, never a row's pk."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0006_operator_group"),
        ("integrations", "0002_webhook_url_validation"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="execution", name="execution_running"),
        migrations.RemoveIndex(model_name="execution", name="execution_connection_ref"),
        migrations.RenameField(
            model_name="execution", old_name="connection", new_name="connection_record"
        ),
        migrations.RenameField(
            model_name="execution", old_name="connection_ref", new_name="connection_id"
        ),
        migrations.AlterField(
            model_name="execution",
            name="connection_record",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                to="integrations.connection",
                verbose_name="connection",
            ),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(
                condition=models.Q(("status", "running")),
                fields=["environment", "connection_record"],
                name="execution_running",
            ),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(fields=["connection_id", "created"], name="execution_connection_id"),
        ),
    ]
