"""Model errors written for a person, and the mapping from the `openai` SDK's exceptions."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import openai

ModelErrorKind = Literal[
    "auth",
    "rate_limited",
    "unreachable",
    "timeout",
    "server",
    "context_length",
    "bad_request",
    "bad_response",
    "incomplete",
]

_REDACTED = "[redacted]"
# Bearer tokens and OpenAI-style keys, in case a server echoes them back in an error body.
_KEYLIKE = re.compile(r"(?i)\b(?:sk|pk|rk|key)-[A-Za-z0-9_\-*]{6,}|bearer\s+\S+")
_CONTEXT_HINTS = re.compile(
    r"(?i)context[ _]length|maximum context|context (?:size|window)|too many tokens|"
    r"exceeds? the (?:available )?context|prompt is too long|input is too long"
)
_TRY_AGAIN = re.compile(r"(?i)try again in\s+([0-9.]+)\s*(ms|s|sec|seconds?)\b")
_DURATION = re.compile(
    r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?"
)


class ModelError(Exception):
    """The LLM call failed; `message()` says what happened and what to do, in en or es."""

    kind: ModelErrorKind
    retry_after_s: float | None

    def __init__(
        self,
        kind: ModelErrorKind,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        base_url: str = "",
        timeout_s: float | None = None,
        reason: str | None = None,
        detail: str | None = None,
        partial: str = "",
    ) -> None:
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s
        self.base_url = safe_url(base_url)
        self.timeout_s = timeout_s
        # A short key refining the kind: "refused", "dns", "tls", "other" (unreachable), "quota".
        self.reason = reason
        # Already redacted server text, for logs and bad_request/bad_response messages.
        self.detail = detail
        # Text that arrived before an answer broke off (kind "incomplete"); kept, marked as such.
        self.partial = partial
        super().__init__(self.message("en"))

    def __repr__(self) -> str:
        return f"ModelError(kind={self.kind!r}, status={self.status!r})"

    def __str__(self) -> str:
        return self.message("en")

    def message(self, lang: str = "en") -> str:
        """A message for a person: what happened and what to do, in English or Spanish."""
        es = lang.lower().startswith("es")
        status = f" ({self.status})" if self.status is not None else ""
        detail = f": {self.detail}" if self.detail else ""
        match self.kind:
            case "auth":
                if es:
                    return f"El modelo rechazó la clave de API{status}. Revisa PILOTO_LLM_API_KEY."
                return f"The model rejected the API key{status}. Check PILOTO_LLM_API_KEY."
            case "rate_limited" if self.reason == "quota":
                if es:
                    return (
                        f"El proveedor del modelo indica que la cuota de la cuenta se agotó{status}. "
                        "Revisa el plan y la facturación de la cuenta de la clave de API."
                    )
                return (
                    f"The model provider says the account's quota is used up{status}. "
                    "Check the plan and billing of the API key's account."
                )
            case "rate_limited":
                wait = _format_seconds(self.retry_after_s)
                if es:
                    when = f"en {wait}" if wait else "en un momento"
                    return f"El modelo está limitando las peticiones{status}. Inténtalo de nuevo {when}."
                when = f"in {wait}" if wait else "in a moment"
                return f"The model is rate limiting requests{status}. Try again {when}."
            case "unreachable":
                en_reason, es_reason = _REASONS.get(self.reason or "other", _REASONS["other"])
                if es:
                    return (
                        f"No se pudo contactar con el modelo en {self.base_url}: {es_reason}. "
                        "¿Está el servidor en marcha?"
                    )
                return (
                    f"Could not reach the model at {self.base_url}: {en_reason}. "
                    "Is the server running?"
                )
            case "timeout":
                if es:
                    secs = _format_limit(self.timeout_s) or "el tiempo límite"
                    return (
                        f"El modelo no respondió en {secs}. Inténtalo de nuevo, o sube "
                        "PILOTO_LLM_TIMEOUT_S si es un modelo local lento."
                    )
                secs = _format_limit(self.timeout_s) or "the time limit"
                return (
                    f"The model did not answer within {secs}. Try again, or raise "
                    "PILOTO_LLM_TIMEOUT_S for a slow local model."
                )
            case "server":
                if es:
                    return (
                        f"El servidor del modelo falló{status}. Inténtalo de nuevo en un momento; "
                        "si sigue fallando, revisa los registros del servidor."
                    )
                return (
                    f"The model server failed{status}. Try again in a moment; if it keeps "
                    "failing, check the server's logs."
                )
            case "context_length":
                if es:
                    return (
                        "La conversación es demasiado larga para el contexto del modelo. "
                        "Empieza un chat nuevo o acorta el mensaje."
                    )
                return (
                    "The conversation is too long for the model's context. "
                    "Start a new chat or shorten the message."
                )
            case "bad_request":
                if self.status == 404:
                    if es:
                        return (
                            f"El servidor del modelo en {self.base_url} respondió 404{detail}. "
                            "Revisa PILOTO_LLM_BASE_URL (suele terminar en /v1) y PILOTO_LLM_MODEL."
                        )
                    return (
                        f"The model server at {self.base_url} answered 404{detail}. "
                        "Check PILOTO_LLM_BASE_URL (it usually ends in /v1) and PILOTO_LLM_MODEL."
                    )
                if es:
                    return (
                        f"El modelo rechazó la petición{status}{detail}. "
                        "Revisa PILOTO_LLM_MODEL y la configuración del servidor."
                    )
                return (
                    f"The model refused the request{status}{detail}. "
                    "Check PILOTO_LLM_MODEL and the server's settings."
                )
            case "incomplete":
                return _incomplete(self.reason, es)
            case "bad_response":
                if es:
                    return (
                        f"El modelo envió una respuesta que Piloto no pudo leer{detail}. "
                        "Inténtalo de nuevo; si se repite, quizá el servidor no sea compatible "
                        "con OpenAI."
                    )
                return (
                    f"The model sent a reply Piloto could not read{detail}. Try again; if it "
                    "happens again, the server may not be OpenAI-compatible."
                )


_INCOMPLETE: dict[str, tuple[str, str]] = {
    "not_stream": (
        "The model server answered, but not with a stream of the answer (it may ignore "
        "`stream`, as some do when tools are sent, or not be OpenAI-compatible). Try again, or "
        "set PILOTO_LLM_STREAM=false.",
        "El servidor del modelo respondió, pero no con un flujo de la respuesta (quizá ignore "
        "`stream`, como algunos cuando se envían herramientas, o no sea compatible con OpenAI). "
        "Inténtalo de nuevo o define PILOTO_LLM_STREAM=false.",
    ),
    "empty": (
        "The model's stream carried no answer (no choices). Try again; if it happens again, "
        "check the model server, or set PILOTO_LLM_STREAM=false.",
        "El flujo del modelo no traía ninguna respuesta (sin choices). Inténtalo de nuevo; si "
        "se repite, revisa el servidor del modelo o define PILOTO_LLM_STREAM=false.",
    ),
    "cut": (
        "The model's answer broke off before it finished (the stream ended without a finish "
        "reason); what arrived is kept, marked incomplete. Try again; if it keeps happening, "
        "check the timeouts of the model server and of any proxy in between.",
        "La respuesta del modelo se cortó antes de terminar (el flujo acabó sin motivo de fin); "
        "lo que llegó se conserva, marcado como incompleto. Inténtalo de nuevo; si se repite, "
        "revisa los tiempos límite del servidor del modelo y de cualquier proxy intermedio.",
    ),
    "cut_tool_call": (
        "The model's answer broke off while it was writing a plan, so nothing was proposed. "
        "Try again; if it keeps happening, raise the model's output limit.",
        "La respuesta del modelo se cortó mientras escribía un plan, así que no se propuso "
        "nada. Inténtalo de nuevo; si se repite, sube el límite de salida del modelo.",
    ),
}


def _incomplete(reason: str | None, es: bool) -> str:
    en_text, es_text = _INCOMPLETE.get(reason or "cut", _INCOMPLETE["cut"])
    return es_text if es else en_text


_REASONS: dict[str, tuple[str, str]] = {
    "refused": ("connection refused", "conexión rechazada"),
    "dns": ("host not found", "no se encontró el host"),
    "tls": ("TLS handshake failed", "falló el protocolo TLS"),
    "other": ("the connection failed", "la conexión falló"),
}


def map_openai_error(
    exc: BaseException, *, base_url: str, timeout_s: float, secrets: Sequence[str] = ()
) -> ModelError:
    """Turn an exception raised by the `openai` SDK into a ModelError for a person.

    `secrets` (the API key) are scrubbed from any server text kept as detail.
    """
    if isinstance(exc, ModelError):
        return exc
    common: dict[str, Any] = {"base_url": base_url, "timeout_s": timeout_s}
    if isinstance(exc, openai.APITimeoutError):
        return ModelError("timeout", **common)
    if isinstance(exc, openai.APIConnectionError):
        return ModelError("unreachable", reason=_connection_reason(exc), **common)
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc, common, secrets)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return ModelError("bad_response", detail=_short(str(exc), secrets), **common)
    if isinstance(exc, openai.APIError):
        # An error event inside a stream: the server failed after it started answering.
        detail = _short(exc.message, secrets)
        if _CONTEXT_HINTS.search(exc.message or "") or exc.code == "context_length_exceeded":
            return ModelError("context_length", detail=detail, **common)
        return ModelError("server", detail=detail, **common)
    return ModelError("bad_response", detail=_short(type(exc).__name__, secrets), **common)


def _from_status(
    exc: openai.APIStatusError, common: dict[str, Any], secrets: Sequence[str]
) -> ModelError:
    status = exc.status_code
    text = _error_text(exc.body)
    code = exc.code or ""
    if status in (401, 403):
        # Auth errors may echo the key back; keep no server text at all.
        return ModelError("auth", status=status, **common)
    if status == 429:
        if code == "insufficient_quota":
            return ModelError("rate_limited", status=status, reason="quota", **common)
        retry = _retry_after(exc.response.headers, text)
        return ModelError("rate_limited", status=status, retry_after_s=retry, **common)
    if code == "context_length_exceeded" or (
        status in (400, 413, 422) and _CONTEXT_HINTS.search(text)
    ):
        return ModelError("context_length", status=status, detail=_short(text, secrets), **common)
    if status == 408:
        return ModelError("timeout", status=status, **common)
    if status >= 500:
        return ModelError("server", status=status, detail=_short(text, secrets), **common)
    return ModelError("bad_request", status=status, detail=_short(text, secrets), **common)


def _error_text(body: object) -> str:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            msg = inner.get("message") or inner.get("detail") or ""
            return msg if isinstance(msg, str) else str(msg)
        if isinstance(inner, str):
            return inner
        msg = body.get("message") or body.get("detail") or ""
        return msg if isinstance(msg, str) else str(msg)
    if isinstance(body, str):
        return body
    return ""


def _connection_reason(exc: BaseException) -> str:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "refused"
        text = str(cur).lower()
        if "refused" in text:
            return "refused"
        if "name or service not known" in text or "nodename nor servname" in text:
            return "dns"
        if "getaddrinfo" in text or "temporary failure in name resolution" in text:
            return "dns"
        if "ssl" in text or "certificate" in text or "tls" in text:
            return "tls"
        cur = cur.__cause__ or cur.__context__
    return "other"


def _retry_after(headers: Mapping[str, str], text: str) -> float | None:
    """Seconds to wait: Retry-After(-ms) headers, OpenAI's reset headers, or the message."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            secs = float(value) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                continue
            secs = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(secs) and secs >= 0:
            return secs
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        value = headers.get(name)
        if value and (secs_or_none := _parse_duration(value)) is not None:
            return secs_or_none
    if match := _TRY_AGAIN.search(text):
        amount = float(match.group(1))
        return amount / 1000 if match.group(2).lower() == "ms" else amount
    return None


def _parse_duration(value: str) -> float | None:
    """Parse OpenAI's reset durations such as "20s", "1m30s", "250ms"."""
    value = value.strip()
    match = _DURATION.fullmatch(value)
    if not value or match is None or not any(match.groups()):
        return None
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def _format_seconds(value: float | None) -> str:
    """Whole seconds to wait, rounded up: "20 s"."""
    if value is None or not math.isfinite(value):
        return ""
    return f"{max(1, math.ceil(value))} s"


def _format_limit(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:g} s"


def _short(text: str | None, secrets: Sequence[str], limit: int = 200) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    text = _KEYLIKE.sub(_REDACTED, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_url(url: str) -> str:
    """The URL without user:password or query string, fit to show a person."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _REDACTED
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
