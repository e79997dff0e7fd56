import inspect
import json
import sys
from dataclasses import dataclass, field


@dataclass
class Response:
    """A provider's answer: `.data` (parsed JSON, else text), `.status`, `.headers`.

    Awaitable, so `await nango.get(...)` reads naturally inside an `async def` exec.
    """

    status: int
    headers: dict = field(default_factory=dict)
    data: object = None

    def __await__(self):
        return self
        yield  # noqa: B901 - makes this a generator, hence awaitable

    @classmethod
    def parse(cls, status: int, headers: dict, body: bytes) -> "Response":
        lowered = {k.lower(): v for k, v in headers.items()}
        content_type = lowered.get("content-type", "")
        text = body.decode("utf-8", errors="replace")
        data: object = text
        if "json" in content_type or (text[:1] in "{[" and text):
            try:
                data = json.loads(text) if text else None
            except (ValueError, RecursionError):  # not JSON, or nested past what Python reads
                data = text
        return cls(status=status, headers=lowered, data=data)


class _Ready:
    # Lets SDK results be used with or without `await`.
    def __await__(self):
        return self
        yield  # noqa: B901


class ReadyDict(_Ready, dict):
    pass


class ReadyList(_Ready, list):
    pass


class ReadyStr(_Ready, str):
    pass


def ready(value: object) -> object:
    if isinstance(value, dict):
        return ReadyDict(value)
    if isinstance(value, list):
        return ReadyList(value)
    if isinstance(value, str):
        return ReadyStr(value)
    return value


def resolved(value: object) -> object:
    """`ready(value)`; for a value with no awaitable form (True, 3, None), a coroutine when
    the SDK was called from a coroutine (an `async def` exec awaits it), else the value."""
    found = ready(value)
    if found is not value:
        return found
    caller = sys._getframe(2)
    if caller.f_code.co_flags & inspect.CO_COROUTINE:

        async def answer():
            return value

        return answer()
    return value
