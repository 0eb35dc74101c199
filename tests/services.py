"""The machine's PostgreSQL and Redis: started when down, or a clear failure saying what to start."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import time

import pytest

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")

START_COMMANDS = {
    "PostgreSQL": ("127.0.0.1", 5432, "pg_ctlcluster --skip-systemctl-redirect {version} main start"),
    "Redis": ("127.0.0.1", 6379, "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 "
              "--save '' --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"),
}


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_running(name: str) -> None:
    host, port, command = START_COMMANDS[name]
    if _listening(host, port):
        return
    versions = [os.path.basename(path) for path in glob.glob("/etc/postgresql/*")]
    command = command.format(version=versions[0] if versions else "15")
    subprocess.run(command, shell=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _listening(host, port):
            return
        time.sleep(0.5)
    pytest.fail(f"{name} is not listening on {host}:{port} and could not be started; "
                f"start it with: {command}", pytrace=False)
