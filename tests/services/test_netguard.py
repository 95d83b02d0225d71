"""Address policy: metadata addresses in every spelling, ranges by policy, DNS names, and the
guarded client refusing before it connects."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from piloto.services.netguard import (
    AddressRefused,
    NetPolicy,
    check_ip,
    guarded_client,
    parse_host_literal,
    resolve_and_check,
)

DEFAULT = NetPolicy()
STRICT = NetPolicy(allow_loopback=False, allow_private=False)

METADATA_SPELLINGS = [
    "169.254.169.254",
    "2852039166",
    "0251.0376.0251.0376",
    "0xa9fea9fe",
    "0xA9.0xFE.0xA9.0xFE",
    "169.254.43518",
    "169.16689662",
    "[::ffff:169.254.169.254]",
    "::ffff:a9fe:a9fe",
    "[::ffff:a9fe:a9fe]",
    "169.254.169.254.",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "fd00:ec2::254",
    "100.100.100.200",
    "168.63.129.16",
    "169.254.170.2",
    "192.0.0.192",
]


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
def test_metadata_refused_in_every_spelling(host: str) -> None:
    ip = parse_host_literal(host)
    assert ip is not None, host
    for policy in (DEFAULT, STRICT, NetPolicy(allow_link_local=True)):
        with pytest.raises(AddressRefused, match="metadata"):
            check_ip(ip, policy)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2852039166", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("127.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("0x", "0.0.0.0"),
        ("08.1.1.1", None),
        ("", None),
        ("localhost", None),
    ],
)
def test_parse_host_literal(host: str, expected: str | None) -> None:
    got = parse_host_literal(host)
    assert (str(got) if got is not None else None) == expected


@pytest.mark.parametrize(
    ("address", "policy", "refused"),
    [
        ("127.0.0.1", DEFAULT, False),
        ("127.0.0.1", STRICT, True),
        ("::1", STRICT, True),
        ("::ffff:127.0.0.1", STRICT, True),
        ("0.0.0.0", STRICT, True),
        ("10.1.2.3", DEFAULT, False),
        ("10.1.2.3", STRICT, True),
        ("192.168.1.1", STRICT, True),
        ("fd12::1", STRICT, True),
        ("169.254.1.1", DEFAULT, True),
        ("169.254.1.1", NetPolicy(allow_link_local=True), False),
        ("fe80::1", DEFAULT, True),
        ("224.0.0.1", DEFAULT, True),
        ("8.8.8.8", STRICT, False),
        ("2001:4860:4860::8888", STRICT, False),
    ],
)
def test_ranges_by_policy(address: str, policy: NetPolicy, refused: bool) -> None:
    ip = ipaddress.ip_address(address)
    if refused:
        with pytest.raises(AddressRefused):
            check_ip(ip, policy)
    else:
        check_ip(ip, policy)


async def test_resolve_refuses_names_of_refused_addresses() -> None:
    assert "127.0.0.1" in await resolve_and_check(
        "localhost", 80, DEFAULT
    ) or await resolve_and_check("localhost", 80, DEFAULT)
    with pytest.raises(AddressRefused, match="loopback"):
        await resolve_and_check("localhost", 80, STRICT)
    with pytest.raises(AddressRefused, match="metadata"):
        await resolve_and_check("metadata.google.internal", 80, DEFAULT)
    with pytest.raises(AddressRefused, match="metadata"):
        await resolve_and_check("METADATA.google.internal.", 80, DEFAULT)
    with pytest.raises(AddressRefused, match="metadata"):
        await resolve_and_check("0251.0376.0251.0376", 80, DEFAULT)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://169.254.43518/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/",
    ],
)
async def test_guarded_client_refuses_metadata_before_connecting(url: str) -> None:
    # AddressRefused comes from the check that precedes the TCP connect: nothing is sent.
    async with guarded_client(DEFAULT, timeout=5) as client:
        try:
            await client.get(url)
        except AddressRefused as exc:
            assert "metadata" in str(exc)
        except httpx.InvalidURL:  # httpx itself refuses some spellings: also before connecting
            pass
        else:
            pytest.fail(f"{url} was not refused")


async def test_guarded_client_reaches_allowed_loopback(test_api: object) -> None:
    url = test_api.url  # type: ignore[attr-defined]
    async with guarded_client(DEFAULT, timeout=5) as client:
        response = await client.get(url + "/json")
    assert response.status_code == 200
    async with guarded_client(STRICT, timeout=5) as client:
        with pytest.raises(AddressRefused, match="loopback"):
            await client.get(url + "/json")
    assert len(test_api.seen) == 1  # type: ignore[attr-defined]


async def test_guarded_client_keeps_the_host_name(test_api: object) -> None:
    port = test_api.url.rsplit(":", 1)[1]  # type: ignore[attr-defined]
    async with guarded_client(DEFAULT, timeout=5) as client:
        response = await client.get(f"http://localhost:{port}/json")
    assert response.status_code == 200
    assert test_api.seen[-1]["headers"]["host"] == f"localhost:{port}"  # type: ignore[attr-defined]


def test_guarded_client_never_follows_redirects() -> None:
    with pytest.raises(TypeError):
        guarded_client(DEFAULT, timeout=1, follow_redirects=True)
    client = guarded_client(DEFAULT, timeout=1)
    assert client.follow_redirects is False


async def test_unresolvable_name_is_a_connect_error() -> None:
    async with guarded_client(DEFAULT, timeout=5) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://no-such-host.invalid/")
