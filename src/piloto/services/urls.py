"""URL helpers: normalising a service's base URL, origins, joining paths under a base."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import httpx

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_base_url(url: str) -> str:
    """Return the canonical base URL of a service, or raise ValueError saying what is wrong.

    http and https only (no scheme is an error, not a guess); scheme and host lower-cased;
    default port, query, fragment and trailing slash dropped; credentials in the URL refused.
    """
    text = url.strip()
    if not text:
        raise ValueError("the URL is empty")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError("the URL contains spaces or control characters")
    if "://" not in text:
        raise ValueError(f"the URL must start with http:// or https:// (got {text!r})")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"only http and https URLs are allowed (got {scheme}://)")
    netloc = parts.netloc
    if "@" in netloc:
        raise ValueError(
            "credentials in the URL are not allowed; use the service's credentials field"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"the URL has no host: {text!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"the URL has an invalid port: {text!r}") from exc
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    result = urlunsplit((scheme, host, path, "", ""))
    try:
        httpx.URL(result)
    except httpx.InvalidURL as exc:
        raise ValueError(f"the URL is not valid: {exc}") from exc
    return result


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL, with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, host, port


def same_origin(a: str, b: str) -> bool:
    """Whether two absolute URLs share scheme, host and port."""
    return origin(a) == origin(b)


def describe_origin(url: str) -> str:
    """The origin of a URL as a person reads it, without path, query or credentials."""
    scheme, host, port = origin(url)
    shown = f"[{host}]" if ":" in host else host
    if port != _DEFAULT_PORTS.get(scheme):
        shown = f"{shown}:{port}"
    return f"{scheme}://{shown}"
