"""Server-side rendering of code and JSON for the admin: Pygments with inline styles (no
stylesheet to serve, no CDN) and unified diffs between two texts."""

import difflib
import json

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, JsonLexer, PythonLexer

# Highlighting inflates HTML about tenfold; larger texts are shown plain so a 2 MiB
# output cannot turn a detail page into 20 MB.
HIGHLIGHT_LIMIT = 100_000
# Beyond this a text is cut (with a note): the full value stays in the database and API.
SHOW_LIMIT = 1_000_000

_formatter = HtmlFormatter(style="friendly", noclasses=True, nowrap=True)


def _block(inner: str, note: str = "", lines: bool = False) -> SafeString:
    css = "nango-code nango-lines" if lines else "nango-code"
    extra = f'<p class="nango-note">{escape(note)}</p>' if note else ""
    return mark_safe(f'<pre class="{css}">{inner}</pre>{extra}')


def _render(text: str, lexer) -> SafeString:
    note = ""
    if len(text) > SHOW_LIMIT:
        text, note = text[:SHOW_LIMIT], f"Cut at {SHOW_LIMIT:,} characters."
    if len(text) > HIGHLIGHT_LIMIT:
        return _block(escape(text), note)
    return _block(highlight(text, lexer, _formatter), note)


def json_html(value: object) -> SafeString:
    """A JSON value, indented and highlighted."""
    text = json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False, default=str)
    return _render(text, JsonLexer())


def python_html(source: str) -> SafeString:
    return _render(source, PythonLexer())


def diff_html(a: str, b: str, a_name: str, b_name: str) -> SafeString:
    """A unified diff of two texts, highlighted; says so when they are the same."""
    lines = difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True), a_name, b_name, n=3
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if not text:
        return mark_safe('<p class="nango-note">The two versions are identical.</p>')
    return _render(text, DiffLexer())
