"""What SIGHUP does with mesh.conf read again: live changes applied, the rest named for a restart."""

from __future__ import annotations

from ltsp_mesh.core.config.mesh_conf import ServeSettings
from ltsp_mesh.core.config.reload import Change, Reload, plan

RUNNING = ServeSettings(capacity=4, interfaces=("eth0",))


def test_nothing_changed_changes_nothing() -> None:
    assert plan(RUNNING, RUNNING) == Reload(RUNNING, (), ())


def test_capacity_changes_while_running() -> None:
    reloaded = plan(RUNNING, ServeSettings(capacity=9, interfaces=("eth0",)))
    assert (reloaded.settings.capacity, reloaded.applied, reloaded.need_restart) == (
        9,
        (Change("CAPACITY", "4", "9"),),
        (),
    )


def test_capacity_back_to_the_cpu_count_reads_as_unset() -> None:
    reloaded = plan(RUNNING, ServeSettings(interfaces=("eth0",)))
    assert reloaded.applied == (Change("CAPACITY", "4", "(unset)"),) and reloaded.settings.capacity is None


def test_interfaces_and_known_hosts_change_while_running() -> None:
    wanted = ServeSettings(capacity=4, interfaces=("eth1", "eth2"), known_hosts=("/etc/ltsp/mesh_hosts",))
    reloaded = plan(RUNNING, wanted)
    assert reloaded.settings == wanted
    assert [str(c) for c in reloaded.applied] == [
        "INTERFACES eth0 -> eth1 eth2",
        "KNOWN_HOSTS /etc/ssh/ssh_known_hosts /etc/ltsp/ssh_known_hosts.* -> /etc/ltsp/mesh_hosts",
    ]


def test_a_port_change_waits_for_a_restart_and_the_running_port_stays() -> None:
    reloaded = plan(RUNNING, ServeSettings(capacity=4, interfaces=("eth0",), query_port=477))
    assert (reloaded.settings, reloaded.applied) == (RUNNING, ())
    assert reloaded.need_restart == (Change("QUERY_PORT", "377", "477"),)


def test_each_setting_that_holds_a_socket_file_or_registration_waits_for_a_restart() -> None:
    wanted = ServeSettings(
        capacity=4,
        interfaces=("eth0",),
        ssh_port=2222,
        query_port=477,
        broker_port=478,
        host_key="/etc/ltsp/key",
        state_dir="/srv/state",
        dns_sd_domain="school.example",
        tsig_key="/etc/ltsp/tsig.key",
    )
    reloaded = plan(RUNNING, wanted)
    assert reloaded.settings == RUNNING
    assert [c.key for c in reloaded.need_restart] == [
        "SSH_PORT",
        "QUERY_PORT",
        "BROKER_PORT",
        "HOST_KEY",
        "STATE_DIR",
        "DNS_SD_DOMAIN",
        "TSIG_KEY",
    ]


def test_live_and_restart_changes_together_apply_only_the_live_ones() -> None:
    reloaded = plan(RUNNING, ServeSettings(capacity=8, interfaces=("eth0",), ssh_port=2222))
    assert reloaded.settings == ServeSettings(capacity=8, interfaces=("eth0",))
    assert [c.key for c in reloaded.applied] == ["CAPACITY"]
    assert [c.key for c in reloaded.need_restart] == ["SSH_PORT"]
