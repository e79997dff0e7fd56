"""The `nango` command (also `python -m nango`): deploy, dry-run, roll back and test the
functions of a working tree against a remote server, with an environment's secret key
alone. Run it where `functions/` is (or pass `--dir`); the host and the key come from
NANGO_HOST and NANGO_SECRET_KEY, or `--host` and `--secret-key`.

    nango deploy [ENV] [--integration ID] [--action NAME] [--prune] [--dry-run]
    nango dryrun ACTION CONNECTION_ID [--input JSON|@file] [--validation] [--save]
    nango versions ACTION          nango rollback ACTION [--to VERSION] [--no-pin]
    nango unpin ACTION             nango generate-tests [--integration ID]

Exit status: 0 done, 1 refused or failed (the reasons on stderr), 2 bad usage.
"""

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from nango.client import DEFAULT_HOST, Nango, NangoError
from nango.report import deploy_lines, dryrun_lines, failure_text, history_lines, prune_lines
from nango.tree import git_commit, read_tree, write_fixture

VERSION = "1.0.0"
# Commit variables of common CI systems, before asking git.
COMMIT_VARIABLES = ("NANGO_DEPLOY_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT")
ACTOR_VARIABLES = ("NANGO_DEPLOYED_BY", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER")


class Refused(Exception):
    """A command that cannot go on; the message says why."""


def parse_input(value: str | None) -> object:
    """`--input`: JSON, `@file.json`, or (as Nango's CLI does) any other text as a string."""
    if value is None:
        return None
    if value.startswith("@"):
        try:
            value = Path(value[1:]).read_text()
        except OSError as exc:
            raise ValueError(f"cannot read input file: {exc}") from None
    try:
        return json.loads(value)
    except ValueError:
        return value


def client(args) -> Nango:
    key = args.secret_key or os.environ.get("NANGO_SECRET_KEY", "")
    if not key:
        raise Refused("no secret key: set NANGO_SECRET_KEY or pass --secret-key")
    host = args.host or os.environ.get("NANGO_HOST") or DEFAULT_HOST
    nango = Nango(secret_key=key, host=host, action_timeout=args.timeout)
    # The server records that the CLI deployed (not some other API client).
    nango.session.headers["User-Agent"] = f"nango-cli/{VERSION}"
    return nango


def tree_of(args) -> tuple[Path, dict[str, str]]:
    root = Path(args.dir)
    files = read_tree(root) if root.is_dir() else {}
    if not files:
        raise Refused(f"no function files under {root}/ (run where functions/ is, or --dir)")
    return root, files


def _out(lines: list[str], stream=None) -> None:
    for line in lines:
        print(line, file=stream or sys.stdout)


def deploy(args) -> int:
    root, files = tree_of(args)
    nango = client(args)
    scope = dict(
        integration=args.integration, action=args.action, environment=args.environment or ""
    )
    if args.prune and not args.dry_run:
        plan = nango.deploy(files, **scope, prune=True, dry_run=True)
        listed = prune_lines(plan)
        _out(listed)
        if listed and not args.yes and sys.stdin.isatty():
            if input("Disable them? [y/N] ").strip().lower() not in ("y", "yes"):
                raise Refused("nothing was deployed")
    commit = args.commit or next((os.environ[v] for v in COMMIT_VARIABLES if os.environ.get(v)), "")
    answer = nango.deploy(
        files,
        **scope,
        prune=args.prune,
        dry_run=args.dry_run,
        commit=commit or git_commit(root),
        deployed_by=args.by or _actor(),
    )
    _out(deploy_lines(answer))
    return 0


def _actor() -> str:
    found = next((os.environ[v] for v in ACTOR_VARIABLES if os.environ.get(v)), "")
    if found:
        return found
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def dryrun(args) -> int:
    root, files = tree_of(args)
    try:
        value = parse_input(args.input)
    except ValueError as exc:
        raise Refused(str(exc)) from None
    answer = client(args).dry_run(
        files,
        args.action,
        args.connection_id,
        value,
        integration=args.integration,
        validation=args.validation,
        save=args.save,
        environment=args.environment or "",
    )
    out, warnings = dryrun_lines(answer)
    _out(warnings, sys.stderr)
    _out(out)
    if not answer["ok"]:
        print(failure_text(answer), file=sys.stderr)
        return 1
    if args.save:
        stem = answer["fixture_path"].rsplit("/", 1)[1].removesuffix(".json")
        path = write_fixture(root, answer["integration"], stem, answer["fixture"])
        print(f"saved {path}")
    print(f"ran in {answer['duration_ms']:.0f} ms")
    return 0


def _integration_of(nango: Nango, action: str, given: str) -> str:
    """The integration whose action `action` is: given, or the only one deployed."""
    if given:
        return given
    config = nango.request("GET", "/scripts/config").json()
    keys = [
        entry["providerConfigKey"]
        for entry in config
        if any(a["name"] == action for a in entry.get("actions", []))
    ]
    if not keys:
        raise Refused(f"no integration of this environment has an action {action!r}")
    if len(keys) > 1:
        raise Refused(f"several integrations have an action {action!r}: pass --integration")
    return keys[0]


def versions(args) -> int:
    nango = client(args)
    key = _integration_of(nango, args.action, args.integration)
    _out(history_lines(nango.function_versions(key, args.action)))
    return 0


def rollback(args) -> int:
    nango = client(args)
    key = _integration_of(nango, args.action, args.integration)
    before = next(v for v in nango.function_versions(key, args.action)["versions"] if v["live"])
    history = nango.rollback(key, args.action, args.to, pin=not args.no_pin)
    live = next(v for v in history["versions"] if v["live"])
    was = f"was #{before['number']}"
    print(f"{key}/{args.action}: #{live['number']} ({live['version']}) is live ({was})")
    if history["pinned"]:
        print(f"pinned: deploys leave it alone until `nango unpin {args.action}`")
    _out(history_lines(history))
    return 0


def unpin(args) -> int:
    nango = client(args)
    key = _integration_of(nango, args.action, args.integration)
    _out(history_lines(nango.unpin(key, args.action)))
    return 0


def generate_tests_command(args) -> int:
    from nango.testing import generate_tests

    written = generate_tests(Path(args.dir), args.integration)
    if not written:
        raise Refused(
            f"no fixtures under {args.dir}/*/tests/ (record some with `nango dryrun --save`)"
        )
    _out([f"wrote {path}" for path in written])
    return 0


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--host", default="", help="the server (default $NANGO_HOST)")
    common.add_argument("--secret-key", default="", help="(default $NANGO_SECRET_KEY)")
    common.add_argument("--dir", default="functions", help="the functions folder")
    common.add_argument("--integration", default="", help="only this integration")
    common.add_argument(
        "--timeout", type=float, default=960.0, help="seconds to wait for a dry run"
    )
    top = argparse.ArgumentParser(prog="nango", description=__doc__.split("\n\n")[0])
    top.add_argument("--version", action="version", version=f"nango {VERSION}")
    commands = top.add_subparsers(dest="name", required=True, metavar="COMMAND")

    def command(name, run, text):
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(run=run)
        return sub

    sub = command("deploy", deploy, "check and deploy the tree's functions, all or nothing")
    sub.add_argument("environment", nargs="?", help="refuse unless the key's environment")
    sub.add_argument("--action", default="", help="only this action")
    sub.add_argument("--prune", action="store_true", help="disable functions no longer in the tree")
    sub.add_argument("--dry-run", action="store_true", help="check and list; store nothing")
    sub.add_argument("--yes", "-y", action="store_true", help="do not ask before pruning")
    sub.add_argument("--commit", default="", help="git commit to record (default: detected)")
    sub.add_argument("--by", default="", help="who deploys (default: CI actor or user)")

    sub = command("dryrun", dryrun, "run an action of the tree on the server, store nothing")
    sub.add_argument("action")
    sub.add_argument("connection_id")
    sub.add_argument("-e", "--environment", default="", help="refuse unless the key's")
    sub.add_argument("-i", "--input", default=None, help="JSON, or @file.json")
    sub.add_argument("--validation", "--validate", action="store_true")
    sub.add_argument("--save", action="store_true", help="write the fixture tests replay")

    sub = command("versions", versions, "list an action's versions and which is live")
    sub.add_argument("action")
    sub = command("rollback", rollback, "make an earlier version live, and pin it")
    sub.add_argument("action")
    sub.add_argument("--to", default=None, help="version number (default: the one before)")
    sub.add_argument("--no-pin", action="store_true", help="let the next deploy replace it")
    sub = command("unpin", unpin, "let deploys replace the live version again")
    sub.add_argument("action")
    command("generate-tests", generate_tests_command, "write pytest modules replaying fixtures")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
    except NangoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for problem in exc.errors or []:
            print(f"  {problem.get('message', problem)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return 1
