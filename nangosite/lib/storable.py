"""What can be stored and read back: one rule for every text the API takes in (headers,
path, query, JSON bodies) and every value a run leaves behind (output, error payloads,
log lines, provider bodies).

- NUL (U+0000): PostgreSQL refuses it in text columns and in jsonb (as `\\u0000`).
- A lone surrogate (U+D800-U+DFFF not in a pair, e.g. from `"\\ud800"` in JSON): it has no
  UTF-8 form, so PostgreSQL refuses it, and SQLite stores its escape and gives it back to
  break every later read (the API's answers and the admin's pages are UTF-8).
- A number that is not finite (1e400 parses as infinity; NaN): JSON cannot write it, and
  PostgreSQL's jsonb refuses it.
- Nesting deeper than MAX_DEPTH: Python's JSON encoder and jsonschema recurse once or more
  per level and would hit the interpreter's recursion limit.

Input that breaks the rule is refused (400, with `errors: [{code, message, path}]`
naming each place); a function's output that breaks it fails the run
(`invalid_action_output`); what the platform only records (log lines, provider bodies,
exception messages) is made storable with `cleaned()` instead.
"""

import json
import math
import re

MAX_DEPTH = 64
# Problems reported for one value: enough to fix a request, not a flood.
MAX_PROBLEMS = 10
REPLACEMENT = "\ufffd"
TOO_DEEP = "[nested too deep]"

MESSAGES = {
    "null_character": "NUL characters (\\u0000) cannot be stored.",
    "lone_surrogate": "A lone UTF-16 surrogate (\\ud800-\\udfff) is not valid Unicode text.",
    "non_finite_number": "Numbers must be finite (1e400 and NaN are not).",
    "too_deep": f"Nesting deeper than {MAX_DEPTH} levels is not accepted.",
    "not_json": "Only JSON values (objects, arrays, strings, numbers, booleans, null).",
}


class Unstorable(ValueError):
    """A value that cannot be stored; `errors` says where and why."""

    def __init__(self, errors: list[dict]) -> None:
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))
        self.errors = errors


def text_problem(text: str) -> str | None:
    """The code of what makes `text` unstorable, or None."""
    if "\x00" in text:
        return "null_character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "lone_surrogate"
    return None


def problem(code: str, path: tuple | list) -> dict:
    # The path itself must be writable: a bad key is named by its cleaned text.
    where = [clean_text(p) if isinstance(p, str) else p for p in path]
    return {"code": code, "message": MESSAGES[code], "path": where}


def problems(value: object, path: tuple = ()) -> list[dict]:
    """Every place (up to MAX_PROBLEMS) where `value` cannot be stored, in the API's
    `errors` shape. Iterative, so a value nested thousands deep is measured, not a crash."""
    found: list[dict] = []
    stack = [(value, path)]
    while stack and len(found) < MAX_PROBLEMS:
        item, where = stack.pop()
        if isinstance(item, str):
            if code := text_problem(item):
                found.append(problem(code, where))
        elif isinstance(item, bool) or item is None or isinstance(item, int):
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                found.append(problem("non_finite_number", where))
        elif isinstance(item, dict | list | tuple):
            if len(where) - len(path) >= MAX_DEPTH:
                found.append(problem("too_deep", where))
                continue
            if isinstance(item, dict):
                for key, child in reversed(item.items()):
                    if isinstance(key, str) and (code := text_problem(key)):
                        found.append(problem(code, (*where, key)))
                    stack.append((child, (*where, key)))
            else:
                stack.extend((child, (*where, i)) for i, child in reversed(list(enumerate(item))))
        else:
            found.append(problem("not_json", where))
    return found


# NUL and surrogates only come as `\\u` escapes (or raw surrogate bytes, after 0xED);
# infinity only from an exponent or a number of 309 digits or more.
_SUSPECT = re.compile(rb"\\u|\xed|[0-9][eE]|[0-9]{309}")


def might_be_unstorable(raw: bytes) -> bool:
    """Whether JSON text could hold something `problems()` finds. Cheap, so the common
    request (plain text, a few levels) is not walked a second time after parsing."""
    return raw.count(b"[") + raw.count(b"{") > MAX_DEPTH or _SUSPECT.search(raw) is not None


def dumps(value: object) -> str:
    """`value` as compact JSON text (not ASCII-escaped: its UTF-8 size is what is stored);
    raises Unstorable naming where it cannot be stored. One `json.dumps` for the common
    value: the walk runs only when the text shows it may be needed."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        if not text.isascii():
            text.encode()  # a lone surrogate has no UTF-8 form
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        raise Unstorable(problems(value) or [_other(exc)]) from None
    # NUL is written as the escape `\u0000`; depth can only be as large as the brackets.
    if "\\u0000" in text or text.count("[") + text.count("{") > MAX_DEPTH:
        if found := problems(value):
            raise Unstorable(found)
    return text


def _other(exc: Exception) -> dict:
    return {"code": "not_json", "message": str(exc)[:200], "path": []}


# In a Python string every surrogate code point is a lone one (pairs decode to one).
_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with what cannot be stored replaced by U+FFFD."""
    if text_problem(text) is None:
        return text
    return _UNSTORABLE_CHARS.sub(REPLACEMENT, text)


def cleaned(value: object, depth: int = 0) -> object:
    """`value` made storable: bad text replaced by U+FFFD, non-finite numbers as null (as
    JavaScript's JSON.stringify writes them), anything nested past MAX_DEPTH cut, and
    non-JSON values as their text. For what the platform records but did not choose."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        if isinstance(value, dict):
            return {
                clean_text(k) if isinstance(k, str) else k: cleaned(v, depth + 1)
                for k, v in value.items()
            }
        return [cleaned(v, depth + 1) for v in value]
    return clean_text(str(value))
