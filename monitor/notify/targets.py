"""SSRF guard: a URL the monitor sends to (webhooks) or fetches (feeds, articles) may not
reach the monitor's own network.

Loopback, private, link-local (cloud metadata at 169.254.169.254), multicast, reserved
and unspecified addresses are refused unless listed in WEBHOOK_ALLOWED_ADDRESSES (for
webhooks) or FETCH_ALLOWED_ADDRESSES (for fetches). The check runs when a subscription
is made, before every attempt and fetch (DNS can change) and on every redirect hop.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from monitor.messages import UserError
from monitor.urls import split_url


class ForbiddenTarget(UserError):
    pass


@dataclass(frozen=True)
class TargetPolicy:
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    setting: str = "WEBHOOK_ALLOWED_ADDRESSES"  # where an operator allows an internal address

    @classmethod
    def from_settings(cls, settings) -> "TargetPolicy":
        """For webhooks."""
        return cls.parse(settings.webhook_allowed_addresses, "WEBHOOK_ALLOWED_ADDRESSES")

    @classmethod
    def for_fetching(cls, settings) -> "TargetPolicy":
        """For feeds and article pages."""
        return cls.parse(settings.fetch_allowed_addresses, "FETCH_ALLOWED_ADDRESSES")

    @classmethod
    def parse(cls, addresses: str, setting: str) -> "TargetPolicy":
        try:
            return cls(tuple(ipaddress.ip_network(item.strip(), strict=False)
                             for item in addresses.split(",") if item.strip()), setting)
        except ValueError as error:
            raise ForbiddenTarget(f"{setting}: {error}") from error

    def is_allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self.allowed)


def check_target(url: str, policy: TargetPolicy) -> None:
    parts = split_url(url)
    if parts is None:
        raise ForbiddenTarget(f"{url}: not a valid URL (a malformed host or port)")
    hostname, port = parts.hostname, parts.port
    if parts.scheme not in ("http", "https"):
        raise ForbiddenTarget(f"{url}: only http and https URLs are allowed")
    if not hostname:
        raise ForbiddenTarget(f"{url}: no host")
    try:
        infos = socket.getaddrinfo(hostname, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ForbiddenTarget(f"{url}: cannot resolve {hostname}: {error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        internal = (address.is_loopback or address.is_private or address.is_link_local
                    or address.is_multicast or address.is_reserved or address.is_unspecified)
        if internal and not policy.is_allowed(address):
            raise ForbiddenTarget(f"{url}: {parts.hostname} resolves to {address}, an internal "
                                  f"address; add it to {policy.setting} if this is intended")
