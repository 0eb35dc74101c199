"""SSRF guard: a URL the monitor sends to (webhooks) or fetches (feeds, articles) may not
reach the monitor's own network.

Only globally reachable addresses (``ipaddress``'s ``is_global``) are reached: loopback,
private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast,
reserved, documentation and unspecified ones are refused unless listed in
WEBHOOK_ALLOWED_ADDRESSES (for webhooks) or FETCH_ALLOWED_ADDRESSES (for fetches).
IPv6 addresses that carry an IPv4 one are judged by it (IPv4-mapped, NAT64); 6to4 and
Teredo tunnels are refused outright, since where they lead depends on relays outside the
monitor's view. The check runs when a subscription
is made, before every attempt and fetch and on every redirect hop, for a clear error
early; and again when the connection is made (GuardedTransport), on the very DNS answer
the socket connects to: a name that resolves to a public address for the first check
and to an internal one a moment later (DNS rebinding) is refused there.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpcore
import httpx

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
    if parts.scheme not in ("http", "https"):
        raise ForbiddenTarget(f"{url}: only http and https URLs are allowed")
    if not parts.hostname:
        raise ForbiddenTarget(f"{url}: no host")
    checked_addresses(parts.hostname, parts.port or 443, policy, url)


def checked_addresses(hostname: str, port: int, policy: TargetPolicy, what: str) -> list[str]:
    """The addresses HOSTNAME resolves to, if none is internal (unless allowed); WHAT names
    the target in the error."""
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ForbiddenTarget(f"{what}: cannot resolve {hostname}: {error}") from error
    addresses = []
    for info in infos:
        address = effective_address(ipaddress.ip_address(info[4][0].split("%")[0]))
        if not is_public(address) and not policy.is_allowed(address):
            raise ForbiddenTarget(f"{what}: {hostname} resolves to {address}, an internal "
                                  f"address; add it to {policy.setting} if this is intended")
        addresses.append(info[4][0])
    return addresses


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Deprecated ways into IPv4 that ``is_global`` still passes: IPv4-compatible IPv6 (::a.b.c.d)
# and the 6to4 relays' anycast prefix.
_TUNNELS = (ipaddress.ip_network("::/96"), ipaddress.ip_network("192.88.99.0/24"))


def effective_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 one stands for when it embeds one the host would reach
    directly (IPv4-mapped, NAT64); otherwise the address itself."""
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.version == 6 and (address.sixtofour is not None or address.teredo is not None):
        return False
    if any(address in tunnel for tunnel in _TUNNELS if tunnel.version == address.version):
        return False
    return address.is_global and not address.is_multicast


class GuardedNetwork(httpcore.SyncBackend):
    """Connects only to an address it has just checked, from one DNS answer."""

    def __init__(self, policy: TargetPolicy):
        self.policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options=None) -> httpcore.NetworkStream:
        error: httpcore.ConnectError | None = None
        for address in checked_addresses(host, port, self.policy, f"{host}:{port}"):
            try:  # the first address that answers, as socket.create_connection does
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as failed:
                error = failed
        raise error or httpcore.ConnectError(f"{host} resolves to no address")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport on a GuardedNetwork. TLS still checks the certificate against
    the URL's host name: httpcore takes it from the URL, not from the address dialled."""

    def __init__(self, policy: TargetPolicy):
        super().__init__()
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(),
                                             network_backend=GuardedNetwork(policy))
