"""The service registry at run time: register, discover, refresh, resolve and invoke.

``MCPService`` of the original plan. Network I/O never happens inside a database
transaction: discovery runs first, then one short write stores the outcome.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from piloto.audit.log import append_audit
from piloto.errors import Forbidden, Invalid, NotFound
from piloto.projects.repo import get_project
from piloto.redact import Redactor
from piloto.services import repo
from piloto.services.arguments import InvalidArguments, build_request, is_reserved_header
from piloto.services.crypto import SecretBox
from piloto.services.discovery import DiscoveryError, discover_openapi
from piloto.services.invoke import HttpTarget, invoke_http
from piloto.services.mcp_client import McpConfig, McpPool, McpUnavailable
from piloto.services.models import InvokeResult, OperationSpec
from piloto.services.netguard import (
    AddressRefused,
    NetPolicy,
    check_host_name,
    check_ip,
    guarded_client,
    parse_host_literal,
)
from piloto.services.openapi import SpecError, call_base_url, parse_openapi
from piloto.services.records import Operation, Service, ServiceIn
from piloto.services.urls import normalize_base_url, origin
from piloto.store.db import Database

log = logging.getLogger("piloto.services")


@dataclass(frozen=True)
class Resolved:
    """A step's service and operation, checked against the allowlist."""

    service: Service
    operation: Operation
    spec: OperationSpec
    credentials_enc: str | None


