"""normalize_base_url and origins."""

from __future__ import annotations

import pytest

from piloto.services.urls import describe_origin, normalize_base_url, same_origin


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://Example.COM/", "http://example.com"),
        ("HTTPS://api.example.com:443/v1/?q=1#frag", "https://api.example.com/v1"),
        ("http://127.0.0.1:8080/api//", "http://127.0.0.1:8080/api"),
        ("http://[::1]:80/", "http://[::1]"),
        ("  http://host.example.  ", "http://host.example"),
    ],
)
def test_normalize(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://user:pass@example.com", "credentials in the URL are not allowed"),
        ("http://token@example.com", "credentials in the URL are not allowed"),
        ("example.com", "must start with http:// or https://"),
        ("ftp://example.com", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript://alert(1)", "only http and https"),
        ("http://", "no host"),
        ("http://exa mple.com", "spaces or control"),
        ("http://example.com\r\nHost: evil", "spaces or control"),
        ("http://example.com:99999", "invalid port"),
        ("", "empty"),
    ],
)
def test_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_base_url(url)


def test_origins() -> None:
    assert same_origin("http://a.example/x", "http://A.example:80/y")
    assert not same_origin("http://localhost:8000", "http://127.0.0.1:8000")
    assert not same_origin("http://a.example", "https://a.example")
    assert describe_origin("http://u:p@a.example:8080/x?token=1") == "http://a.example:8080"
