import pytest

from conftest import SECRET
from integrations.models import Environment

pytestmark = pytest.mark.django_db


def test_it_caches_a_checked_key_briefly_and_forgets_it_on_rotation(world, settings):
    settings.AUTH_CACHE_SECONDS = 60
    assert Environment.objects.by_secret_key(SECRET) == world.env
    # Served from the cache: even a row changed behind its back is not re-read…
    Environment.objects.filter(pk=world.env.pk).update(name="renamed")
    assert Environment.objects.by_secret_key(SECRET).name == "dev"
    # …but a rotation in this process drops the old key at once.
    new_key = world.env.rotate_secret_key()
    assert Environment.objects.by_secret_key(SECRET) is None
    assert Environment.objects.by_secret_key(new_key).pk == world.env.pk


def test_it_does_not_cache_when_disabled(world, settings):
    settings.AUTH_CACHE_SECONDS = 0
    assert Environment.objects.by_secret_key(SECRET) == world.env
    Environment.objects.filter(pk=world.env.pk).update(name="renamed")
    assert Environment.objects.by_secret_key(SECRET).name == "renamed"
