"""The address rules of a webhook endpoint, without a network."""

from __future__ import annotations

import pytest

from discounts.webhooks import addresses


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.example/x", ("hooks.example", 443)),
        ("http://hooks.example/x", ("hooks.example", 80)),
        ("http://hooks.example:8080/x", ("hooks.example", 8080)),
        ("http://[2001:db8::1]:9/x", ("2001:db8::1", 9)),
    ],
)
def test_a_url_names_its_host_and_port(url: str, expected: tuple[str, int]) -> None:
    assert addresses.host_and_port(url) == expected


@pytest.mark.parametrize("url", ["http://hooks.example:,0r$0~/x", "http://hooks.example:99999/", "http:///x"])
def test_a_url_a_delivery_cannot_connect_to_is_forbidden_not_a_crash(url: str) -> None:
    with pytest.raises(addresses.Forbidden):
        addresses.host_and_port(url)


@pytest.mark.parametrize(
    ("address", "public"),
    [("93.184.216.34", True), ("127.0.0.1", False), ("169.254.169.254", False), ("::ffff:10.0.0.1", False)],
)
def test_only_a_public_address_is_public(address: str, public: bool) -> None:
    assert addresses.is_public(address) is public
