"""What the `nango` CLI and the platform's management commands print, from the JSON the
API answers: one rendering of a deploy, a dry run and a version history for both."""

import json

LABELS = {"not_in_tree": "not in the tree", "disabled": "disabled (pruned)"}
# The summary line names these three (as it always has); a second line the others, when
# they happened.
ALWAYS = ("created", "updated", "unchanged")
SUMMARY_WORDS = {
    "restored": "restored",
    "pinned": "pinned (left alone)",
    "not_in_tree": "not in the tree (`--prune` disables them)",
    "disabled": "disabled",
}


def _short(path: str) -> str:
    return path.removeprefix("functions/")


def deploy_lines(answer: dict) -> list[str]:
    """The table of a deploy: one line per function, then the counts."""
    changes = answer["changes"]
    lines = []
    if changes:
        names = [f"{c['integration']}/{c['name']}" for c in changes]
        width = max(len(n) for n in names)
        outcome_width = max(9, *(len(LABELS.get(c["outcome"], c["outcome"])) for c in changes))
        lines.append(f"{'FUNCTION'.ljust(width)}  {'CHANGE'.ljust(outcome_width)}  VERSION")
        for name, change in zip(names, changes, strict=True):
            label = LABELS.get(change["outcome"], change["outcome"])
            version = change["version"] or ""
            if change.get("number") is not None:
                version = f"{version} (#{change['number']})".strip()
            line = f"{name.ljust(width)}  {label.ljust(outcome_width)}  {version}"
            if change.get("modules"):
                line += "  with " + ", ".join(_short(m) for m in change["modules"])
            lines.append(line.rstrip())
    counts = answer["summary"]
    line = ", ".join(f"{counts.get(k, 0)} {k}" for k in ALWAYS) + f" in {answer['environment']}"
    if answer.get("dry_run"):
        line += " (dry run: nothing was stored)"
    lines.append(line)
    more = [f"{counts[k]} {word}" for k, word in SUMMARY_WORDS.items() if counts.get(k)]
    if more:
        lines.append("and " + ", ".join(more))
    return lines


def prune_lines(answer: dict) -> list[str]:
    """What a deploy with `--prune` disables, listed before it does."""
    gone = [c for c in answer["changes"] if c["outcome"] in ("not_in_tree", "disabled")]
    if not gone:
        return []
    return [f"--prune disables {len(gone)} function(s) no longer in the tree:"] + [
        f"  {c['integration']}/{c['name']}" for c in gone
    ]


def history_lines(history: dict) -> list[str]:
    """A function's versions, newest first, the live one marked."""
    flags = (("pinned", history["pinned"]), ("disabled", not history["enabled"]))
    state = [word for word, on in flags if on]
    title = f"{history['integration']}/{history['name']}"
    lines = [title + (f" ({', '.join(state)})" if state else "")]
    rows = [("#", "VERSION", "LIVE", "DEPLOYED", "VIA", "BY", "COMMIT")]
    for v in history["versions"]:
        live = "live" if v["live"] else ""
        if v["live"] and v.get("made_live_via"):
            again = " ".join(filter(None, [v["made_live_via"], v.get("made_live_by")]))
            live += f" (rolled back: {again})"
        rows.append(
            (
                str(v["number"]),
                v["version"],
                live,
                v["deployed_at"][:19].replace("T", " "),
                v["deployed_via"],
                v["deployed_by"],
                v["commit"][:12] + ("+dirty" if v["commit"].endswith("+dirty") else ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (c.ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
    return lines


def dryrun_lines(answer: dict) -> tuple[list[str], list[str]]:
    """(lines for stdout, warnings for stderr) of a dry run."""
    out = [f"[{line['level']}] {line['message']}" for line in answer["logs"]]
    for call in answer["provider_calls"]:
        status = call.get("status") or call.get("error", "")
        out.append(f"-> {call['method']} {call['url']} {status} {call['duration_ms']}ms")
    if answer["ok"]:
        out.append(json.dumps(answer["output"], indent=2))
    warnings = [f"warning: {w} (use --validation to enforce)" for w in answer["warnings"]]
    return out, warnings


def failure_text(answer: dict) -> str:
    return f"the action failed (HTTP {answer['status']}):\n" + json.dumps(
        {"error": answer["error"]}, indent=2
    )
