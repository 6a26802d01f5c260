"""`sluice serve --tls-cert --tls-key`: the aws CLI, boto3 and git reach the API, the S3
endpoint and hosted repositories over HTTPS, trusting the server's certificate."""

import os
import subprocess
import urllib.parse

import pytest

from conftest import Sluice


@pytest.fixture
def tls_sluice(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    s = Sluice(tls=(str(cert), str(key)))
    s.start()
    yield s
    s.stop()


def test_the_cli_boto3_and_git_work_over_https(tls_sluice, tmp_path):
    _, out, _ = tls_sluice.aws("codepipeline", "list-action-types", "--action-owner-filter", "AWS")
    assert any(t["id"]["provider"] == "S3" for t in out["actionTypes"])
    s3 = tls_sluice.client("s3")
    s3.create_bucket(Bucket="secure-bucket")
    s3.put_object(Bucket="secure-bucket", Key="k", Body=b"over tls")
    assert s3.get_object(Bucket="secure-bucket", Key="k")["Body"].read() == b"over tls"

    subprocess.run([os.environ.get("SLUICE_BIN", "target/debug/sluice"), "repo", "create", "secure",
                    "--data-dir", tls_sluice.data_dir], check=True, capture_output=True)
    key_id, secret = tls_sluice.credentials()
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, GIT_SSL_CAINFO=tls_sluice.tls[0], GIT_TERMINAL_PROMPT="0",
               GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com",
               GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com")
    (work / "README").write_text("hello\n")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "first"],
                 ["push", "-q", f"https://{key_id}:{urllib.parse.quote(secret, safe='')}@localhost:{tls_sluice.port}/_sluice/git/secure.git",
                  "main"]):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
