"""Which addresses a feed may be fetched from: every kind of non-public
address named, and FEED_ALLOW_PRIVATE read and matched entry by entry."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from worker.config import load_settings
from worker.domain.addresses import address_class, allow_list
from worker.errors import ConfigError


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
        ("::ffff:93.184.215.14", None),  # an IPv4-mapped public address
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "a private address"),  # NAT64 of 10.0.0.1
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "a link-local address"),  # cloud metadata
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff0e::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("192.0.2.1", "a private address"),  # documentation: not routed
    ],
)
def test_every_non_public_address_is_named(address: str, kind: str | None) -> None:
    assert address_class(ip_address(address)) == kind


def test_allow_list_entries_match_by_name_address_network_and_port() -> None:
    allowed = allow_list(
        [
            "feeds.internal",
            "intranet.example:8080",
            "10.0.0.0/8",
            "192.168.1.5:443",
            "[fd00::/8]:8443",
        ]
    )
    loopback, private, ula = ip_address("127.0.0.1"), ip_address("10.9.9.9"), ip_address("fd00::5")
    assert allowed.allows("FEEDS.internal.", loopback, 80)  # a name, as the URL writes it
    assert allowed.allows("intranet.example", loopback, 8080)
    assert not allowed.allows("intranet.example", loopback, 80)
    assert allowed.allows("anything.example", private, 443)  # a network, whatever the name
    assert allowed.allows("x.example", ip_address("::ffff:10.1.1.1"), 443)  # mapped
    assert allowed.allows("x.example", ip_address("192.168.1.5"), 443)
    assert not allowed.allows("x.example", ip_address("192.168.1.5"), 80)
    assert allowed.allows("x.example", ula, 8443)
    assert not allowed.allows("x.example", ula, 443)
    assert not allowed.allows("x.example", loopback, 80)
    assert allow_list(["*"]).allows("x.example", loopback, 1)
    assert allow_list(["::1", "[::1]"]).allows("x.example", ip_address("::1"), 5)
    assert not allow_list([]).allows("x.example", loopback, 80)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            "http://feeds.internal",
            "'http://feeds.internal' is not a host name, IP address or network",
        ),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a host name, IP address or network"),
        ("feeds.internal:http", "'feeds.internal:http' is not a host name, IP address or network"),
        ("127.0.0.1:70000", "'127.0.0.1:70000' has a bad port (1 to 65535)"),
        ("[::1]:", "'[::1]:' has a bad port (1 to 65535)"),
        ("bad host", "'bad host' is not a host name, IP address or network"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_setting(entry: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"FEED_ALLOW_PRIVATE": f"127.0.0.1, {entry}"})
    assert str(caught.value) == f"FEED_ALLOW_PRIVATE: {problem}"
    assert load_settings({"FEED_ALLOW_PRIVATE": " 127.0.0.1:5000 , * "}).feed_allow_private == (
        "127.0.0.1:5000",
        "*",
    )
