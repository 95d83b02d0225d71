"""Which network addresses Piloto may connect to, and HTTP clients that enforce it.

Every outgoing connection of the services layer resolves the host name itself, vets every
address (cloud metadata addresses are refused always; loopback, private and link-local
ranges by policy) and then connects to the vetted IP, so a DNS answer that changes between
the check and the connect (rebinding) cannot reach a refused address. The TLS server name
and the Host header keep the original name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import httpcore
import httpcore2
import httpx
import httpx2

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """A destination the network policy refuses; the message is written for a person."""


@dataclass(frozen=True)
class NetPolicy:
    """Which address ranges may be reached; cloud metadata addresses are refused regardless."""

    allow_loopback: bool = True
    allow_private: bool = True
    allow_link_local: bool = False


_METADATA_IPS: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "169.254.170.2",  # AWS ECS task metadata
        "192.0.0.192",  # Oracle Cloud
    )
)
_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_LINK_LOCAL = (_V4("169.254.0.0/16"), _V6("fe80::/10"))
_LOOPBACK = (_V4("127.0.0.0/8"), _V4("0.0.0.0/8"), _V6("::1/128"), _V6("::/128"))
_PRIVATE = (
    _V4("10.0.0.0/8"),
    _V4("172.16.0.0/12"),
    _V4("192.168.0.0/16"),
    _V4("100.64.0.0/10"),
    _V4("198.18.0.0/15"),
    _V6("fc00::/7"),
    _V6("fec0::/10"),
)
_NEVER = (
    _V4("224.0.0.0/4"),
    _V4("240.0.0.0/4"),
    _V4("192.0.0.0/24"),
    _V6("ff00::/8"),
)
_NAT64 = (_V6("64:ff9b::/96"), _V6("64:ff9b:1::/48"))


def _in(ip: IPAddress, nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in nets)


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address may carry: mapped, compatible, 6to4, Teredo, NAT64."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        found.append(low32)
    if _in(ip, _NAT64):
        found.append(low32)
    return found


def check_ip(ip: IPAddress, policy: NetPolicy) -> None:
    """Raise AddressRefused when the policy refuses this address (or one it embeds)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(ip.compressed.split("%", 1)[0])
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        candidates.extend(_embedded_v4(ip))
    for addr in candidates:
        shown = str(ip) if addr == ip else f"{ip} (which embeds {addr})"
        if addr in _METADATA_IPS:
            raise AddressRefused(f"refused: {shown} is a cloud metadata address")
        if _in(addr, _NEVER):
            raise AddressRefused(f"refused: {shown} is a multicast or reserved address")
        if _in(addr, _LINK_LOCAL) and not policy.allow_link_local:
            raise AddressRefused(
                f"refused: {shown} is a link-local address (where cloud metadata services live)"
            )
        if _in(addr, _LOOPBACK) and not policy.allow_loopback:
            raise AddressRefused(f"refused: {shown} is a loopback address; policy forbids it")
        if _in(addr, _PRIVATE) and not policy.allow_private:
            raise AddressRefused(f"refused: {shown} is a private address; policy forbids it")


def _inet_aton_part(part: str) -> int | None:
    if not part:
        return None
    try:
        if part[:2].lower() == "0x":
            return int(part[2:], 16) if part[2:] else 0
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def parse_host_literal(host: str) -> IPAddress | None:
    """The IP a host string denotes in any spelling a resolver accepts, or None for a name.

    Accepts brackets, a trailing dot, IPv6 (mapped/zone forms) and the inet_aton forms:
    decimal (2852039166), octal (0251.0376.0251.0376), hex (0xa9fea9fe), short (169.254.43518).
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.rstrip(".")
    if not text:
        return None
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    parts = text.split(".")
    if len(parts) > 4:
        return None
    values = [_inet_aton_part(p) for p in parts]
    if any(v is None for v in values):
        return None
    nums = [v for v in values if v is not None]
    head, last = nums[:-1], nums[-1]
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (5 - len(nums))):
        return None
    value = 0
    for v in head:
        value = (value << 8) | v
    value = (value << (8 * (5 - len(nums)))) | last
    return ipaddress.IPv4Address(value)


def check_host_name(host: str) -> None:
    """Refuse metadata host names before any resolution."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in _METADATA_NAMES or name.endswith(".metadata.google.internal"):
        raise AddressRefused(f"refused: {name} is a cloud metadata host name")


