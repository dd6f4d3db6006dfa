"""A real BIND9 (Debian's `named`) on a lab host: one zone that takes TSIG-signed updates only.

For the unicast DNS-SD tests and benchmark. The key is made by `tsig-keygen`, as an admin makes
it; the zone grants that key `zonesub ANY` (what `ddns-confgen` suggests), so an unsigned
update is REFUSED. named runs in the foreground (`-g`), without chroot or user switch, in a
private mount namespace whose /run is an empty tmpfs, with every file it writes (pid, lock,
session key, journal, managed keys) in the lab's own directory: several can run at once and
none touches the machine's own /etc/bind, /run/named or /var/cache/bind.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Final

from ltsp_mesh.errors import LabError
from ltsp_mesh.lab.netns import Lab, LabProcess

ZONE: Final = "school.example"
KEY_NAME: Final = "ltsp-mesh"
READY_TEXT: Final = "running"
TOOLS: Final = ("named", "tsig-keygen", "nsupdate", "dig")
DEBIAN_PACKAGES: Final = "bind9 bind9-utils dnsutils"

NAMED_CONF = """options {{
    directory "{dir}";
    pid-file "{dir}/named.pid";
    lock-file "{dir}/named.lock";
    session-keyfile "{dir}/session.key";
    managed-keys-directory "{dir}";
    listen-on port 53 {{ {address}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-query {{ any; }};
}};
controls {{ }};
include "{key}";
zone "{zone}" {{
    type primary;
    file "{dir}/{zone}.db";
    update-policy {{ grant {key_name} zonesub ANY; }};
}};
"""

ZONE_FILE = """$TTL 60
@   IN SOA ns.{zone}. hostmaster.{zone}. ( 1 60 30 600 30 )
    IN NS  ns.{zone}.
ns  IN A   {address}
"""


class Bind:
    """named serving `zone` on `host`, updatable with the key in `key_path`."""

    def __init__(self, lab: Lab, host: str, *, zone: str = ZONE, key_name: str = KEY_NAME) -> None:
        if lab.workdir is None:
            raise ValueError("the lab needs a workdir for named's files")
        self.lab, self.host, self.zone, self.key_name = lab, host, zone, key_name
        self.address = lab.address(host)
        self.dir = lab.workdir / f"bind-{host}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key_path = self.dir / f"{key_name}.key"
        made = subprocess.run(
            ["tsig-keygen", "-a", "hmac-sha256", key_name],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if made.returncode != 0:
            raise LabError(f"tsig-keygen failed: {made.stderr.strip()}")
        self.key_path.write_text(made.stdout)
        (self.dir / f"{zone}.db").write_text(ZONE_FILE.format(zone=zone, address=self.address))
        conf = self.dir / "named.conf"
        conf.write_text(
            NAMED_CONF.format(
                dir=self.dir, address=self.address, key=self.key_path, zone=zone, key_name=key_name
            )
        )
        script = f"mount -t tmpfs none /run && exec named -g -4 -n 1 -c {shlex.quote(str(conf))}"
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        self.process: LabProcess = lab.spawn(host, argv, log_name=f"named-{host}")
        lab.wait_for_log(self.process, READY_TEXT, 15)

    def dig(self, host: str, name: str, rdtype: str) -> list[str]:
        """The answer records' data for `name` `rdtype`, asked of this server from `host`."""
        proc = self.lab.run(
            host, ["dig", "+short", "+norecurse", "+time=2", "+tries=1", f"@{self.address}", name, rdtype]
        )
        return proc.stdout.splitlines()

    def nsupdate(self, host: str, commands: str, *, signed: bool) -> subprocess.CompletedProcess[str]:
        """Run nsupdate on `host` with `commands` (server and zone are set), with or without the key."""
        script = f"server {self.address}\nzone {self.zone}\n{commands.strip()}\nsend\n"
        argv = ["nsupdate", "-t", "3", *(["-k", str(self.key_path)] if signed else [])]
        return subprocess.run(
            self.lab.exec_argv(host, argv),
            input=script,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def log_text(self) -> str:
        """What named wrote so far."""
        return self.process.log_text()
