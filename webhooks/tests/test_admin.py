import pytest
from django.contrib.auth.models import User

from conftest import SECRET, deploy_source
from integrations.models import Environment
from webhooks.models import Delivery
from webhooks.tests.receiver import Receiver
from webhooks.tests.test_deliveries import KEY, SOURCE, start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def test_it_lists_and_shows_deliveries_without_any_secret_and_resends(tworld, api, staff):
    receiver = Receiver(KEY).start()
    try:
        receiver.script = [500]
        deploy_source(tworld.github, "act", SOURCE)
        Environment.objects.filter(pk=tworld.env.pk).update(webhook_primary_url=receiver.url)
        run = start(api)
        delivery = Delivery.objects.get()
        pages = [
            "/admin/webhooks/delivery/",
            "/admin/webhooks/delivery/?status__exact=pending",
            f"/admin/webhooks/delivery/?q={run['id']}",
            f"/admin/webhooks/delivery/{delivery.pk}/change/",
        ]
        for page in pages:
            r = staff.get(page)
            assert r.status_code == 200, page
            html = r.content.decode()
            for secret in (KEY, SECRET, "gho_secret_token"):
                assert secret not in html, (page, secret)
            assert str(delivery.code) in html
        detail = staff.get(pages[-1]).content.decode()
        assert "X-Nango-Hmac-Sha256" in detail and "signature, computed when sent" in detail
        assert run["id"] in detail and "the receiver answered 500" in detail
        assert "&quot;status&quot;: 500" in detail  # the response excerpt

        r = staff.post(
            "/admin/webhooks/delivery/",
            {"action": "resend", "_selected_action": [delivery.pk]},
        )
        assert r.status_code == 302
        copy = Delivery.objects.exclude(pk=delivery.pk).get()
        assert copy.resent_from_id == delivery.pk and copy.status == "delivered"
        assert [x.answered for x in receiver.wait_for(2)] == [500, 200]
    finally:
        receiver.stop()
