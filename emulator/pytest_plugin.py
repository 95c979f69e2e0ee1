"""pytest fixtures, registered when the package is installed (entry point `pytest11`):

    def test_reads_the_project(gce_metadata):
        gce_metadata.set("project/attributes/env", "test")
        ...code under test, unchanged...
        assert [r["path"] for r in gce_metadata.requests()]

`gce_metadata` (one emulator per test) and `gce_metadata_session` (one for the session) start
an emulator in this process on a free loopback port, local tokens unless the config says
otherwise, and point every client library at it while they are active: the five variables,
and google-auth's module-level copy of GCE_METADATA_HOST (read once, at its import), restored
afterwards. The config comes from `@pytest.mark.gce_metadata(config=...)` or an indirect
parameter: a dict, YAML text, or a path to a YAML file.

The handle is a `remote.Remote` (set, delete, trigger, fail_next, fault, requests, reset...),
so the same calls drive a compose sidecar: `Remote("metadata.google.internal:80")`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MARKER = "gce_metadata"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(config=None): the config of the gce_metadata fixture: a dict, "
        "YAML text or a YAML file path (local tokens unless it says otherwise)")


def config_text(spec: Any) -> str:
    """YAML of the emulator's config: local tokens unless the test asks for others."""
    import yaml

    if spec is None:
        doc: dict = {}
    elif isinstance(spec, dict):
        doc = dict(spec)
    elif isinstance(spec, Path) or (isinstance(spec, str) and "\n" not in spec
                                    and spec.endswith((".yaml", ".yml"))):
        doc = yaml.safe_load(Path(spec).read_text()) or {}
    else:
        doc = yaml.safe_load(spec) or {}
    emulator = dict(doc.get("emulator") or {})
    emulator.setdefault("credentials", "local")
    emulator.setdefault("watch-config", False)
    doc["emulator"] = emulator
    return yaml.safe_dump(doc)


def handle_class():
    from .remote import Remote

    class GceMetadata(Remote):
        """A running in-process emulator and its control API."""

        def __init__(self, background, config: str) -> None:
            super().__init__(background.url)
            self.background = background
            self.host = background.host  # 127.0.0.1:PORT, as GCE_METADATA_HOST wants it
            self.config = config  # the YAML it serves

        @property
        def environ(self) -> dict[str, str]:
            """The variables that point clients at it (for a subprocess)."""
            from .serving import client_env

            return client_env(self.host)

        def stop(self) -> None:
            self.background.stop()

    return GceMetadata


def start(spec: Any, folder: Path):
    """An emulator serving the config `spec`, in this process; its handle."""
    from . import config
    from .background import Background

    path = folder / "gce-metadata.yaml"
    path.write_text(config_text(spec))
    environ = {"CLOUDSDK_CONFIG": str(folder / "no-gcloud")}  # never the developer's ADC
    background = Background(lambda: config.load(path, environ=environ), environ).start()
    return handle_class()(background, path.read_text())


class Pointed:
    """The variables set, and google-auth's copies patched, until undone."""

    def __init__(self, handle) -> None:
        pointing = handle.environ
        self.saved_env = {name: os.environ.get(name) for name in pointing}
        os.environ.update(pointing)
        self.patched: list[tuple[Any, str, Any]] = []
        module = sys.modules.get("google.auth.compute_engine._metadata")
        if module is not None:  # imported before: it holds GCE_METADATA_HOST as it was then
            host = handle.host
            for name, value in (("_GCE_METADATA_HOST", host),
                                ("_METADATA_ROOT", f"http://{host}/computeMetadata/v1/"),
                                ("_METADATA_IP_ROOT", f"http://{host}")):
                if hasattr(module, name):
                    self.patched.append((module, name, getattr(module, name)))
                    setattr(module, name, value)

    def undo(self) -> None:
        for module, name, value in reversed(self.patched):
            setattr(module, name, value)
        for name, value in self.saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def spec_of(request: pytest.FixtureRequest) -> Any:
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        return marker.kwargs.get("config", marker.args[0] if marker.args else None)
    return getattr(request, "param", None)


@contextlib.contextmanager
def pointed_emulator(spec: Any) -> Iterator:
    """An emulator serving `spec`, pointed at while the block runs; stopped after."""
    with tempfile.TemporaryDirectory(prefix="gce-metadata-") as folder:
        handle = start(spec, Path(folder))
        pointed = Pointed(handle)
        try:
            yield handle
        finally:
            pointed.undo()
            handle.stop()


@pytest.fixture
def gce_metadata(request: pytest.FixtureRequest) -> Iterator:
    """An emulator for this test, pointed at by every client library while the test runs."""
    with pointed_emulator(spec_of(request)) as handle:
        yield handle


@pytest.fixture(scope="session")
def gce_metadata_session(request: pytest.FixtureRequest) -> Iterator:
    """One emulator for the whole session (call .reset() between tests that change it)."""
    with pointed_emulator(getattr(request, "param", None)) as handle:
        yield handle
