"""The one way this project makes outbound HTTP calls.

Every call has a timeout, retries are bounded and opt-in, waits honour the provider's
Retry-After / rate-limit reset headers, and a deadline caps both waits and timeouts so a
call never outlives the run that made it. Failures raise one error type, `HttpError`.
"""

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy

import requests

from nangosite.lib.backoff import backoff

_local = threading.local()

RETRYABLE_NETWORK = (requests.ConnectionError, requests.Timeout)


def session() -> requests.Session:
    # One session per thread: connection reuse without sharing a Session across threads.
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = requests.Session()
        s.trust_env = False
        # Keep no cookies: a thread makes calls for many connections (end users), and a
        # cookie a provider set during one user's call must never go out with another's.
        s.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return s


@dataclass
class RetryPolicy:
    retries: int = 0
    # Extra statuses to retry on, beyond the default ones.
    retry_on: Iterable[int] = ()
    # Statuses the provider documents as retryable ("429", "5xx", "500-502"); empty = 429 + 5xx.
    error_codes: Iterable[str] = ()
    after_headers: Iterable[str] = ("retry-after",)
    at_headers: Iterable[str] = ()
    remaining_header: str = ""
    backoff_base: float = 1.0
    backoff_max: float = 600.0


@dataclass
class Attempt:
    method: str
    url: str
    attempt: int
    status: int | None
    duration_ms: float
    error: str = ""
    wait_s: float = 0.0


class HttpError(Exception):
    """An outbound call that did not succeed.

    `response` is set when the remote end answered (non-2xx). `permanent` is True when
    sending the same request again cannot help: a 4xx other than 408 and 429, or a request
    that could not even be sent (a malformed URL). Network errors, timeouts and 5xx are
    not permanent.
    """

    def __init__(
        self,
        message: str,
        response: requests.Response | None = None,
        permanent: bool | None = None,
    ):
        super().__init__(message)
        self.response = response
        if permanent is None:
            status = response.status_code if response is not None else 0
            permanent = 400 <= status < 500 and status not in (408, 429)
        self.permanent = permanent


class DeadlineExceeded(HttpError):
    pass


def _status_matches(status: int, codes: Iterable[str]) -> bool:
    for code in codes:
        code = str(code).strip().lower()
        if code.endswith("xx") and code[:-2].isdigit() and status // 100 == int(code[0]):
            return True
        if "-" in code:
            lo, hi = code.split("-", 1)
            if lo.isdigit() and hi.isdigit() and int(lo) <= status <= int(hi):
                return True
        if code.isdigit() and int(code) == status:
            return True
    return False


def is_retryable(response: requests.Response, policy: RetryPolicy) -> bool:
    status = response.status_code
    if status in set(policy.retry_on):
        return True
    if policy.remaining_header and response.headers.get(policy.remaining_header) == "0":
        return status >= 400
    if policy.error_codes:
        return _status_matches(status, policy.error_codes)
    return status == 429 or status >= 500


def _header_wait(response: requests.Response, policy: RetryPolicy, clock: float) -> float | None:
    """The longest wait any of the provider's rate-limit headers asks for, in seconds."""
    waits = []
    for name in policy.after_headers:
        value = response.headers.get(name)
        if value is None:
            continue
        try:
            waits.append(float(value))
        except ValueError:
            try:  # Retry-After may be an HTTP date.
                waits.append(parsedate_to_datetime(value).timestamp() - clock)
            except (TypeError, ValueError):
                pass
    for name in policy.at_headers:
        value = response.headers.get(name)
        try:
            reset = float(value) if value is not None else None
        except ValueError:
            reset = None
        if reset is not None:
            if reset > 1e11:  # epoch milliseconds
                reset /= 1000
            waits.append(reset - clock)
    if not waits:
        return None
    return max(0.0, max(waits))


def sleep_until(deadline: float | None, seconds: float) -> None:
    # Short naps keep the thread responsive to the run's timeout (see executions/runner.py).
    end = time.monotonic() + seconds
    if deadline is not None and end > deadline:
        raise DeadlineExceeded(f"waiting {seconds:.1f}s would pass the run's deadline")
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.05))


@dataclass
class Request:
    method: str
    url: str
    params: dict | list | None = None
    json: object = None
    data: object = None
    headers: dict = field(default_factory=dict)
    timeout: float = 30.0
    stream: bool = False


def _send_once(req: Request, timeout: float) -> requests.Response:
    """One attempt, straight through the session's adapter: what `Session.request` does
    for our calls, without the rest of it (merging environment settings, cookies, hooks,
    redirects: none of which this seam uses), which was a tenth of a provider call."""
    headers = requests.structures.CaseInsensitiveDict(DEFAULT_HEADERS)
    headers.update(req.headers)
    for name in [name for name, value in headers.items() if value is None]:
        del headers[name]  # as requests does: None takes a header (a default too) out
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=req.method,
        url=req.url,
        headers=headers,
        params=req.params,
        data=req.data,
        json=req.json,
    )
    adapter = session().get_adapter(prepared.url)
    response = adapter.send(
        prepared, stream=req.stream, timeout=timeout, verify=True, cert=None, proxies={}
    )
    if not req.stream:
        response.content  # noqa: B018  read now, so the connection goes back to the pool
    return response


# What a requests.Session sends unless told otherwise (User-Agent, Accept-Encoding…).
DEFAULT_HEADERS = requests.utils.default_headers()


def send(
    req: Request,
    policy: RetryPolicy | None = None,
    deadline: float | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
) -> requests.Response:
    """Send `req`, retrying per `policy`; returns a 2xx/3xx response or raises HttpError."""
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        timeout = req.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise DeadlineExceeded("the run's deadline passed before the call")
        started = time.perf_counter()
        response = error = None
        try:
            response = _send_once(req, timeout)
        except RETRYABLE_NETWORK as exc:
            error = exc
        except requests.RequestException as exc:
            # Malformed URL and the like: retrying cannot help.
            raise HttpError(f"{type(exc).__name__}: {exc}", permanent=True) from exc
        duration_ms = (time.perf_counter() - started) * 1000

        if response is not None and response.status_code < 400:
            if on_attempt:
                on_attempt(Attempt(req.method, req.url, attempt, response.status_code, duration_ms))
            return response

        retry = attempt < policy.retries and (error is not None or is_retryable(response, policy))
        wait = 0.0
        if retry:
            header_wait = (
                _header_wait(response, policy, time.time()) if response is not None else None
            )
            wait = (
                header_wait
                if header_wait is not None
                else backoff(attempt, policy.backoff_base, policy.backoff_max)
            )
        if on_attempt:
            on_attempt(
                Attempt(
                    req.method,
                    req.url,
                    attempt,
                    response.status_code if response is not None else None,
                    duration_ms,
                    error=f"{type(error).__name__}" if error else "",
                    wait_s=wait,
                )
            )
        if not retry:
            if response is not None:
                raise HttpError(f"{req.method} {req.url} answered {response.status_code}", response)
            raise HttpError(f"{type(error).__name__}: {error}") from error
        if deadline is not None and time.monotonic() + wait > deadline:
            # Waiting as asked would outlive the run: report what the provider said.
            if response is not None:
                raise HttpError(f"{req.method} {req.url} answered {response.status_code}", response)
            raise DeadlineExceeded(f"waiting {wait:.1f}s would pass the run's deadline")
        if response is not None:
            response.close()
        sleep_until(deadline, wait)
        attempt += 1
