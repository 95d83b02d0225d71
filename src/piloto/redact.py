"""Known secret values replaced by ``[redacted]`` wherever Piloto stores or forwards text.

A pure leaf: services build one ``Redactor`` per call from the service's credentials plus the
process's own secrets; ``logs`` uses one for every log line.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
MIN_SECRET_LEN = 6  # shorter values ("on", "1", "json") would redact ordinary words


def _forms(value: str) -> set[str]:
    """The value and the encodings a service is likely to echo it in."""
    raw = value.encode()
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = enc.decode()
        forms.update({text, text.rstrip("=")})
    return forms


def _parts(value: str) -> set[str]:
    """A header value and the secrets inside it (``Bearer X``, ``Basic X``, cookies)."""
    value = value.strip()
    out = {value}
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() in ("bearer", "basic", "token", "apikey", "digest"):
        rest = rest.strip()
        out.add(rest)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(rest, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                decoded = ""
            if decoded:
                out.add(decoded)
                out.add(decoded.partition(":")[2])
    if "=" in value:  # a cookie header: each value is a secret of its own
        for pair in value.split(";"):
            _, eq, cookie = pair.partition("=")
            if eq:
                out.add(cookie.strip())
    return out


class Redactor:
    """Replaces every known secret (≥ 6 characters) and its base64 / URL-encoded forms."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        secrets: set[str] = set()
        for value in values:
            if not isinstance(value, str):
                continue
            for part in _parts(value):
                if len(part) >= MIN_SECRET_LEN:
                    secrets.update(f for f in _forms(part) if len(f) >= MIN_SECRET_LEN)
        # Longest first, so a secret inside a longer known value never leaves a tail behind.
        ordered = sorted(secrets, key=len, reverse=True)
        self._secrets = tuple(ordered)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        """``value`` with every known secret replaced."""
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(REDACTED, value)

    def cut_text(self, value: str) -> str:
        """``text`` for a body cut at a size cap: a secret cut in two leaves no prefix behind."""
        value = self.text(value)
        for secret in self._secrets:
            for size in range(len(secret) - 1, 2, -1):  # a 1-2 character tail tells nothing
                if value.endswith(secret[:size]):
                    return value[: len(value) - size] + REDACTED
        return value

    def value(self, value: Any) -> Any:
        """A JSON-like value (str, list, dict; keys included) with every secret replaced."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {
                (self.text(k) if isinstance(k, str) else k): self.value(v) for k, v in value.items()
            }
        return value

    def __repr__(self) -> str:
        return "Redactor(<hidden>)"
