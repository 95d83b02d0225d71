"""Finding a service's OpenAPI document over the network; loading and parsing always run
in a thread, off the event loop (GitHub's 13 MB document takes ~0.7 s)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urljoin

import httpx

from piloto.services.models import ParsedSpec
from piloto.services.netguard import AddressRefused
from piloto.services.openapi import MAX_SPEC_BYTES, SpecError, load_document, parse_openapi
from piloto.services.transport import RedirectRefused, connect_reason, send_capped
from piloto.services.urls import normalize_base_url, same_origin

DISCOVERY_PATHS = (
    "/openapi.json",
    "/openapi.yaml",
    "/swagger.json",
    "/swagger.yaml",
    "/v3/api-docs",
    "/api-docs",
    "/docs/openapi.json",
    "/api/openapi.json",
)


class DiscoveryError(ValueError):
    """No OpenAPI document could be fetched; the message says what was tried."""


def _looks_like_html(content_type: str, body: bytes) -> bool:
    return "html" in content_type.lower() or body.lstrip()[:1] == b"<"


async def discover_openapi(
    base_url: str,
    *,
    client: httpx.AsyncClient,
    doc_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_SPEC_BYTES,
) -> tuple[str, ParsedSpec]:
    """Find and parse a service's OpenAPI document; returns (document URL, spec).

    Credentials (``headers``) are sent only to the base URL's origin. Raises DiscoveryError
    when nothing usable was found and SpecError when a document was found but is broken.
    """
    base = normalize_base_url(base_url)
    explicit = doc_url is not None
    candidates = [urljoin(base + "/", doc_url)] if doc_url else [base + p for p in DISCOVERY_PATHS]
    tried: list[str] = []
    for url in candidates:
        label = url[len(base) :] if url.startswith(base) else url
        send_headers = {"Accept": "application/json, application/yaml;q=0.9, */*;q=0.5"}
        if headers and same_origin(url, base):
            send_headers.update(headers)
        try:
            request = client.build_request("GET", url, headers=send_headers)
            fetched = await send_capped(client, request, origin_url=url, max_bytes=max_bytes)
        except AddressRefused as exc:
            raise DiscoveryError(str(exc)) from exc
        except RedirectRefused as exc:
            tried.append(f"{label} ({exc})")
            continue
        except httpx.TimeoutException as exc:
            raise DiscoveryError(f"could not reach {base}: timed out") from exc
        except httpx.ConnectError as exc:
            raise DiscoveryError(f"could not reach {base}: {connect_reason(exc)}") from exc
        except httpx.HTTPError as exc:
            raise DiscoveryError(f"could not fetch {url}: {type(exc).__name__}") from exc
        if fetched.truncated:
            raise DiscoveryError(
                f"the document at {url} is larger than the {max_bytes // 2**20} MiB limit"
            )
        content_type = fetched.headers.get("content-type", "")
        if fetched.status_code >= 300:
            tried.append(f"{label} ({fetched.status_code})")
            continue
        if _looks_like_html(content_type, fetched.content):
            if explicit:
                raise SpecError(
                    f"{url} returned HTML, not an OpenAPI document", where="line 1, column 1"
                )
            tried.append(f"{label} (HTML)")
            continue
        # Loading and parsing are CPU-bound (GitHub's 13 MB document blocks ~0.7 s): off the loop.
        if not explicit:
            try:
                loaded = await asyncio.to_thread(
                    load_document, fetched.content, max_bytes=max_bytes
                )
            except SpecError:
                tried.append(f"{label} (not JSON or YAML)")
                continue
            if not isinstance(loaded, dict) or not ({"openapi", "swagger"} & loaded.keys()):
                tried.append(f"{label} (not OpenAPI)")
                continue
            spec = await asyncio.to_thread(parse_openapi, loaded, source_url=fetched.url)
            return fetched.url, spec
        spec = await asyncio.to_thread(parse_openapi, fetched.content, source_url=fetched.url)
        return fetched.url, spec
    hint = ""
    if any("(401)" in t or "(403)" in t for t in tried):
        hint = "; the server refused access (401/403): check the service's credentials"
    raise DiscoveryError(f"no OpenAPI document found at {base}; tried {', '.join(tried)}{hint}")
