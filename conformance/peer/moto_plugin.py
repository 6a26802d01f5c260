"""A pytest plugin that runs moto's own CodePipeline tests against Sluice: before each test a
fresh `sluice serve` starts on the port TEST_SERVER_MODE_ENDPOINT names, with moto's fake
credentials as its root key and moto's account id, and stops after it."""

import os
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENDPOINT = os.environ["TEST_SERVER_MODE_ENDPOINT"]
PORT = ENDPOINT.rsplit(":", 1)[1]


@pytest.fixture(autouse=True)
def fresh_sluice():
    binary = os.environ.get("SLUICE_BIN", str(ROOT / "target" / "debug" / "sluice"))
    data_dir = tempfile.mkdtemp(prefix="sluice-moto-")
    env = dict(os.environ)
    env.update(
        SLUICE_BOOTSTRAP_ACCESS_KEY_ID="FOOBARKEY",
        SLUICE_BOOTSTRAP_SECRET_ACCESS_KEY="FOOBARSECRET",
        SLUICE_ACCOUNT_ID="123456789012",
        SLUICE_LOG="warn",
    )
    log = open(os.path.join(data_dir, "server.log"), "ab")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{PORT}", "--data-dir", data_dir],
        stdout=log, stderr=log, env=env,
    )
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("sluice did not start for the peer suite")
            time.sleep(0.05)
    yield
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    shutil.rmtree(data_dir, ignore_errors=True)
