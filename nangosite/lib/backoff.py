"""The one backoff rule: provider call retries, async run retries and webhook retries."""

import random


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    Exponential and capped, with "equal jitter": half of the ceiling base * 2^attempt for
    sure, the other half at random, so the wait never drops to nothing while clients that
    failed together still spread out.
    """
    ceiling = min(cap, base * 2**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)
