"""`ltsp-mesh known-hosts`: keys flow from the servers into the client images."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from ltsp_mesh.lab.mesh import ensure_host_key, host_key_path, start_server, wait_ready
from ltsp_mesh.lab.netns import Lab, mesh_argv
from tests.conftest import LabFactory
from tests.lab.helpers import load

pytestmark = pytest.mark.lab

# What ltsp-update-sshkeys does, for the test: merge /etc/ltsp/ssh_known_hosts.* (here: the
# directory of the file known-hosts writes) into the image's etc/ssh/ssh_known_hosts.
STAND_IN = """#!/bin/sh
cat "{source}"/ssh_known_hosts.* > "{image}/etc/ssh/ssh_known_hosts"
echo merged >> "{image}/merged.log"
"""


def _known_hosts(
    lab: Lab, output: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, object], str]:
    assert lab.workdir is not None
    argv = mesh_argv(
        "known-hosts",
        "--interface",
        "eth0",
        "--output",
        str(output),
        "--ca-file",
        str(lab.workdir / "site_known_hosts"),
        *extra,
    )
    as_json = lab.run("s1", [*argv, "--json"], env=env, check=False)
    envelope = json.loads(as_json.stdout)
    return as_json.returncode, envelope["data"], envelope.get("error", "")


@pytest.fixture
def lab(make_lab: LabFactory) -> Lab:
    lab = make_lab(["s1", "s2", "client"])
    wait_ready(lab, [start_server(lab, h, load()) for h in ("s1", "s2")])
    return lab


def test_new_keys_are_shown_but_written_only_when_accepted(lab: Lab, tmp_path: Path) -> None:
    output = tmp_path / "ssh_known_hosts.mesh"
    code, data, _ = _known_hosts(lab, output, "--no-update-images")
    assert code == 0 and not output.exists()
    servers = data["servers"]
    assert isinstance(servers, list)
    assert sorted(s["key"] for s in servers) == ["new", "new"]
    fingerprints = {
        subprocess.run(
            ["ssh-keygen", "-lf", str(host_key_path(lab, h)) + ".pub"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[1]
        for h in ("s1", "s2")
    }
    assert {s["fingerprint"] for s in servers} == fingerprints


def test_accepted_keys_are_found_by_ssh_keygen_under_name_and_address(lab: Lab, tmp_path: Path) -> None:
    output = tmp_path / "ssh_known_hosts.mesh"
    code, data, _ = _known_hosts(lab, output, "--accept-new", "--no-update-images")
    assert code == 0 and data["written"] == 2
    servers = data["servers"]
    assert isinstance(servers, list)
    for server in servers:
        for name in server["names"]:
            found = subprocess.run(
                ["ssh-keygen", "-F", name, "-f", str(output)], capture_output=True, text=True
            )
            assert found.returncode == 0 and "ssh-ed25519" in found.stdout, name
    again, data, _ = _known_hosts(lab, output, "--accept-new", "--no-update-images")
    assert again == 0 and data["written"] == 0  # nothing twice


def test_merged_into_an_image_the_keys_switch_the_clients_to_known_hosts_trust(
    lab: Lab, tmp_path: Path
) -> None:
    source, image, bin_dir = tmp_path / "etc-ltsp", tmp_path / "image", tmp_path / "bin"
    for directory in (source, image / "etc" / "ssh", bin_dir):
        directory.mkdir(parents=True)
    (bin_dir / "ltsp-update-sshkeys").write_text(STAND_IN.format(source=source, image=image))
    (bin_dir / "ltsp-update-sshkeys").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin"}
    code, _, _ = _known_hosts(lab, source / "ssh_known_hosts.mesh", "--accept-new", env=env)
    assert code == 0 and (image / "merged.log").read_text() == "merged\n"

    client_env = {"LDM_LB_KNOWN_HOSTS": str(image / "etc" / "ssh" / "ssh_known_hosts")}
    proc = lab.run("client", mesh_argv("hosts", "--interface", "eth0", "--json"), env=client_env)
    data = json.loads(proc.stdout)["data"]
    assert sorted(data["hosts"]) == sorted([lab.address("s1"), lab.address("s2")])
    assert data["counters"].get("trust_txt_rejected", 0) == 0


def test_a_changed_key_is_refused_loudly_and_nothing_is_written(lab: Lab, tmp_path: Path) -> None:
    output = tmp_path / "ssh_known_hosts.mesh"
    _known_hosts(lab, output, "--accept-new", "--no-update-images")
    before = output.read_text()
    s2 = next(p for p in lab.processes if p.host == "s2")
    lab.stop(s2, signal.SIGTERM)
    for path in (host_key_path(lab, "s2"), Path(str(host_key_path(lab, "s2")) + ".pub")):
        path.unlink()
    ensure_host_key(lab, "s2")  # reinstalled, or an impostor: a different key
    wait_ready(lab, [start_server(lab, "s2", load())])
    code, data, error = _known_hosts(lab, output, "--accept-new", "--no-update-images")
    assert code == 1 and "changed" in error
    servers = data["servers"]
    assert isinstance(servers, list)
    assert {s["names"][1]: s["key"] for s in servers}[lab.address("s2")] == "CHANGED"
    assert output.read_text() == before
    assert lab.workdir is not None
    text = lab.run(
        "s1",
        mesh_argv(
            "known-hosts",
            "--interface",
            "eth0",
            "--output",
            str(output),
            "--ca-file",
            str(lab.workdir / "site_known_hosts"),
            "--no-update-images",
        ),
        check=False,
    )
    assert text.returncode == 1 and "THE HOST KEY OF" in text.stdout and lab.address("s2") in text.stdout


def test_a_key_certified_by_the_site_ca_is_written_without_asking(
    make_lab: LabFactory, tmp_path: Path
) -> None:
    lab = make_lab(["s1", "s3"])
    assert lab.workdir is not None
    ca = lab.workdir / "host_ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            str(ca),
            "-I",
            "s3",
            "-h",
            "-n",
            lab.address("s3"),
            str(ensure_host_key(lab, "s3")) + ".pub",
        ],
        check=True,
    )
    (lab.workdir / "site_known_hosts").write_text(f"@cert-authority * {Path(str(ca) + '.pub').read_text()}")
    wait_ready(lab, [start_server(lab, h, load()) for h in ("s1", "s3")])
    output = tmp_path / "ssh_known_hosts.mesh"
    code, data, _ = _known_hosts(lab, output, "--no-update-images")
    servers = data["servers"]
    assert isinstance(servers, list)
    assert code == 0 and {s["names"][1]: s["key"] for s in servers} == {
        lab.address("s1"): "new",
        lab.address("s3"): "vouched by CA",
    }
    assert lab.address("s3") in output.read_text() and lab.address("s1") not in output.read_text()
