import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    description: str
    exec: Callable
    input: dict | None
    output: dict | None
    version: str = ""
    # Seconds; the platform's ACTION_TIMEOUT_SECONDS caps it.
    timeout: float | None = None
    # Where create_action was called, for error messages that point at the file.
    filename: str = ""
    lineno: int = 0

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.exec)


def create_action(
    *,
    description: str,
    exec: Callable,
    input: dict | None = None,
    output: dict | None = None,
    version: str | int = "",
    timeout: float | None = None,
) -> Action:
    """Declare an action function. Bind the result at module level:

        action = create_action(description=..., input={...}, output={...}, exec=run)

    `input` and `output` are JSON Schemas; the platform validates both on every run.
    """
    caller = sys._getframe(1)
    return Action(
        description=description,
        exec=exec,
        input=input,
        output=output,
        version=str(version),
        timeout=timeout,
        filename=caller.f_code.co_filename,
        lineno=caller.f_lineno,
    )
