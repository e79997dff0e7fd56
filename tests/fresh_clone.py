"""A newcomer's first five minutes, as a script: clone the repository into a temporary
folder, then run the README's quick start and dry run commands literally and check that
they print what the README says they print.

    python3 tests/fresh_clone.py [--repo PATH] [--timeout SECONDS] [--keep]

What it runs is read from the clone's README.md: every ```sh block of the sections
"Quick start" and "Dry run", in order. A block whose last command is `make run` is the
first terminal: it runs in the background until it prints "serving on". The other blocks
run one after another in one bash (a second terminal: what one exports, the next sees),
with `set -e`. A comment line `# -> TEXT` says what the commands since the previous such
line print: JSON is compared as JSON (anywhere in that output, one line or indented), other
text as a substring, whitespace-insensitive, `…` standing for anything. The one
placeholder filled in is `<the secret key make run printed>`.

Before that, and only that, it runs `make install` in the clone with the network
available (the package registry); everything else runs in a new network namespace with
only a loopback (`unshare --net`, root), so ports 8000 and 9000 are its own and nothing
but loopback is reachable, and in a new PID namespace, so that every process the README
starts ends with the script. Exits 0 when every command ran as the README says, else 1 with
what each printed. The whole run is bounded by --timeout.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Quick start", "Dry run")
PLACEHOLDER = "<the secret key make run printed>"
EXPECT = re.compile(r"^\s*# -> (.*)$")
MARKER = "@@fresh-clone expectation {}@@"
# What a newcomer's shell has; none of the platform's settings (DATABASE_URL, REDIS_URL…).
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER", "PIP_CONFIG_FILE")


def blocks(readme: str) -> list[str]:
    """The sh code blocks of SECTIONS, in the README's order."""
    found, section, block = [], "", None
    for line in readme.splitlines():
        if block is not None:
            if line.startswith("```"):
                if section in SECTIONS:
                    found.append("\n".join(block))
                block = None
            else:
                block.append(line)
        elif line.startswith("## "):
            section = line[3:].strip()
        elif line.strip() in ("```sh", "```bash"):
            block = []
    return found


def is_first_terminal(block: str) -> bool:
    commands = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return bool(commands) and commands[-1].strip() == "make run"


def scripted(blocks: list[str], key: str) -> tuple[str, list[tuple[int, str]]]:
    """One bash script of the second terminal's blocks, an echoed marker in place of each
    group of `# -> ` lines; and the expectations, each with the number of its marker (the
    lines of a group are about the same output)."""
    lines, expected, markers, grouped = ["set -e"], [], 0, False
    for block in blocks:
        for line in block.replace(PLACEHOLDER, key).splitlines():
            match = EXPECT.match(line)
            if match and not grouped:
                # After the output, on a line of its own (curl ends without a newline).
                lines.append(f"echo; echo '{MARKER.format(markers)}'")
                markers += 1
            if match:
                expected.append((markers - 1, match.group(1).strip()))
            else:
                lines.append(line)
            grouped = bool(match)
    return "\n".join(lines) + "\n", expected


def _json_values(text: str):
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"[\[{]", text)):
        try:
            yield decoder.raw_decode(text, start)[0]
        except ValueError:
            continue


def matches(expected: str, output: str) -> bool:
    try:
        value = json.loads(expected)
    except ValueError:
        value = None
    if isinstance(value, dict | list):
        return any(found == value for found in _json_values(output))
    flat = " ".join(output.split())
    pattern = ".*".join(re.escape(" ".join(part.split())) for part in expected.split("…"))
    return re.search(pattern, flat) is not None


def check(output: str, expected: list[tuple[int, str]]) -> list[str]:
    """The expectations the output does not meet, each with what was printed instead."""
    chunks, rest = [], output
    for number in range(len({marker for marker, _ in expected})):
        chunk, found, rest = rest.partition(MARKER.format(number))
        chunks.append(chunk if found else None)
    problems = []
    for marker, want in expected:
        chunk = chunks[marker]
        if chunk is None:
            problems.append(f"# -> {want}\n   not reached: the commands before it failed")
            break
        if not matches(want, chunk):
            problems.append(f"# -> {want}\n   printed instead:\n{_indent(chunk)}")
    return problems


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.strip().splitlines()[-30:])


def clean_env(extra: dict | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {**env, **(extra or {})}


def inside(clone: Path, deadline: float) -> int:
    """In the new namespaces (PID 1 here): loopback up, the README's commands."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    readme = (clone / "README.md").read_text()
    found = blocks(readme)
    first = [b for b in found if is_first_terminal(b)]
    if len(first) != 1:
        print(f"expected one block ending in `make run` in {SECTIONS}, found {len(first)}")
        return 1
    terminal1 = clone / "terminal1.log"
    with open(terminal1, "wb") as log:
        server = subprocess.Popen(
            ["bash", "-c", first[0]],
            cwd=clone,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        key = _wait_for_key(server, terminal1, deadline)
        if key is None:
            print("make run did not start serving:\n" + _indent(terminal1.read_text()))
            return 1
        script, expected = scripted([b for b in found if b is not first[0]], key)
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=clone,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=max(deadline - time.monotonic(), 1),
        )
        output = done.stdout + done.stderr
        problems = check(done.stdout + "\n" + done.stderr, expected)
        if done.returncode != 0:
            problems.append(f"a command exited {done.returncode}:\n{_indent(output)}")
        if problems:
            print("the README's commands did not do what it says:\n" + "\n".join(problems))
            print("make run printed:\n" + _indent(terminal1.read_text()))
            return 1
        print(f"quick start and dry run: {len(expected)} outputs as the README says")
        return 0
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=40)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        # Leaving, PID 1 takes every process of the namespace with it.


def _wait_for_key(server: subprocess.Popen, log: Path, deadline: float) -> str | None:
    while time.monotonic() < deadline and server.poll() is None:
        text = log.read_text(errors="replace")
        if "serving on" in text:
            found = re.search(r"secret key:\s+(\S+)", text)
            return found.group(1) if found else None
        time.sleep(0.5)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=str(ROOT), help="the repository to clone")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    parser.add_argument("--inside", help=argparse.SUPPRESS)  # the clone, in the namespaces
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    if args.inside:
        return inside(Path(args.inside), deadline)
    if shutil.which("unshare") is None:
        print("unshare (util-linux) is needed")
        return 1
    folder = Path(tempfile.mkdtemp(prefix="fresh-clone-"))
    clone = folder / "nangosite"
    try:
        subprocess.run(["git", "clone", "-q", args.repo, str(clone)], check=True, timeout=120)
        installed = subprocess.run(
            ["make", "install"],
            cwd=clone,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=max(deadline - time.monotonic(), 1),
        )
        if installed.returncode != 0:
            print("make install failed:\n" + _indent(installed.stdout + installed.stderr))
            return 1
        command = [
            "unshare", "--net", "--pid", "--fork", "--kill-child",
            sys.executable, str(Path(__file__).resolve()), "--inside", str(clone),
            "--timeout", str(max(deadline - time.monotonic(), 1)),
        ]  # fmt: skip
        try:
            return subprocess.run(
                command, timeout=max(deadline - time.monotonic(), 1) + 60
            ).returncode
        except subprocess.TimeoutExpired:
            print(f"the README's commands did not finish within {args.timeout:g} s")
            return 1
    finally:
        if args.keep:
            print(f"the clone is kept in {clone}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