class ServiceRegistry:
    """Owns the HTTP client and the MCP sessions; every call re-checks the allowlist."""

    def __init__(
        self,
        *,
        db: Database,
        box: SecretBox,
        net: NetPolicy,
        max_bytes: int = 1024 * 1024,
        secrets: Iterable[str] = (),
    ) -> None:
        self.db = db
        self.box = box
        self.net = net
        self.max_bytes = max_bytes
        # The process's own secrets (model key, admin and toolbox tokens): redacted from every
        # result too, since a tool (``env``, a debug endpoint) may print them.
        self.secrets = tuple(s for s in secrets if s)
        self.http = guarded_client(net, timeout=30.0)
        # The same network policy for MCP over HTTP as for OpenAPI calls.
        self.mcp = McpPool(policy=net)

    async def aclose(self) -> None:
        """Close the HTTP client and every MCP session."""
        await self.mcp.aclose()
        await self.http.aclose()

    # -- registration --------------------------------------------------------------------

    def _credentials(self, data: ServiceIn) -> dict[str, str]:
        creds: dict[str, str] = {}
        for name, value in (data.headers or {}).items():
            creds["header:" + name] = value
        if data.bearer_token:
            creds["header:Authorization"] = f"Bearer {data.bearer_token}"
        for name, value in (data.env or {}).items():
            creds["env:" + name] = value
        return creds

    def _split(self, enc: str | None) -> tuple[dict[str, str], dict[str, str]]:
        creds = self.box.decrypt(enc)
        headers = {k[7:]: v for k, v in creds.items() if k.startswith("header:")}
        env = {k[4:]: v for k, v in creds.items() if k.startswith("env:")}
        return headers, env

    def _mcp_config(self, svc: Service, enc: str | None) -> McpConfig:
        headers, env = self._split(enc)
        if svc.command:
            return McpConfig(
                transport="stdio", command=tuple(svc.command), env=env, timeout_s=svc.timeout_s
            )
        return McpConfig(transport="http", url=svc.url, headers=headers, timeout_s=svc.timeout_s)

    def _check_destination(self, url: str) -> None:
        """Refuse, before storing anything, a host the network policy never allows.

        Only what is known without I/O (metadata names, IP literals): allow_offline must
        not keep a refused address around to be retried every few seconds.
        """
        host = origin(url)[1]
        try:
            check_host_name(host)
            literal = parse_host_literal(host)
            if literal is not None:
                check_ip(literal, self.net)
        except AddressRefused as exc:
            raise Invalid(f"This address cannot be registered: {exc}.") from exc

    async def register(self, data: ServiceIn, *, actor: str) -> Service:
        """Validate, discover and store a service; offline only when the admin allows it."""
        base_url: str | None = None
        if data.kind == "openapi":
            if not data.base_url:
                raise Invalid("An OpenAPI service needs base_url (where its API answers).")
            try:
                base_url = normalize_base_url(data.base_url)
            except ValueError as exc:
                raise Invalid(str(exc)) from exc
            self._check_destination(base_url)
        elif not data.command and not data.url:
            raise Invalid("An MCP service needs either command (stdio) or url (streamable HTTP).")
        elif data.command and data.url:
            raise Invalid("Give an MCP service either command or url, not both.")
        elif data.url:
            try:
                data = data.model_copy(update={"url": normalize_base_url(data.url)})
            except ValueError as exc:
                raise Invalid(str(exc)) from exc
            assert data.url is not None
            self._check_destination(data.url)
        creds = self._credentials(data)
        enc = self.box.encrypt(creds)
        async with self.db.write() as conn:
            if data.project_id:
                await get_project(conn, project_id=data.project_id)
            sid = await repo.insert_service(conn, data=data, base_url=base_url, credentials_enc=enc)
            await append_audit(conn, actor=actor, action="service.register", project_id=data.project_id,
                               request_summary=f"{data.kind} {data.name} {base_url or data.url or ' '.join(data.command or [])}")  # fmt: skip
        try:
            return await self._discover_and_store(
                sid, document=data.document, strict=not data.allow_offline
            )
        except Exception:
            async with self.db.write() as conn:
                await repo.delete_service(conn, service_id=sid)
            raise

    async def refresh(self, service_id: str) -> Service:
        """Discover again; keeps the admin's per-operation choices."""
        return await self._discover_and_store(service_id, document=None, strict=False)

    async def _discover_and_store(
        self, service_id: str, *, document: str | None, strict: bool
    ) -> Service:
        async with self.db.read() as conn:
            row = await repo.get_service(conn, service_id=service_id)
        svc = row.service
        title: str | None = None
        call_base: str | None
        try:
            if svc.kind == "openapi":
                assert svc.base_url is not None
                call_base, doc_url, specs, title = await self._discover_openapi(
                    svc, row.credentials_enc, document
                )
            else:
                specs = await self.mcp.list_tools(
                    svc.id, self._mcp_config(svc, row.credentials_enc)
                )
                call_base, doc_url = svc.base_url, None
        except (
            DiscoveryError,
            SpecError,
            AddressRefused,
            McpUnavailable,
            OSError,
            httpx.HTTPError,
            TimeoutError,
            RuntimeError,
            ValueError,
        ) as exc:
            message = str(exc) or exc.__class__.__name__
            if strict:
                if isinstance(exc, SpecError):
                    # allow_offline would not help: the document itself needs fixing.
                    raise Invalid(
                        f"The OpenAPI document is broken: {message}. Fix it and register again."
                    ) from exc
                raise Invalid(
                    f"Discovery failed: {message}. Fix it, or register with allow_offline to "
                    "retry later."
                ) from exc
            async with self.db.write() as conn:
                await repo.set_status(
                    conn,
                    service_id=service_id,
                    status="offline" if not isinstance(exc, SpecError) else "error",
                    error=message,
                )
                return (await repo.get_service(conn, service_id=service_id)).service
        async with self.db.write() as conn:
            await repo.replace_operations(conn, service_id=service_id, specs=specs)
            await repo.update_service(
                conn, service_id=service_id, base_url=call_base, doc_url=doc_url or svc.doc_url
            )
            await repo.set_status(conn, service_id=service_id, status="online", title=title)
            return (await repo.get_service(conn, service_id=service_id)).service

    async def _discover_openapi(
        self, svc: Service, enc: str | None, document: str | None
    ) -> tuple[str, str | None, list[OperationSpec], str]:
        assert svc.base_url is not None
        headers, _ = self._split(enc)
        if document is not None:
            spec = await asyncio.to_thread(parse_openapi, document, source_url=svc.base_url)
            doc_url = None
        else:
            doc_url, spec = await discover_openapi(
                svc.base_url, client=self.http, doc_url=svc.doc_url, headers=headers
            )
        # A document may name its own server; follow it only on the registered origin and
        # under the registered path (a document never widens where calls may go).
        call_base = call_base_url(svc.base_url, spec)
        credential_names = list(headers)
        return (
            call_base,
            doc_url,
            [without_reserved_headers(op, credential_names) for op in spec.operations],
            spec.title,
        )

    async def retry_offline(self) -> None:
        """Try again every service left offline (called periodically)."""
        async with self.db.read() as conn:
            offline = [
                s for s in await repo.list_services(conn) if s.status == "offline" and s.enabled
            ]
        for svc in offline:
            try:
                await self.refresh(svc.id)
            except Exception:
                log.warning("refresh of an offline service failed", extra={"service": svc.name})

    # -- resolution and invocation ---------------------------------------------------------

    async def resolve(
        self, conn: Any, *, project_id: str, service: str, operation: str
    ) -> Resolved:
        """The enabled operation a step names; Invalid with a reason otherwise."""
        row = await repo.find_service(conn, project_id=project_id, name=service)
        if row is None:
            raise Invalid(f"unknown service “{service}”", code="unknown_service", service=service)
        if not row.service.enabled:
            raise Invalid(
                f"service “{service}” is disabled", code="service_disabled", service=service
            )
        op = await repo.find_operation(conn, service_id=row.service.id, operation=operation)
        if op is None or op.spec is None:
            raise Invalid(
                f"service “{service}” has no operation “{operation}”",
                code="no_operation", service=service, operation=operation,
            )  # fmt: skip
        if not op.enabled:
            raise Invalid(
                f"operation “{op.operation}” of “{service}” is disabled",
                code="operation_disabled", service=service, operation=op.operation,
            )  # fmt: skip
        return Resolved(row.service, op, op.spec, row.credentials_enc)

    def check_arguments(self, resolved: Resolved, arguments: Mapping[str, Any]) -> None:
        """Validate arguments against the operation's schema, at proposal (no I/O)."""
        if resolved.service.kind == "openapi":
            headers, _ = self._split(resolved.credentials_enc)
            try:
                build_request(resolved.spec, arguments, credential_headers=headers.keys())
            except InvalidArguments as exc:
                raise Invalid(str(exc)) from exc
            return
        # MCP tools: plans/validate.py checks the arguments against the tool's inputSchema.

    async def invoke(
        self,
        *,
        project_id: str,
        service: str,
        operation: str,
        arguments: Mapping[str, Any],
        idempotency_key: str | None,
        resolved: Resolved | None = None,
    ) -> InvokeResult:
        """One call of one allowed operation (``invoke_mcp_sync`` of the original plan).

        ``resolved``: the caller's own ``resolve`` of this operation, just made, so that it is
        not looked up twice; without it the allowlist is read here.
        """
        if resolved is None:
            async with self.db.read() as conn:
                try:
                    resolved = await self.resolve(
                        conn, project_id=project_id, service=service, operation=operation
                    )
                except Invalid as exc:
                    raise Forbidden(f"Not allowed: {exc}.") from exc
        svc = resolved.service
        headers, env = self._split(resolved.credentials_enc)
        # Built per call: every result leaves ``services`` without the service's credentials.
        redactor = Redactor([*headers.values(), *env.values(), *self.secrets])
        if svc.kind == "mcp":
            result = await self.mcp.call_tool(
                svc.id,
                self._mcp_config(svc, resolved.credentials_enc),
                resolved.spec.path,
                arguments,
            )
            return await redact_off_loop(result, redactor)
        if svc.base_url is None:
            raise NotFound(f"service “{service}” has no base URL")
        target = HttpTarget(
            base_url=svc.base_url,
            headers=headers,
            timeout_s=svc.timeout_s,
            max_bytes=self.max_bytes,
            service=svc.name,
        )
        result = await invoke_http(
            target, resolved.spec, arguments, client=self.http, idempotency_key=idempotency_key
        )
        return await redact_off_loop(result, redactor)


