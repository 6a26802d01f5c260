#!/usr/bin/env python3
"""Runs README.md's quick start exactly as written, so the README cannot rot.

The shell blocks between `<!-- quickstart -->` and `<!-- /quickstart -->` are the quick
start: the first starts the server and keeps running (a newcomer's first terminal), the rest
run in order in one bash session (their second terminal), and must all succeed. The server
must answer `GET /healthz` first. Runs from the repository root, which must not yet have a
`sluice-data` directory (a fresh clone has none); it is removed afterwards.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEALTHZ = "http://127.0.0.1:8240/healthz"
# The first start builds the release binary.
START_TIMEOUT_SECS = 45 * 60
STEPS_TIMEOUT_SECS = 10 * 60


def blocks(readme: str) -> list[str]:
    match = re.search(r"<!-- quickstart -->(.*?)<!-- /quickstart -->", readme, re.S)
    if not match:
        sys.exit("README.md has no <!-- quickstart --> section")
    found = re.findall(r"```sh\n(.*?)```", match.group(1), re.S)
    if len(found) < 2:
        sys.exit("the quick start needs a start block and at least one more")
    return found


def healthy() -> bool:
    try:
        with urllib.request.urlopen(HEALTHZ, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def main() -> None:
    os.chdir(ROOT)
    if os.path.exists("sluice-data"):
        sys.exit("./sluice-data exists; the quick start runs on a fresh clone")
    with open("README.md", encoding="utf-8") as f:
        start, *steps = blocks(f.read())
    print(f"$ {start.strip()}", flush=True)
    log = open("target/quickstart-server.log", "w", encoding="utf-8")
    server = subprocess.Popen(
        ["bash", "-c", start],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while not healthy():
            if server.poll() is not None:
                sys.exit(f"the server exited with {server.returncode}; see target/quickstart-server.log")
            if time.monotonic() > deadline:
                sys.exit("the server did not answer /healthz in time")
            time.sleep(1)
        script = "set -euxo pipefail\n" + "\n".join(steps)
        env = dict(os.environ)
        # The aws CLI of the conformance suite (`cargo xtask test` installs it), and a git
        # identity, as a developer's machine has them.
        env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
        for name in ("GIT_AUTHOR", "GIT_COMMITTER"):
            env.setdefault(f"{name}_NAME", "Newcomer")
            env.setdefault(f"{name}_EMAIL", "newcomer@example.com")
        done = subprocess.run(["bash", "-c", script], env=env, timeout=STEPS_TIMEOUT_SECS)
        if done.returncode != 0:
            with open("target/quickstart-server.log", encoding="utf-8") as f:
                print(f.read()[-4000:])
            sys.exit(f"the quick start failed with {done.returncode}")
        print("the README's quick start works", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree("sluice-data", ignore_errors=True)


if __name__ == "__main__":
    main()
