"""Project settings as a person sends them: who may set what, merging, and clear refusals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from piloto.auth.tokens import Principal
from piloto.errors import Forbidden, Invalid
from piloto.i18n import t
from piloto.projects.models import ADMIN_ONLY, MAX_APPROVALS, RISKS, ProjectSettings

KNOWN: tuple[str, ...] = tuple(ProjectSettings.model_fields)


def check_may_set(raw: Mapping[str, Any] | None, principal: Principal, lang: str) -> None:
    """403 when a non-admin sends any admin-only setting (on create as on update)."""
    if not raw or principal.can("admin"):
        return
    refused = sorted(k for k in raw if k in ADMIN_ONLY)
    if refused:
        raise Forbidden(
            t(lang, "settings_admin_only", keys=", ".join(refused)),
            code="admin_only_setting",
            keys=refused,
        )


def merge_settings(current: ProjectSettings, raw: Mapping[str, Any], lang: str) -> ProjectSettings:
    """``current`` with the keys of ``raw`` changed, validated; 422 naming any bad key."""
    unknown = sorted(k for k in raw if k not in KNOWN)
    if unknown:
        raise Invalid(
            t(lang, "settings_unknown", keys=", ".join(unknown), known=", ".join(KNOWN)),
            code="unknown_setting",
            keys=unknown,
            known=list(KNOWN),
        )
    if "required_approvals" in raw:
        _check_approvals(raw["required_approvals"], lang)
    merged = current.model_dump() | dict(raw)
    try:
        return ProjectSettings.model_validate(merged, strict=False)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        raise Invalid(
            t(lang, "settings_invalid", problems="; ".join(problems)), code="invalid_setting"
        ) from None


def _check_approvals(value: Any, lang: str) -> None:
    if not isinstance(value, Mapping):
        raise Invalid(t(lang, "approvals_shape"), code="invalid_setting")
    for risk, count in value.items():
        if risk not in RISKS:
            raise Invalid(
                t(lang, "approvals_risk", given=risk, risks=", ".join(RISKS)),
                code="invalid_setting",
            )
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_APPROVALS:
            raise Invalid(
                t(lang, "approvals_count", risk=risk, value=count, most=MAX_APPROVALS),
                code="invalid_setting",
            )
