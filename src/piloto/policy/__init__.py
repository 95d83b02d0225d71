"""The command policy: every shell command is parsed, checked against a denylist and an
optional per-project allowlist, and given a risk (read / write / destructive) with a reason."""

from piloto.policy.chars import hidden_characters, lookalikes
from piloto.policy.check import check_command, check_correction, plan_effect
from piloto.policy.explain import explain
from piloto.policy.models import (
    CommandLimits,
    Decision,
    PolicyParseError,
    Redirect,
    Risk,
    SimpleCommand,
)
from piloto.policy.parser import parse_command
from piloto.policy.texts import risk_reason

__all__ = [
    "CommandLimits",
    "Decision",
    "PolicyParseError",
    "Redirect",
    "Risk",
    "SimpleCommand",
    "check_command",
    "check_correction",
    "explain",
    "hidden_characters",
    "lookalikes",
    "parse_command",
    "plan_effect",
    "risk_reason",
]
