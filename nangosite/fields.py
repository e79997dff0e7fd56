from django.db import models

from nangosite.lib.crypto import decrypt_json, encrypt_json


class EncryptedJSONField(models.TextField):
    """JSON encrypted with Fernet before it reaches the database.

    Stored as ciphertext in a text column; Python code only ever sees the decrypted value.
    Not queryable by content, on purpose.
    """

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt_json(value)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        return None if value is None else encrypt_json(value)

    def value_to_string(self, obj):
        # Keeps secrets out of dumpdata and admin history.
        return "[encrypted]"
