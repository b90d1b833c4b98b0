"""A hospital group on real Mosquitto processes: two site brokers bridged over TLS to a group broker,
the group data center's ingest as two worker processes writing to a real PostgreSQL.

Certificates (one throw-away CA per site and one for the group) and passwords are made here; the
brokers' configs are the ones `telemetry.mosquitto_config` generates. Robots publish as a robot does
(`TelemetryPublisher` with its spool, client certificate at their site broker).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench import mosquitto as mosquitto_process
from datacenter.store import Store
from datacenter.workers import WorkerPool, worker_specs
from telemetry import Channel, TelemetryPublisher
from telemetry.codec import MessageEncoder
from telemetry.examples import example_body
from telemetry.mosquitto_config import (
    BridgePlan,
    BrokerPlan,
    GroupBrokerPlan,
    Listener,
    bridge_user,
    config_text,
    group_config_text,
    write_broker_files,
    write_group_broker_files,
)
from telemetry.tls import DevPki, make_dev_pki

pytestmark = pytest.mark.integration

SITES = ("north", "south")
ROBOTS = {"north": ("nurse-01", "lab-01"), "south": ("nurse-01", "nurse-02")}  # each site names its own
HOST = "127.0.0.1"
T0 = 1767600000.0


def wait_for(what: str, predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.05)


class Broker:
    """One Mosquitto on its generated config; ``kill()`` is a crash, ``start()`` comes back on the same port
    with the same persistence; ``freeze()`` keeps every connection open but answers nothing."""

    def __init__(self, name: str, workdir: Path, port: int) -> None:
        self.name, self.workdir, self.port = name, workdir, port
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        binary = mosquitto_process.find_mosquitto()
        assert binary is not None, "mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients"
        with self.log_path.open("ab") as log:
            self.proc = mosquitto_process.launch(binary, self.config_path, log)
        mosquitto_process.wait_until_listening(self.proc, HOST, self.port, timeout_s=10, poll_s=0.02)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)
        self.proc = None

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc is not None:
            self.signal(signal.SIGCONT)
            mosquitto_process.stop(self.proc)
            self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Group:
    group: Broker
    sites: dict[str, Broker]
    site_pki: dict[str, DevPki]
    group_pki: DevPki
    passwords: dict[str, str]
    store: Store
    pool: WorkerPool
    tmp: Path

    @property
    def group_url(self) -> str:
        return f"mqtts://{HOST}:{self.group.port}"

    def robot(self, site: str, robot_id: str, **options: Any) -> TelemetryPublisher:
        pub = TelemetryPublisher(f"mqtts://{HOST}:{self.sites[site].port}", site, robot_id,
                                 tls=self.site_pki[site].client_tls(robot_id),
                                 spool=self.tmp / f"{site}-{robot_id}.spool.db", reconnect_min_delay_s=1,
                                 reconnect_max_delay_s=1, **options)
        pub.connect()
        return pub

    def stored(self, site: str, robot_id: str, channel: Channel) -> list[int]:
        return [m.seq for m in self.store.messages(channel.value, robot_id=robot_id, site=site)]

    def stored_keys(self, site: str, robot_id: str, channel: Channel) -> list[tuple[int, str]]:
        """(seq, timestamp) per stored row: with the topic, a message's identity."""
        return [(m.seq, m.timestamp) for m in self.store.messages(channel.value, robot_id=robot_id, site=site)]


def _passwd(path: Path, users: dict[str, str]) -> None:
    path.touch(mode=0o600)
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True, capture_output=True)


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory, new_pg_database: Callable[[], str]) -> Iterator[Group]:
    tmp = tmp_path_factory.mktemp("group")
    # started as root, Mosquitto would drop to its own user, which cannot write in pytest's 0700 dirs
    run_as = ("user root",) if os.geteuid() == 0 else ()
    group_pki = make_dev_pki(tmp / "pki-group", [])
    site_pki = {site: make_dev_pki(tmp / f"pki-{site}", list(ROBOTS[site])) for site in SITES}
    passwords = {user: secrets.token_urlsafe(18) for user in ["datacenter", *(bridge_user(s) for s in SITES)]}
    _passwd(tmp / "group.passwd", passwords)

    workdir = tmp / "group-broker"
    workdir.mkdir()
    group_broker = Broker("group", workdir, mosquitto_process.free_port(HOST))
    plan = GroupBrokerPlan(sites=SITES, ca_file=group_pki.ca_file, cert_file=group_pki.server_cert,
                           key_file=group_pki.server_key, acl_file=workdir / "acl",
                           password_file=tmp / "group.passwd", listeners=(Listener(group_broker.port, HOST),),
                           persistence_dir=workdir, autosave_interval_s=1, extra=run_as)
    write_group_broker_files(plan, group_broker.config_path)
    assert group_broker.config_path.read_text() == group_config_text(plan)
    brokers = [group_broker.start()]
    sites: dict[str, Broker] = {}
    pool: WorkerPool | None = None
    store: Store | None = None
    try:
        for site in SITES:
            workdir = tmp / f"{site}-broker"
            workdir.mkdir()
            broker = Broker(site, workdir, mosquitto_process.free_port(HOST))
            bridge = BridgePlan(site=site, group_host=HOST, group_port=group_broker.port,
                                ca_file=group_pki.ca_file, password=passwords[bridge_user(site)],
                                restart_timeout_s=(1, 2))
            site_plan = BrokerPlan(site=site, ca_file=site_pki[site].ca_file, cert_file=site_pki[site].server_cert,
                                   key_file=site_pki[site].server_key, acl_file=workdir / "acl",
                                   listeners=(Listener(broker.port, HOST, client_certificates=True),),
                                   persistence_dir=workdir, autosave_interval_s=1, bridge=bridge, extra=run_as)
            write_broker_files(site_plan, broker.config_path, robot_ids=ROBOTS[site])
            assert broker.config_path.read_text() == config_text(site_plan)
            sites[site] = broker
            brokers.append(broker.start())
        store_url = new_pg_database()
        store = Store(store_url)
        specs = worker_specs(2, f"mqtts://{HOST}:{group_broker.port}", store_url, client_id_prefix="dc-group",
                             username="datacenter", password=passwords["datacenter"], ca_file=group_pki.ca_file)
        pool = WorkerPool(specs).start(timeout_s=30)
        yield Group(group_broker, sites, site_pki, group_pki, passwords, store, pool, tmp)
    finally:
        if pool is not None:
            pool.stop()
        if store is not None:
            store.close()
        for broker in brokers:
            broker.stop()


