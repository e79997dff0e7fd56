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


def test_it_reuses_a_live_version_briefly_then_sees_a_new_deploy(world, settings):
    from conftest import deploy_source
    from integrations.models import FunctionVersion

    source = """
    from nango import create_action
    action = create_action(description="{}", input={{}}, output={{}}, exec=lambda n, i: i)
    """
    deploy_source(world.github, "act", source.format("one"))
    settings.FUNCTION_CACHE_SECONDS = 60
    live = FunctionVersion.objects.live(world.env.pk, "github", "act")
    assert live.description == "one" and live.function.integration == world.github
    # A deploy in this process is seen here at once…
    deploy_source(world.github, "act", source.format("two"))
    assert FunctionVersion.objects.live(world.env.pk, "github", "act").description == "two"
    # …one in another process (which leaves this one's cache as it was) once it expires.
    FunctionVersion.objects.filter(active=True).update(description="three")
    assert FunctionVersion.objects.live(world.env.pk, "github", "act").description == "two"
    settings.FUNCTION_CACHE_SECONDS = 0
    assert FunctionVersion.objects.live(world.env.pk, "github", "act").description == "three"
    assert FunctionVersion.objects.live(world.other_env.pk, "github", "act") is None
