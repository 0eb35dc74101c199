"""SSRF guard: a webhook URL may not reach the monitor's own network.

Loopback, private, link-local (cloud metadata at 169.254.169.254), multicast, reserved
and unspecified addresses are refused unless listed in WEBHOOK_ALLOWED_ADDRESSES.
The check runs when a subscription is made, before every attempt (DNS can change)
and on every redirect hop.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.messages import UserError


class ForbiddenTarget(UserError):
    pass


@dataclass(frozen=True)
class TargetPolicy:
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, settings) -> "TargetPolicy":
        try:
            return cls(tuple(ipaddress.ip_network(item.strip(), strict=False)
                             for item in settings.webhook_allowed_addresses.split(",") if item.strip()))
        except ValueError as error:
            raise ForbiddenTarget(f"WEBHOOK_ALLOWED_ADDRESSES: {error}") from error

    def is_allowed(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in self.allowed)


def check_target(url: str, policy: TargetPolicy) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ForbiddenTarget(f"{url}: only http and https webhooks are sent")
    if not parts.hostname:
        raise ForbiddenTarget(f"{url}: no host")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ForbiddenTarget(f"{url}: cannot resolve {parts.hostname}: {error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        internal = (address.is_loopback or address.is_private or address.is_link_local
                    or address.is_multicast or address.is_reserved or address.is_unspecified)
        if internal and not policy.is_allowed(address):
            raise ForbiddenTarget(f"{url}: {parts.hostname} resolves to {address}, an internal "
                                  "address; add it to WEBHOOK_ALLOWED_ADDRESSES if this is intended")