def _events(pub: TelemetryPublisher, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        pub.publish(Channel.EVENTS, example_body(Channel.EVENTS), T0 + i)


def test_robots_at_both_sites_reach_the_group_data_center(group: Group) -> None:
    robots = {(site, rid): group.robot(site, rid) for site in SITES for rid in ROBOTS[site]}
    try:
        for (site, rid), pub in robots.items():
            _events(pub, 50)
            pub.publish(Channel.CLINICAL, {**example_body(Channel.CLINICAL), "record_id": f"{site}-{rid}-r1"}, T0)
        wait_for("every robot's events in PostgreSQL",
                 lambda: all(len(group.stored(s, r, Channel.EVENTS)) >= 50 for s, r in robots), 30)
    finally:
        for pub in robots.values():
            pub.close()
    for (site, rid) in robots:
        assert group.stored(site, rid, Channel.EVENTS) == list(range(50)), f"{site}/{rid}: each once, in order"
        assert group.stored(site, rid, Channel.CLINICAL) == [0]
    # both sites have a nurse-01: the group keeps them apart by the site segment of the topic
    assert group.store.sites() == ["north", "south"]
    assert {b["record_id"] for _r, _s, b in group.store.clinical_records()} >= \
        {"north-nurse-01-r1", "south-nurse-01-r1"}
    # the broker gave both worker processes a share (their counters lag up to 0.2 s)
    wait_for("the workers' counters", lambda: sum(group.pool.stored().values()) >= 4 * 51, 5)
    assert all(n > 0 for n in group.pool.stored().values()), group.pool.stored()


def test_a_sites_credentials_cannot_publish_under_another_sites_prefix(group: Group) -> None:
    results: dict[int, Any] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="stolen-north-password", protocol=mqtt.MQTTv5)
    client.username_pw_set(bridge_user("north"), group.passwords[bridge_user("north")])
    group.group_pki.server_only_tls().apply(client)
    client.on_publish = lambda _c, _u, mid, reason_code, _p: results.__setitem__(mid, reason_code)
    client.connect(HOST, group.group.port)
    client.loop_start()
    try:
        forged = MessageEncoder("south", "forged-01").encode(Channel.EVENTS, example_body(Channel.EVENTS), T0)
        own = MessageEncoder("north", "check-01").encode(Channel.EVENTS, example_body(Channel.EVENTS), T0)
        forged_mid = client.publish(forged.topic, forged.payload, qos=1).mid
        own_mid = client.publish(own.topic, own.payload, qos=1).mid
        wait_for("both PUBACKs", lambda: {forged_mid, own_mid} <= set(results), 10)
        # the account's own prefix arrives; once it has, the forged one (sent first) would have too
        wait_for("north's own message in PostgreSQL", lambda: group.stored("north", "check-01", Channel.EVENTS) == [0])
    finally:
        client.disconnect()
        client.loop_stop()
    assert group.stored("south", "forged-01", Channel.EVENTS) == [], "north's account wrote under south's prefix"
    assert results[forged_mid].is_failure and results[forged_mid].value == 0x87, results[forged_mid]  # not authorized
    assert not results[own_mid].is_failure


