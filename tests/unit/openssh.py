"""Real OpenSSH output for the trust tests: keys, CAs, certificates and known_hosts files made
by `ssh-keygen` in a temporary directory at test time, and its own answers to check against.

Import the `openssh` fixture into a test module to use it. Without ssh-keygen its tests skip,
saying why; where CI=true they fail instead (CI installs openssh-client: ./dev).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ltsp_mesh.core.codec.ssh_wire import Reader
from ltsp_mesh.core.trust import ssh_keys
from ltsp_mesh.core.trust.ssh_keys import PublicKey
from tests.conftest import require_tools

SSH_KEYGEN = shutil.which("ssh-keygen")

# Fixed instants for certificate validity windows: tests pass `now` explicitly.
T2024 = 1_704_067_200  # 2024-01-01T00:00:00Z
T2025 = 1_735_689_600  # 2025-01-01T00:00:00Z
NOW = 1_720_000_000  # mid-2024


@dataclass(frozen=True)
class KeyPair:
    """A key made by ssh-keygen: where it is, and what its files say."""

    path: Path
    private_text: str
    public_line: str

    @property
    def public(self) -> PublicKey:
        return ssh_keys.parse_public_key_line(self.public_line)

    @property
    def line(self) -> str:
        """ "type base64", as a known_hosts line holds it."""
        return self.public.to_line()


class OpenSSH:
    """ssh-keygen, run in one directory; keys are made once per name."""

    def __init__(self, workdir: Path) -> None:
        assert SSH_KEYGEN is not None
        self.workdir = workdir
        self._keys: dict[str, KeyPair] = {}
        self._counter = 0

    def run(
        self, *args: str, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        assert SSH_KEYGEN is not None
        return subprocess.run(
            [SSH_KEYGEN, *args], input=stdin, capture_output=True, check=check, cwd=self.workdir
        )

    def fresh(self, stem: str) -> Path:
        self._counter += 1
        return self.workdir / f"{stem}-{self._counter}"

    def key(self, name: str, key_type: str = "ed25519", passphrase: str = "", *extra: str) -> KeyPair:
        """The key called `name`, made on first use (`ssh-keygen -t TYPE -N PASSPHRASE`)."""
        if name not in self._keys:
            path = self.workdir / name
            self.run("-q", "-t", key_type, "-N", passphrase, "-C", f"{name}@test", "-f", str(path), *extra)
            self._keys[name] = KeyPair(
                path, path.read_text(), (path.parent / (path.name + ".pub")).read_text()
            )
        return self._keys[name]

    def certify(
        self,
        ca: KeyPair,
        host: KeyPair,
        *,
        principals: str | None = "app1,10.0.0.5",
        validity: str = f"{hex(T2024)}:{hex(T2025)}",
        host_cert: bool = True,
        algorithm: str | None = None,
        identity: str = "app1",
    ) -> str:
        """`ssh-keygen -s CA -I identity [-h] [-n principals] -V validity` on a copy of `host`."""
        target = self.fresh("cert")
        (target.parent / (target.name + ".pub")).write_text(host.public_line)
        args = ["-q", "-s", str(ca.path), "-I", identity, "-V", validity]
        args += ["-h"] if host_cert else []
        args += ["-n", principals] if principals is not None else []
        args += ["-t", algorithm] if algorithm else []
        self.run(*args, str(target) + ".pub")
        return (target.parent / (target.name + "-cert.pub")).read_text()

    def hash_known_hosts(self, text: str) -> str:
        """What `ssh-keygen -H` turns `text` into."""
        path = self.fresh("known_hosts")
        path.write_text(text)
        self.run("-q", "-H", "-f", str(path))
        return path.read_text()

    def find(self, name: str, known_hosts_text: str) -> list[tuple[int, str]]:
        """`ssh-keygen -F name`: the (line number, "CA"/"REVOKED"/"") of every line it finds."""
        path = self.fresh("known_hosts")
        path.write_text(known_hosts_text)
        # -l makes ssh-keygen parse each key, as ssh does, so a damaged key is skipped, not found.
        proc = self.run("-l", "-F", name, "-f", str(path), check=False)
        found = re.findall(r"^# Host .* found: line (\d+) ?(\S*)$", proc.stdout.decode(), re.MULTILINE)
        return [(int(number), marker) for number, marker in found]

    def fingerprint(self, key: KeyPair) -> str:
        """The SHA256 fingerprint `ssh-keygen -l` prints."""
        return self.run("-l", "-f", str(key.path) + ".pub").stdout.decode().split()[1]

    def sign(self, key: KeyPair, namespace: str, message: bytes) -> bytes:
        """`ssh-keygen -Y sign`: the SSH signature blob inside the armored SSHSIG it writes."""
        path = self.fresh("message")
        path.write_bytes(message)
        self.run("-Y", "sign", "-f", str(key.path), "-n", namespace, str(path))
        armored = (path.parent / (path.name + ".sig")).read_text().splitlines()
        data = base64.b64decode("".join(armored[1:-1]))
        assert data[:6] == b"SSHSIG"
        inner = Reader(data[6:], "SSHSIG")
        assert inner.uint32("version") == 1
        inner.string("public key")
        assert inner.string("namespace") == namespace.encode()
        inner.string("reserved")
        assert inner.string("hash") == b"sha512"
        return inner.string("signature")

    def check_novalidate(self, armored: str, namespace: str, message: bytes) -> bool:
        """Whether `ssh-keygen -Y check-novalidate` accepts an armored SSHSIG signature."""
        path = self.fresh("sig")
        path.write_text(armored)
        proc = self.run(
            "-Y", "check-novalidate", "-n", namespace, "-s", str(path), stdin=message, check=False
        )
        return proc.returncode == 0


@pytest.fixture(scope="session")
def openssh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSSH]:
    """ssh-keygen in a directory of its own for the whole run."""
    require_tools("ssh-keygen", debian="openssh-client")
    yield OpenSSH(tmp_path_factory.mktemp("openssh"))
