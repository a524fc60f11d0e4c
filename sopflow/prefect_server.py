"""The Prefect server the embedded set-up keeps running (one, not one per flow)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sopflow.config import instance_path

DEFAULT_PORT = 4200


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    """Return True when the Prefect API at `api_url` answers its health check."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def start_server(
    port: int = DEFAULT_PORT, wait_seconds: float = 90.0
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `prefect server start` on 127.0.0.1:`port`; return (process, API URL) once healthy.

    Its log goes to instance/prefect-server.log. Raises RuntimeError if it does
    not become healthy in time.
    """
    api_url = f"http://127.0.0.1:{port}/api"
    log_path = Path(instance_path()) / "prefect-server.log"
    env = {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    prefect = Path(sys.executable).with_name("prefect")
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if healthy(api_url):
            return process, api_url
        if process.poll() is not None:
            raise RuntimeError(f"the Prefect server exited; see {log_path}")
        time.sleep(0.5)
    process.terminate()
    raise RuntimeError(
        f"the Prefect server did not become healthy in {wait_seconds:.0f}s; see {log_path}"
    )
