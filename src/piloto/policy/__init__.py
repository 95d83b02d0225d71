"""The command policy: every shell command is parsed, checked against a denylist and an
optional per-project allowlist, and given a risk (read / write / destructive)."""

from piloto.policy.check import check_command, check_correction
from piloto.policy.models import (
    CommandLimits,
    Decision,
    PolicyParseError,
    Redirect,
    Risk,
    SimpleCommand,
)
from piloto.policy.parser import parse_command

__all__ = [
    "CommandLimits",
    "Decision",
    "PolicyParseError",
    "Redirect",
    "Risk",
    "SimpleCommand",
    "check_command",
    "check_correction",
    "parse_command",
]
