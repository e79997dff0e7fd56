from django.db import models


class Connection(models.Model):
    provider_config_key = models.CharField(max_length=255)
    connection_id = models.CharField(max_length=255)
    access_token = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider_config_key", "connection_id"], name="ref_unique_connection"
            )
        ]

    def __str__(self) -> str:
        return self.connection_id


class Run(models.Model):
    connection = models.ForeignKey(Connection, models.CASCADE)
    action = models.CharField(max_length=255)
    input = models.JSONField(null=True)
    output = models.JSONField(null=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.action} {self.pk}"