async def resolve_and_check(host: str, port: int, policy: NetPolicy) -> list[str]:
    """Resolve a host without blocking and return its addresses, all of them vetted.

    Raises AddressRefused if any address is refused, and socket.gaierror when the name
    does not resolve.
    """
    check_host_name(host)
    literal = parse_host_literal(host)
    if literal is not None:
        check_ip(literal, policy)
        return [str(literal)]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host.rstrip("."), port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        raw = str(sockaddr[0])
        ip = ipaddress.ip_address(raw.split("%", 1)[0])
        check_ip(ip, policy)
        if raw not in addresses:
            addresses.append(raw)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no addresses")
    return addresses


async def _vetted_ips(host: str, port: int, policy: NetPolicy, limit_s: float | None) -> list[str]:
    async with asyncio.timeout(limit_s):
        return await resolve_and_check(host, port, policy)


async def _connect_vetted(
    core: Any,
    inner: Any,
    policy: NetPolicy,
    host: str,
    port: int,
    limit_s: float | None,
    local_address: str | None,
    socket_options: Iterable[Any] | None,
) -> Any:
    """Connect to the first reachable vetted address of ``host``.

    ``core`` is the httpcore module in use (httpcore, or httpcore2 for the MCP SDK), so one
    copy of this check guards both clients.
    """
    try:
        ips = await _vetted_ips(host, port, policy, limit_s)
    except TimeoutError as exc:
        raise core.ConnectTimeout(f"resolving {host} timed out") from exc
    except socket.gaierror as exc:
        raise core.ConnectError(f"{host} does not resolve ({exc.strerror})") from exc
    last: Exception | None = None
    for ip in ips:
        try:
            return await inner.connect_tcp(ip, port, limit_s, local_address, socket_options)
        except (core.ConnectError, core.ConnectTimeout) as exc:
            last = exc
    assert last is not None
    raise last


class _GuardedBackend:
    """An httpcore network backend that connects only to vetted addresses of the host.

    One class for both httpcore and httpcore2 (the MCP SDK's httpx2 uses the latter): httpcore
    calls its backend by these methods only, so ``core`` picks the module and no copy is kept.
    """

    def __init__(self, core: Any, policy: NetPolicy) -> None:
        self._core = core
        self._policy = policy
        self._inner = core.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        return await _connect_vetted(
            self._core, self._inner, self._policy, host, port, timeout, local_address,
            socket_options,
        )  # fmt: skip

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        raise AddressRefused("refused: unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# An idle pooled connection is dropped after this long, before the servers' own idle timeouts
# (uvicorn and Node.js: 5 s, gunicorn: 2 s) can close it under a request: a command sent on a
# connection the server was closing fails with an unknown outcome and cannot be re-sent.
KEEPALIVE_EXPIRY_S = 1.0


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose TCP connects go only to addresses the policy allows."""

    def __init__(self, policy: NetPolicy, *, limits: httpx.Limits | None = None) -> None:
        super().__init__(trust_env=False)
        lim = limits or httpx.Limits(
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_EXPIRY_S
        )
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=lim.max_connections,
            max_keepalive_connections=lim.max_keepalive_connections,
            keepalive_expiry=lim.keepalive_expiry,
            network_backend=cast(httpcore.AsyncNetworkBackend, _GuardedBackend(httpcore, policy)),
        )


def guarded_client(policy: NetPolicy, *, timeout: float, **kw: Any) -> httpx.AsyncClient:
    """An httpx client that vets every address it connects to and never follows redirects."""
    for forbidden in ("transport", "follow_redirects", "trust_env", "proxy", "mounts"):
        if forbidden in kw:
            raise TypeError(f"guarded_client does not accept {forbidden}=")
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, limits=kw.pop("limits", None)),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        **kw,
    )


class GuardedTransport2(httpx2.AsyncHTTPTransport):
    """httpx2 transport with the same address guard (for MCP over streamable HTTP)."""

    def __init__(self, policy: NetPolicy) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            network_backend=cast(httpcore2.AsyncNetworkBackend, _GuardedBackend(httpcore2, policy)),
        )


def guarded_client2(
    policy: NetPolicy, *, timeout: float, headers: dict[str, str] | None = None
) -> httpx2.AsyncClient:
    """An httpx2 client for the MCP SDK with the address guard; redirects are never followed."""
    return httpx2.AsyncClient(
        transport=GuardedTransport2(policy),
        timeout=httpx2.Timeout(timeout, read=max(timeout, 300.0)),
        headers=headers,
        follow_redirects=False,
        trust_env=False,
    )
