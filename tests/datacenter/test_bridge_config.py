"""The generated configs of a hospital group's brokers: a site's bridge and the group broker's ACL
(what they say; `test_group.py` shows Mosquitto doing it), and bad plans refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.mosquitto_config import (
    BridgePlan,
    BrokerPlan,
    GroupBrokerPlan,
    bridge_state_topic,
    bridge_user,
    config_text,
    group_acl_text,
    group_config_text,
)

P = Path("/etc/medbot")


def _bridge(**changes: object) -> BridgePlan:
    fields: dict[str, object] = {"site": "north", "group_host": "group.example", "group_port": 8883,
                                 "ca_file": P / "group-ca.crt", "password": "s3cret-north"}
    fields.update(changes)
    return BridgePlan(**fields)  # type: ignore[arg-type]


def _site(bridge: BridgePlan, **changes: object) -> BrokerPlan:
    fields: dict[str, object] = {"site": "north", "ca_file": P / "ca.crt", "cert_file": P / "s.crt",
                                 "key_file": P / "s.key", "acl_file": P / "acl", "password_file": P / "pw",
                                 "persistence_dir": P / "data", "bridge": bridge}
    fields.update(changes)
    return BrokerPlan(**fields)  # type: ignore[arg-type]


def test_a_site_bridge_forwards_only_its_subtree_at_qos_1_with_persistent_sessions_over_tls() -> None:
    text = config_text(_site(_bridge()))
    bridge = text[text.index("connection "):].splitlines()
    assert bridge[0] == "connection bridge-north"
    assert "address group.example:8883" in bridge
    assert {"remote_clientid bridge-north", "local_clientid bridge-north-local", "remote_username bridge-north",
            "remote_password s3cret-north"} <= set(bridge)
    assert {"bridge_cafile /etc/medbot/group-ca.crt", "bridge_insecure false", "bridge_tls_version tlsv1.2"} \
        <= set(bridge)
    assert {"cleansession false", "local_cleansession false"} <= set(bridge)
    assert "notification_topic medbot/bridge/north/state" in bridge
    assert [line for line in bridge if line.startswith("topic ")] == \
        ["topic # out 1 medbot/v1/north/ medbot/v1/north/"]
    # every line after `connection` belongs to the bridge: the listeners come before it
    assert text.rindex("listener ") < text.index("connection ")
    assert "persistence true" in text


def test_the_group_broker_lets_each_site_write_only_its_own_subtree() -> None:
    plan = GroupBrokerPlan(sites=("north", "south"), ca_file=P / "ca.crt", cert_file=P / "g.crt",
                           key_file=P / "g.key", acl_file=P / "acl", password_file=P / "pw")
    blocks = [b.splitlines() for b in group_acl_text(plan).split("\n\n") if b.startswith("user ")]
    assert blocks == [
        ["user datacenter", "topic read medbot/v1/#", "topic read medbot/bridge/#"],
        ["user bridge-north", "topic write medbot/v1/north/#", "topic write medbot/bridge/north/state"],
        ["user bridge-south", "topic write medbot/v1/south/#", "topic write medbot/bridge/south/state"],
    ]
    assert "pattern" not in group_acl_text(plan), "no line that applies to every account"
    config = group_config_text(plan)
    assert {"allow_anonymous false", "acl_file /etc/medbot/acl", "password_file /etc/medbot/pw",
            "require_certificate false"} <= set(config.splitlines())
    assert bridge_user("north") == "bridge-north" and bridge_state_topic("south") == "medbot/bridge/south/state"


@pytest.mark.parametrize(("make", "message"), [
    (lambda: _site(_bridge(), persistence_dir=None), "needs persistence_dir"),
    (lambda: _site(_bridge(site="south")), "bridge for site 'south' on the broker of site 'north'"),
    (lambda: _bridge(password=None), "password, or a client certificate"),
    (lambda: _bridge(password="two words"), "without blanks"),
    (lambda: _bridge(password="x\ntopic # both 1"), "without blanks"),
    (lambda: _bridge(group_host="a b"), "group_host 'a b' must be one word"),
    (lambda: _bridge(group_port=0), "is not a TCP port"),
    (lambda: _bridge(site="North"), "not a safe topic segment"),
    (lambda: _bridge(restart_timeout_s=(10, 5)), "restart_timeout_s"),
    (lambda: _bridge(keepalive_s=1), "minimum of 5"),
    (lambda: _bridge(site="s" * 60), "a shorter site id"),
    (lambda: GroupBrokerPlan(sites=("north", "north"), ca_file=P, cert_file=P, key_file=P, acl_file=P,
                             password_file=P), "sites listed more than once: ['north']"),
    (lambda: GroupBrokerPlan(sites=("north",), ca_file=P, cert_file=P, key_file=P, acl_file=P, password_file=P,
                             datacenter=("bridge-north",)), "named like a site's bridge"),
    (lambda: GroupBrokerPlan(sites=(), ca_file=P, cert_file=P, key_file=P, acl_file=P), "at least one site"),
    (lambda: GroupBrokerPlan(sites=("north",), ca_file=P, cert_file=P, key_file=P, acl_file=P),
     "needs password_file"),
])
def test_a_bad_plan_is_refused_saying_what_is_wrong(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        make()  # type: ignore[operator]
    assert message in str(err.value)