def test_an_ingest_worker_killed_is_restarted_and_stores_what_the_broker_kept_for_it(group: Group) -> None:
    victim = "dc-group-1"
    pid = group.pool.pids[victim]
    assert pid is not None
    before = group.pool.stored()[victim]
    os.kill(pid, signal.SIGKILL)  # a crash: nothing it had not committed was acknowledged
    robot = group.robot("south", "nurse-02")
    try:
        _events(robot, 100, first=3000)  # Mosquitto routes about half of these into the dead worker's session
        wait_for("the pool to restart the killed worker", lambda: group.pool.supervise() == 1, 10)
        wait_for("all 100 in PostgreSQL", lambda: len([
            k for k in group.stored_keys("south", "nurse-02", Channel.EVENTS) if k[1] >= "2026-01-05T08:50"]) >= 100,
            30)
    finally:
        robot.close()
    assert group.pool.pids[victim] != pid and group.pool.restarts == 1
    # the restarted worker took up its session: the share queued for it while it was dead is its to store
    wait_for("the restarted worker's counter", lambda: group.pool.stored()[victim] > before, 5)
    outage = [k for k in group.stored_keys("south", "nurse-02", Channel.EVENTS) if k[1] >= "2026-01-05T08:50"]
    assert sorted(seq for seq, _stamp in outage) == list(range(100)), "each once"


def test_the_ingest_command_runs_n_workers_and_stops_on_sigterm_with_a_flush(
        group: Group, new_pg_database: Callable[[], str]) -> None:
    import sys

    # a group and a database of its own: the fixture's workers keep theirs
    store_url = new_pg_database()
    env = {**os.environ, "MEDBOT_DC_PASSWORD": group.passwords["datacenter"]}
    cli = subprocess.Popen(
        [sys.executable, "-m", "robots.cli", "datacenter", "ingest", "--broker", group.group_url, "--ca-file",
         str(group.group_pki.ca_file), "--username", "datacenter", "--store", store_url, "--workers", "2",
         "--group", "cli-check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    store = Store(store_url)
    try:
        assert cli.stdout is not None
        first = cli.stdout.readline().decode()
        assert "with 2 workers (dc-cli-check-1, dc-cli-check-2)" in first, first
        robot = group.robot("south", "nurse-01")
        try:
            _events(robot, 20, first=4000)
        finally:
            robot.close()
        wait_for("the command's workers to store the 20", lambda: len([
            m for m in store.messages("events", site="south", robot_id="nurse-01")
            if m.timestamp >= "2026-01-05T09:06"]) == 20, 20)
        cli.send_signal(signal.SIGTERM)
        out, _ = cli.communicate(timeout=30)
    finally:
        store.close()
        if cli.poll() is None:
            cli.kill()
            cli.wait(5)
    assert cli.returncode == 0, out.decode()
    summary = out.decode().strip().splitlines()[-1]
    assert summary.startswith("received ") and "workers restarted 0 times" in summary, summary
    stored = int(summary.split(", stored ")[1].split(",")[0])
    assert stored >= 20, summary  # the 20 events (and the retained messages handed over on subscribe)


def test_several_workers_on_sqlite_are_refused() -> None:
    from click.testing import CliRunner

    from datacenter.cli import datacenter_command

    out = CliRunner().invoke(datacenter_command, ["ingest", "--broker", "mqtt://127.0.0.1:1", "--store",
                                                  "sqlite:///dc.db", "--workers", "2"])
    assert out.exit_code == 2 and "several workers need a database server" in out.output


def test_a_site_broker_killed_and_restarted_loses_no_at_least_once_message(group: Group) -> None:
    north = group.sites["north"]
    robot = group.robot("north", "lab-01")  # a new process: its seq starts at 0 again
    try:
        before = len(group.stored("north", "lab-01", Channel.EVENTS))
        # the group is out of reach (frozen): what the robot sends now is acknowledged by the site
        # broker and waits in its bridge queue — exactly what a restart of the site broker could lose
        group.group.signal(signal.SIGSTOP)
        _events(robot, 40, first=1000)
        assert robot.spool is not None
        wait_for("the site broker to acknowledge all 40", lambda: len(robot.spool) == 0, 10)  # type: ignore[arg-type]
        acked_at = time.time()
        # Mosquitto saves its store every autosave_interval (1 s here): give it that, then crash it
        wait_for("the site broker's autosave", lambda: (north.workdir / "mosquitto.db").stat().st_mtime > acked_at
                 if (north.workdir / "mosquitto.db").exists() else False, 5)
        north.kill()
        _events(robot, 20, first=2000)  # meanwhile the robot spools
        north.start()
        group.group.signal(signal.SIGCONT)
        wait_for("all 60 of the outage in PostgreSQL",
                 lambda: len(group.stored("north", "lab-01", Channel.EVENTS)) >= before + 60, 30)
        # the robot's spool was replayed to the restarted broker, and acknowledged
        wait_for("the robot's spool empty", lambda: len(robot.spool) == 0, 10)  # type: ignore[arg-type]
    finally:
        group.group.signal(signal.SIGCONT)
        robot.close()
    time.sleep(0.5)  # a redelivery in flight would land now: it must not add a row
    keys = group.stored_keys("north", "lab-01", Channel.EVENTS)
    assert len(keys) == before + 60 and len(set(keys)) == len(keys), "each message stored exactly once"
    outage = sorted(seq for seq, stamp in keys if stamp >= "2026-01-05T08:16")  # the 60 of this test
    assert outage == list(range(60))
    assert "Outgoing messages are being dropped" not in north.log()