async def redact_off_loop(result: InvokeResult, redactor: Redactor) -> InvokeResult:
    """``redact_result``, in a thread for large bodies (walking 1 MiB of JSON takes ~0.1 s)."""
    if result.bytes > 32 * 1024:
        return await asyncio.to_thread(redact_result, result, redactor)
    return redact_result(result, redactor)


def redact_result(result: InvokeResult, redactor: Redactor) -> InvokeResult:
    """The result with every known secret replaced in its body and error."""
    if not redactor:
        return result
    body = result.body
    if result.truncated and isinstance(body, str):
        body = redactor.cut_text(body)
    return result.model_copy(
        update={
            "body": redactor.value(body),
            "error": redactor.text(result.error) if result.error else result.error,
        }
    )


def without_reserved_headers(spec: OperationSpec, credential_headers: list[str]) -> OperationSpec:
    """The operation without header parameters the model must never set (Host, credentials)."""
    kept = [
        p
        for p in spec.parameters
        if not (p.location == "header" and is_reserved_header(p.name, credential_headers))
    ]
    if len(kept) == len(spec.parameters):
        return spec
    dropped = sorted({p.name for p in spec.parameters} - {p.name for p in kept})
    log.info("dropped reserved header parameters %s of %s", dropped, spec.operation_id)
    return spec.model_copy(update={"parameters": kept})
