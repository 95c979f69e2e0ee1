"""Fixtures: an in-process emulator behind aiohttp's test client, and the real CLI in its own
process on an ephemeral loopback port, as a user (or a compose sidecar) runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import BaseTestServer

from gce_metadata_emulator import config
from gce_metadata_emulator.runtime import Emulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example.yaml"
FLAVOR = {"Metadata-Flavor": "Google"}
BANNER = re.compile(r"serving http://([0-9.]+:[0-9]+)/")
# An empty gcloud folder: no test may find the developer's real ADC or gcloud project.
EMPTY_GCLOUD = tempfile.mkdtemp(prefix="no-gcloud-")
# The command line, as `gce-metadata-emulator` runs it.
CLI = [sys.executable, "-m", "gce_metadata_emulator"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: nothing of the host's Google setup leaks in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GCE_", "GOOGLE_", "CLOUDSDK_", "METADATA_", "API_ENDPOINT"))}
    env["CLOUDSDK_CONFIG"] = EMPTY_GCLOUD
    env.update(extra)
    return env


@pytest.fixture
def example_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(EXAMPLE.read_text())
    return path


class EmulatorServer(BaseTestServer):
    """aiohttp's test server around the emulator's own server (its connection class and
    limits), so in-process tests meet what a client meets."""

    def __init__(self, emulator: Emulator, **kwargs) -> None:
        self.emulator = emulator
        super().__init__(host="127.0.0.1", **kwargs)

    async def _make_runner(self, **kwargs):
        from aiohttp import web

        return web.ServerRunner(self.emulator.web_server(), **kwargs)


@pytest.fixture
async def make_client(aiohttp_client, tmp_path: Path):
    """make_client(yaml_text) → (aiohttp test client, Emulator) serving that config file."""
    started: list[Emulator] = []

    async def make(text: str | None = None, watch: bool = True, **flags):
        path = tmp_path / "config.yaml"
        path.write_text(EXAMPLE.read_text() if text is None else text)
        environ = flags.pop("environ", {"CLOUDSDK_CONFIG": EMPTY_GCLOUD})
        emulator = Emulator(lambda: config.load(path, environ=environ, **flags), environ)
        server = EmulatorServer(emulator)
        if watch:
            await emulator.start()
        started.append(emulator)
        return await aiohttp_client(server), emulator

    yield make
    for emulator in started:
        await emulator.close()


@pytest.fixture
async def client(make_client):
    test_client, _ = await make_client()
    return test_client


class Process:
    """The emulator started by its CLI; `address` is host:port as a client would use it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args, "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        line = self.proc.stdout.readline()
        match = BANNER.search(line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"no banner: {line!r} {self.proc.stderr.read()}")
        self.banner = line
        self.address = match.group(1)
        self.url = f"http://{self.address}"

    def client_env(self, **extra: str) -> dict[str, str]:
        return clean_env(GCE_METADATA_HOST=self.address, GCE_METADATA_IP=self.address,
                         GCE_METADATA_ROOT=self.address, GCE_METADATA_MTLS_MODE="none",
                         METADATA_SERVER_DETECTION="assume-present", **extra)

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


@pytest.fixture
def start_emulator() -> Iterator:
    started: list[Process] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Process:
        process = Process(list(args), env if env is not None else clean_env())
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def run_client(argv: list[str], env: dict[str, str], timeout: float = 60,
               cwd: Path = ROOT) -> str:
    """Run a real client library program in its own process; its stdout, or a failure."""
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)
    assert done.returncode == 0, (
        f"{argv[-1]} exited {done.returncode} after {time.monotonic() - started:.1f}s\n"
        f"stdout: {done.stdout}\nstderr: {done.stderr}")
    return done.stdout


@pytest.fixture
def fake():
    """The fake Google, granting Token Creator on the accounts the token tests use."""
    from tests import impersonation
    from tests.fake_google import FakeGoogle

    google = FakeGoogle().start()
    google.granted |= {impersonation.APP, impersonation.RELAY, impersonation.TARGET}
    yield google
    google.stop()


@pytest.fixture
def impersonating(make_client, fake, tmp_path):
    """impersonating(adc, accounts, emulator) → (in-process client, ADC path) of an emulator
    impersonating with that ADC against the fake Google."""

    from tests import impersonation

    async def make(adc: dict, accounts: str | None = None, emulator: str = "",
                   timeout: str = "5s"):
        config, adc_path = impersonation.setup(tmp_path, fake, adc, accounts, emulator, timeout)
        client, _ = await make_client(
            config.read_text(), environ={"GOOGLE_APPLICATION_CREDENTIALS": str(adc_path)})
        return client, adc_path

    return make
