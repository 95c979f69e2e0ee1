"""A Docker engine for the tests, and a base image that needs no registry.

The engine already answering (DOCKER_HOST or the default socket) is used as it is. Else, as
root, dockerd is started with a socket and folders of its own, and stopped after the session;
its data folder is kept, so images built once (the base image above all) are reused by the
next run. The base image is Debian bookworm made by mmdebstrap from Debian packages (python3,
its venv module, curl), with this machine's CA bundle, which holds any TLS-intercepting
proxy's CA, set for pip and requests. Every step that cannot be done here gives a reason to
skip, never a failure of the product's tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gce_metadata_emulator.linklocal import on_google_cloud

STATE = Path("/var/cache/gce-metadata-emulator-tests")
RUN = Path("/run/gce-metadata-emulator-tests")
BASE_IMAGE = "gce-metadata-emulator-test-base:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,curl,ca-certificates"


class Unavailable(Exception):
    """Why there is no engine or base image here: the reason to skip."""


@dataclass
class Engine:
    env: dict[str, str]
    base: str = ""  # the base image the project's images are built from
    started: subprocess.Popen | None = None
    log: Path | None = None
    notes: list[str] = field(default_factory=list)

    def docker(self, *args: str, timeout: float = 600, check: bool = True,
               **kwargs) -> subprocess.CompletedProcess:
        done = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, **kwargs)
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def answers(self) -> bool:
        try:
            return self.docker("info", timeout=20, check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.started is None:
            return
        self.started.terminate()
        try:
            self.started.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.started.kill()
            self.started.wait()
        self.started = None


def start() -> Engine:
    """An engine that answers, or Unavailable."""
    if shutil.which("docker") is None:
        raise Unavailable("the docker client is not installed (apt-get install docker.io)")
    if on_google_cloud() is not None:
        raise Unavailable("this machine is a Google Cloud VM: a compose network on "
                          "169.254.169.0/24 would shadow its real metadata server")
    engine = Engine(dict(os.environ))
    if engine.answers():
        engine.notes.append("used the Docker engine already running")
        return engine
    if shutil.which("dockerd") is None:
        raise Unavailable("no Docker engine answers and dockerd is not installed "
                          "(apt-get install docker.io)")
    if os.geteuid() != 0:
        raise Unavailable("no Docker engine answers, and starting dockerd needs root")
    RUN.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    sock = RUN / "docker.sock"
    engine.env["DOCKER_HOST"] = f"unix://{sock}"
    engine.log = RUN / "dockerd.log"
    with engine.log.open("w") as log:
        engine.started = subprocess.Popen(
            ["dockerd", "--host", f"unix://{sock}", "--data-root", str(STATE / "docker"),
             "--exec-root", str(RUN / "exec"), "--pidfile", str(RUN / "dockerd.pid")],
            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if engine.started.poll() is not None:
            break
        if engine.answers():
            return engine
        time.sleep(0.5)
    engine.stop()
    tail = engine.log.read_text()[-1500:]
    raise Unavailable(f"dockerd did not start (see {engine.log}):\n{tail}")


def base_image(engine: Engine) -> str:
    """The local Debian base image (built once, then reused from the engine), or
    Unavailable."""
    if engine.docker("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return BASE_IMAGE
    if shutil.which("mmdebstrap") is None:
        raise Unavailable("no base image: mmdebstrap is not installed (apt-get install "
                          "mmdebstrap), and Docker Hub's python image cannot be relied on")
    with tempfile.TemporaryDirectory(prefix="gme-base-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        made = subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm",
             str(tarball), MIRROR], capture_output=True, text=True, timeout=900)
        if made.returncode != 0:
            raise Unavailable(f"mmdebstrap could not build a bookworm root file system:\n"
                              f"{made.stderr[-1500:]}")
        with tarball.open("rb") as f:
            engine.docker("import", "-", f"{BASE_IMAGE}-rootfs", stdin=f)
        context = Path(tmp) / "context"
        context.mkdir()
        shutil.copy(CA_BUNDLE, context / "ca-certificates.crt")
        (context / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}-rootfs\n"
            "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
            "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "
            "PIP_CERT=/etc/ssl/certs/ca-certificates.crt "
            "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt\n")
        engine.docker("build", "-q", "-t", BASE_IMAGE, str(context))
    return BASE_IMAGE
