import pytest
from django.contrib.auth.models import User

from conftest import SECRET, deploy_source, trigger

pytestmark = pytest.mark.django_db(transaction=True)

ECHO = """
from nango import create_action
action = create_action(description="echo", input={}, output={},
                       exec=lambda nango, input: {"token": nango.get_token()[:3]})
"""


def test_it_renders_every_admin_page_without_any_secret(tworld, api, client):
    deploy_source(tworld.github, "echo", ECHO)
    assert trigger(api, "echo", {}).status_code == 200
    admin = User.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(admin)
    pages = [
        "/admin/",
        "/admin/integrations/environment/",
        f"/admin/integrations/environment/{tworld.env.pk}/change/",
        "/admin/integrations/integration/",
        f"/admin/integrations/integration/{tworld.github.pk}/change/",
        "/admin/integrations/connection/",
        f"/admin/integrations/connection/{tworld.connection.pk}/change/",
        "/admin/integrations/function/",
        "/admin/executions/execution/",
        "/admin/executions/execution/?q=not-a-uuid",
        "/admin/executions/execution/?q=conn-1",
    ]
    from executions.models import Execution
    from integrations.models import Function

    pages.append(f"/admin/integrations/function/{Function.objects.get().pk}/change/")
    pages.append(f"/admin/executions/execution/{Execution.objects.get().pk}/change/")
    for page in pages:
        r = client.get(page)
        assert r.status_code == 200, page
        html = r.content.decode()
        for secret in ("gho_secret_token", SECRET, "whsec-dev"):
            assert secret not in html, (page, secret)


def test_it_refuses_the_admin_to_non_staff(world, client):
    client.force_login(User.objects.create_user("joe", password="pw"))
    r = client.get("/admin/executions/execution/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
