"""The policy against the corpus in tests/policy/corpus: dangerous, everyday, allowlist bypasses.

Run `pytest -q -s tests/policy/test_policy_corpus.py -k totals` to print the totals.
In the files `\\n` stands for a newline (here-docs); everything else is literal.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from piloto.policy import CommandLimits, Decision, check_command

CORPUS = Path(__file__).parent / "corpus"


class Case(NamedTuple):
    source: str
    command: str
    allowlist: frozenset[str] | None
    decision: str
    risk: str


def _load(name: str) -> list[Case]:
    cases: list[Case] = []
    for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        command = parts[0].replace("\\n", "\n")
        if len(parts) == 4:
            allow = frozenset(p for p in parts[1].split(",") if p)
            cases.append(Case(name, command, allow, parts[2], parts[3]))
        else:
            cases.append(Case(name, command, None, parts[1], parts[2]))
    return cases


DANGEROUS = _load("dangerous.tsv")
EVERYDAY = _load("everyday.tsv")
ALLOWLIST = _load("allowlist.tsv")
ALL = DANGEROUS + EVERYDAY + ALLOWLIST


def _judge(case: Case) -> Decision:
    return check_command(case.command, CommandLimits(allowlist=case.allowlist))


@pytest.mark.parametrize("case", ALL, ids=[f"{c.source}:{c.command[:60]}" for c in ALL])
def test_corpus(case: Case) -> None:
    decision = _judge(case)
    got = "allowed" if decision.allowed else "blocked"
    assert got == case.decision, decision.reason
    if decision.allowed or case.allowlist is not None:
        assert decision.risk == case.risk, (decision.risk, decision.risk_reason)
    assert decision.risk_code, decision
    assert decision.risk_reason, decision
    assert "\n" not in decision.reason


def test_corpus_is_large_enough() -> None:
    assert len(ALL) >= 300
    assert len(DANGEROUS) >= 150 and len(EVERYDAY) >= 150 and len(ALLOWLIST) >= 30


def test_totals() -> None:
    dangerous = [_judge(c) for c in DANGEROUS]
    refused_or_destructive = sum(not d.allowed or d.risk == "destructive" for d in dangerous)
    everyday = [(c, _judge(c)) for c in EVERYDAY]
    allowed = sum(d.allowed for _, d in everyday)
    reads = [(c, d) for c, d in everyday if c.risk == "read"]
    read_shown_read = sum(d.allowed and d.risk == "read" for _, d in reads)
    bypasses = [(c, _judge(c)) for c in ALLOWLIST if c.decision == "blocked"]
    bypass_refused = sum(not d.allowed for _, d in bypasses)
    exact = sum(
        ("allowed" if d.allowed else "blocked") == c.decision
        and (not d.allowed or d.risk == c.risk)
        for c, d in [(c, _judge(c)) for c in ALL]
    )
    print(
        f"\ndangerous refused-or-destructive: {refused_or_destructive}/{len(dangerous)}, "
        f"everyday allowed: {allowed}/{len(everyday)}, "
        f"read shown read: {read_shown_read}/{len(reads)}, "
        f"allowlist bypasses refused: {bypass_refused}/{len(bypasses)}, "
        f"exact decision and risk: {exact}/{len(ALL)}"
    )
    assert refused_or_destructive == len(dangerous)
    assert allowed == len(everyday)
    assert read_shown_read == len(reads)
    assert bypass_refused == len(bypasses)
