import pytest

from tests.browser import chrome


@pytest.fixture
def browser():
    """A headless Chromium, quit after the test (see tests/browser.py)."""
    driver = chrome()
    try:
        yield driver
    finally:
        driver.quit()
