"""Starts a fresh `sluice serve` for the conformance suite and drives it with the real aws CLI
and boto3 from PyPI. SLUICE_BIN names the binary (default: target/debug/sluice). With
SLUICE_CONFORMANCE_POSTGRES set to a PostgreSQL URL, each server keeps its state in a database
of its own made there (and dropped after), and `sluice admin` run by a test finds it through
SLUICE_DATABASE_URL."""

import atexit
import json
import os
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.request

import boto3
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
GUIDE = pathlib.Path(__file__).resolve().parent / "guide"


# Databases the servers were given; dropped when the run ends (a server may be stopped and
# started again on its state within a test).
DATABASES = []


@atexit.register
def drop_databases():
    for admin, name in DATABASES:
        psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True,
                   env=dict(os.environ, PGOPTIONS="--client-min-messages=warning"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sluice:
    def __init__(self, tls=None, config=None):
        """`tls`: (certificate file, key file) to serve HTTPS with; `config`: a config file's
        TOML text."""
        self.data_dir = tempfile.mkdtemp(prefix="sluice-conformance-")
        self.port = free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        self.endpoint = f"{scheme}://localhost:{self.port}" if tls else f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.config = config
        self.database = None

    def make_database(self):
        """On PostgreSQL: a database of this server's own, named in SLUICE_DATABASE_URL for it
        and for the `sluice admin` commands a test runs."""
        admin = os.environ.get("SLUICE_CONFORMANCE_POSTGRES")
        if not admin:
            return
        if not self.database:
            name = f"sluice_conformance_{os.getpid()}_{self.port}"
            psql(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            psql(admin, f"CREATE DATABASE {name}")
            self.database = (admin, name)
            DATABASES.append(self.database)
        admin, name = self.database
        os.environ["SLUICE_DATABASE_URL"] = admin.rsplit("/", 1)[0] + "/" + name

    def start(self):
        self.make_database()
        binary = os.environ.get("SLUICE_BIN", str(ROOT / "target" / "debug" / "sluice"))
        self.log = open(os.path.join(self.data_dir, "server.log"), "ab")
        args = [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir]
        if self.tls:
            args += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        if self.config:
            path = os.path.join(self.data_dir, "sluice.toml")
            with open(path, "w") as f:
                f.write(self.config)
            args += ["--config", path]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        import ssl
        context = ssl.create_default_context(cafile=self.tls[0]) if self.tls else None
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/healthz", timeout=1, context=context) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sluice did not become healthy")

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def env(self):
        env = dict(os.environ)
        env.update(
            AWS_SHARED_CREDENTIALS_FILE=os.path.join(self.data_dir, "credentials"),
            AWS_CONFIG_FILE=os.devnull,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_PAGER="",
        )
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            env.pop(k, None)
        return env

    def aws(self, *args, check=True, cwd=None):
        """Runs `aws ARGS --endpoint-url ...`; returns (exit code, parsed JSON or None, stderr)."""
        cmd = ["aws", *args, "--endpoint-url", self.endpoint, "--output", "json"]
        if self.tls:
            cmd += ["--ca-bundle", self.tls[0]]
        p = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, cwd=cwd)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({p.returncode}): {p.stderr}")
        try:
            out = json.loads(p.stdout) if p.stdout.strip() else None
        except ValueError:
            out = None  # `aws s3 ...` prints text, not JSON
        return p.returncode, out, p.stderr

    def client(self, service="codepipeline"):
        session = boto3.session.Session(
            aws_access_key_id=self.credentials()[0],
            aws_secret_access_key=self.credentials()[1],
            region_name="us-east-1",
        )
        verify = self.tls[0] if self.tls else None
        return session.client(service, endpoint_url=self.endpoint, verify=verify)

    def credentials(self):
        text = open(os.path.join(self.data_dir, "credentials")).read()
        values = dict(
            (k.strip(), v.strip()) for k, v in (line.split("=", 1) for line in text.splitlines() if "=" in line)
        )
        return values["aws_access_key_id"], values["aws_secret_access_key"]


@pytest.fixture
def sluice():
    s = Sluice()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def guide_dir(tmp_path):
    """A working directory holding the guide's JSON documents, as a reader would have them."""
    for f in GUIDE.glob("*.json"):
        (tmp_path / f.name).write_text(f.read_text())
    return tmp_path
