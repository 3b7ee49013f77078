"""Two more S3 servers on loopback, besides SeaweedFS (tests/s3server.py):

- moto's standalone server (`moto[server]`, PyPI): honours If-None-Match on uploads and on
  multipart completions, but stores a body whatever its x-amz-checksum-sha256 says;
- s3rver (npm, tests/s3rver/package.json): a fake S3 server that accepts If-None-Match and
  overwrites anyway, the store the probe exists to refuse.

Each is a real server process speaking HTTP on 127.0.0.1, driven by the same boto3 client.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tests.s3server import client_at, env_for, free_port, stop_process, wait_until_up

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3RVER_DIR = Path(__file__).parent / "s3rver"


def s3rver_binary() -> Path | None:
    found = S3RVER_DIR / "node_modules" / ".bin" / "s3rver"
    return found if found.exists() and shutil.which("node") else None


class LoopbackS3:
    """A server process on 127.0.0.1: started, waited for, stopped; a client and env for it."""

    name = ""
    access_key = "newsarchive-other"
    secret_key = "newsarchive-other-secret"

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> LoopbackS3:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(self.command(), cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT)
        wait_until_up(self.name, self.proc, self.client(), self.data_dir / f"{self.name}.log", timeout, self.stop)
        return self

    def client(self) -> S3Client:
        return client_at(self.endpoint, self.access_key, self.secret_key)

    def env(self) -> dict[str, str]:
        return env_for(self.endpoint, self.access_key, self.secret_key)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


class MotoS3(LoopbackS3):
    name = "moto"

    def command(self) -> list[str]:
        server = Path(sys.executable).parent / "moto_server"
        return [str(server), "-H", "127.0.0.1", "-p", str(self.port)]


class S3rver(LoopbackS3):
    name = "s3rver"
    access_key = secret_key = "S3RVER"  # the only credentials s3rver accepts

    def command(self) -> list[str]:
        binary = s3rver_binary()
        if binary is None:
            raise RuntimeError("s3rver not installed: `make test` installs it (npm ci --prefix tests/s3rver)")
        data = self.data_dir / "data"
        data.mkdir(exist_ok=True)
        return ["node", str(binary), "--address", "127.0.0.1", "--port", str(self.port), "--directory", str(data)]


def node_missing_reason() -> str:
    """Why s3rver cannot run here, or "" when it can."""
    if not shutil.which("node"):
        return "node is not installed"
    if s3rver_binary() is None:
        return "s3rver is not installed (npm ci --prefix tests/s3rver)"
    return ""
