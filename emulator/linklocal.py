"""`serve --link-local`: the emulator at the real address, 169.254.169.254:80, under the real
names, for code that dials them literally.

On Linux: the address goes on the loopback interface when no interface has it, and a marked
block at the top of /etc/hosts makes `metadata.google.internal` (and the form with the trailing
dot) resolve to it. `undo()` takes away exactly what `apply()` added; nothing it found is
touched. It refuses on a Google Cloud machine or where a server already answers at the address:
shadowing a real metadata server is never what anyone wants.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ADDRESS, PORT = "169.254.169.254", 80
NAMES = ("metadata.google.internal", "metadata.google.internal.")
BEGIN = "# BEGIN gce-metadata-emulator --link-local (removed when it stops)"
END = "# END gce-metadata-emulator --link-local"
HOSTS = Path("/etc/hosts")
DMI_PRODUCT = Path("/sys/class/dmi/id/product_name")
ENTRY = f"{ADDRESS} {' '.join(NAMES)}"


class LinkLocalError(Exception):
    """Why --link-local cannot start, with what to do instead."""


def manual_steps() -> str:
    """What root would do, for the user to do once with sudo, and how to undo it."""
    if sys.platform == "darwin":
        add = f"sudo ifconfig lo0 alias {ADDRESS}"
        remove = f"sudo ifconfig lo0 -alias {ADDRESS}"
    else:
        add = f"sudo ip addr add {ADDRESS}/32 dev lo"
        remove = f"sudo ip addr del {ADDRESS}/32 dev lo"
    return (f"  {add}\n"
            f"  echo '{ENTRY}' | sudo tee -a {HOSTS}\n"
            "then serve there (port 80 needs root):\n"
            f"  sudo \"$(command -v gce-metadata-emulator)\" serve --link-local\n"
            "undo:\n"
            f"  {remove}\n"
            f"  sudo sed -i.bak '/^{ADDRESS} metadata.google.internal/d' {HOSTS}")


def on_google_cloud() -> str | None:
    """The DMI product name when this machine is a Google Cloud VM, else None."""
    try:
        product = DMI_PRODUCT.read_text(errors="replace").strip()
    except OSError:
        return None
    return product if product.startswith("Google") else None


def has_address(address: str = ADDRESS) -> bool:
    """Whether an interface of this machine (network namespace) has the address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return False
            raise
    return True


def answering(address: str = ADDRESS, port: int = PORT, timeout: float = 0.5) -> str | None:
    """What already answers at address:port (a sentence), or None when nothing does."""
    try:
        conn = socket.create_connection((address, port), timeout=timeout)
    except OSError:
        return None
    with conn:
        conn.settimeout(timeout)
        try:
            conn.sendall(b"GET / HTTP/1.0\r\nHost: metadata.google.internal\r\n"
                         b"Metadata-Flavor: Google\r\n\r\n")
            head = conn.recv(4096).decode("latin-1").lower()
        except OSError:
            head = ""
    if "server: gce-metadata-emulator" in head:
        return f"another gce-metadata-emulator already serves at {address}:{port}"
    if "metadata-flavor: google" in head:
        return (f"a metadata server already answers at {address}:{port}: this machine is on "
                "Google Cloud, or its network has a metadata server")
    return f"something already listens at {address}:{port}"


def hosts_without_block(text: str) -> tuple[str, bool]:
    """The hosts file text with our marked block taken out, and whether there was one."""
    lines = text.splitlines(keepends=True)
    if BEGIN + "\n" not in lines:
        return text, False
    start = lines.index(BEGIN + "\n")
    end = next((i for i in range(start, len(lines)) if lines[i].rstrip("\n") == END),
               start)
    return "".join(lines[:start] + lines[end + 1:]), True


def resolves_here(text: str) -> bool:
    """Whether the first entry for each name maps it to the address (first match wins)."""
    first: dict[str, str] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        for name in words[1:]:
            first.setdefault(name.lower(), words[0])
    return all(first.get(name) == ADDRESS for name in NAMES)


def rewrite(path: Path, text: str) -> None:
    """In place, not by rename: /etc/hosts is often a bind mount (containers, namespaces)."""
    with path.open("r+") as f:
        f.write(text)
        f.truncate()


def ip(*words: str) -> None:
    tool = shutil.which("ip")
    if tool is None:
        raise LinkLocalError("the `ip` command (iproute2) is not installed")
    done = subprocess.run([tool, *words], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise LinkLocalError(f"`ip {' '.join(words)}` failed: {done.stderr.strip()}")


@dataclass
class LinkLocal:
    """The changes made for --link-local, so that exactly they are undone."""

    hosts: Path = HOSTS
    added_address: bool = False
    added_block: bool = False
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        if sys.platform != "linux":
            raise LinkLocalError(
                f"--link-local sets the address up by itself only on Linux; on {sys.platform}"
                f" do it once by hand:\n{manual_steps()}")
        product = on_google_cloud()
        if product:
            raise LinkLocalError(
                f"this machine is a Google Cloud VM ({DMI_PRODUCT}: {product!r}): its real "
                f"metadata server is at {ADDRESS}, and shadowing it would break the VM; serve "
                "on another address and point clients at it with GCE_METADATA_HOST")
        found = answering()
        if found:
            raise LinkLocalError(f"{found}; stop it, or serve elsewhere (--host/--port)")

    def apply(self) -> None:
        """Raises LinkLocalError having undone what it did."""
        self.check()
        try:
            if not has_address():
                ip("addr", "add", f"{ADDRESS}/32", "dev", "lo")
                self.added_address = True
                self.notes.append(f"added {ADDRESS}/32 to the loopback interface")
            self._add_block()
        except LinkLocalError as exc:
            self.undo()
            raise LinkLocalError(f"--link-local: {exc}{self._why_not_root()}") from None
        except OSError as exc:
            self.undo()
            raise LinkLocalError(f"--link-local: cannot edit {self.hosts}: "
                                 f"{exc.strerror or exc}{self._why_not_root()}") from None

    def _add_block(self) -> None:
        text, stale = hosts_without_block(self.hosts.read_text())
        if stale:
            self.notes.append(f"removed a block left in {self.hosts} by an earlier run")
        elif resolves_here(text):
            return
        if text and not text.endswith("\n"):
            text += "\n"
        rewrite(self.hosts, f"{BEGIN}\n{ENTRY}\n{END}\n{text}")
        self.added_block = True
        self.notes.append(f"{' and '.join(NAMES)} resolve to {ADDRESS} ({self.hosts})")

    @staticmethod
    def _why_not_root() -> str:
        if os.geteuid() == 0:
            return ""
        return (f"\n--link-local needs root (or CAP_NET_ADMIN and a writable {HOSTS}). Run it "
                f"with sudo, or do the setup once by hand:\n{manual_steps()}")

    def undo(self) -> list[str]:
        """Take away what apply() added; what could not be undone, as sentences."""
        left: list[str] = []
        if self.added_block:
            try:
                text, found = hosts_without_block(self.hosts.read_text())
                if found:
                    rewrite(self.hosts, text)
                self.added_block = False
            except OSError as exc:
                left.append(f"the block marked {BEGIN!r} in {self.hosts}: {exc}")
        if self.added_address:
            try:
                ip("addr", "del", f"{ADDRESS}/32", "dev", "lo")
                self.added_address = False
            except LinkLocalError as exc:
                left.append(f"{ADDRESS}/32 on the loopback interface: {exc}")
        return left
