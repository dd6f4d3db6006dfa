"""A real Avahi in a lab namespace, with a private D-Bus for avahi-browse.

Each avahi-daemon runs in a private mount namespace with its own empty /run (for its pid file
and socket) and its own /etc/avahi/services (static service files), so several can run at
once on one machine without touching the machine's own Avahi files.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from ltsp_mesh.lab.netns import Lab, LabProcess

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

AVAHI_CONF = """[server]
host-name={host_name}
use-ipv4=yes
use-ipv6=no
allow-interfaces=eth0
enable-dbus={dbus}
[publish]
publish-workstation=no
publish-hinfo=no
"""

STATIC_SERVICE = """<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>{name}</name>
  <service><type>_ltsp._tcp</type><port>{port}</port></service>
</service-group>
"""


class Avahi:
    """One avahi-daemon on a lab host (and a D-Bus beside it when `with_dbus`)."""

    def __init__(
        self, lab: Lab, host: str, *, with_dbus: bool = False, static_name: str | None = None
    ) -> None:
        assert lab.workdir is not None
        self.lab, self.host = lab, host
        self.dir = lab.workdir / f"avahi-{host}"
        (self.dir / "services").mkdir(parents=True, exist_ok=True)
        self.bus_socket = self.dir / "bus"
        self.env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.bus_socket}"} if with_dbus else {}
        (self.dir / "avahi.conf").write_text(
            AVAHI_CONF.format(host_name=f"avahi-{host}", dbus="yes" if with_dbus else "no")
        )
        if static_name:
            (self.dir / "services" / "ltsp.service").write_text(
                STATIC_SERVICE.format(name=static_name, port=22)
            )
        self.bus: LabProcess | None = None
        if with_dbus:
            (self.dir / "bus.conf").write_text(BUS_CONF.format(socket=self.bus_socket))
            self.bus = lab.spawn(
                host,
                ["dbus-daemon", f"--config-file={self.dir / 'bus.conf'}", "--nofork", "--nopidfile"],
                log_name=f"dbus-{host}",
            )
            _wait_for_path(self.bus_socket, 5)
        script = (
            f"mount -t tmpfs none /run && mkdir /run/avahi-daemon && "
            f"mount --bind {shlex.quote(str(self.dir / 'services'))} /etc/avahi/services && "
            f"exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f {shlex.quote(str(self.dir / 'avahi.conf'))}"
        )
        self.daemon = lab.spawn(
            host,
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            env=self.env,
            log_name=f"avahi-{host}",
        )
        lab.wait_for_log(self.daemon, "Server startup complete", 15)

    def browse(self, service_type: str = "_ltsp._tcp") -> list[list[str]]:
        """`avahi-browse -rpt TYPE`: the resolved (`=`) lines, split into fields."""
        proc = self.lab.run(self.host, ["avahi-browse", "-rpt", service_type], env=self.env)
        return [line.split(";") for line in proc.stdout.splitlines() if line.startswith("=")]


def _wait_for_path(path: Path, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.05)
