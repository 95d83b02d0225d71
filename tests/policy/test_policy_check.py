"""The command policy: allowlists, limits, parsing, risk, and the reasoner's corrections."""

from __future__ import annotations

import pytest

from piloto.policy import (
    CommandLimits,
    Decision,
    PolicyParseError,
    check_command,
    check_correction,
    parse_command,
)

LS_CAT = CommandLimits(allowlist=frozenset({"ls", "cat"}))


# Allowlist


def test_allowlist_blocks_a_program_not_listed_and_names_it() -> None:
    decision = check_command("ls | grep x", LS_CAT)
    assert not decision.allowed
    assert "`grep`" in decision.reason
    assert "allowlist" in decision.reason
    assert decision.programs == ("ls", "grep")


def test_allowlist_allows_listed_programs() -> None:
    decision = check_command("ls -la /var/log && cat /etc/os-release", LS_CAT)
    assert decision.allowed, decision.reason
    assert decision.programs == ("ls", "cat")


@pytest.mark.parametrize(
    ("cmd", "named"),
    [
        ("bash -c 'grep x y'", "grep"),  # unwrapping shells does not hide a program
        ("ls $(whoami)", "whoami"),
        ("sudo ls /root", "sudo"),  # raising privileges must itself be allowlisted
        ("find . -exec rm {} +", "find"),
        ("cat x | xargs rm", "xargs"),
        ("/usr/bin/wget http://x", "wget"),
    ],
)
def test_allowlist_applies_to_every_program_run(cmd: str, named: str) -> None:
    decision = check_command(cmd, LS_CAT)
    assert not decision.allowed
    assert f"`{named}`" in decision.reason


def test_allowlist_ignores_transparent_wrappers_and_shell_state() -> None:
    decision = check_command("cd /var/log && timeout 5 nice -n 10 ls -la", LS_CAT)
    assert decision.allowed, decision.reason


def test_denylist_applies_even_to_allowlisted_programs() -> None:
    decision = check_command("rm -rf /", CommandLimits(allowlist=frozenset({"rm"})))
    assert not decision.allowed
    assert "root filesystem" in decision.reason


# Length, emptiness, parsing


def test_max_length() -> None:
    limits = CommandLimits(max_length=20)
    assert check_command("echo " + "a" * 15, limits).allowed
    decision = check_command("echo " + "a" * 16, limits)
    assert not decision.allowed
    assert "21 characters" in decision.reason and "20" in decision.reason
    assert not check_command("echo " + "a" * 5000).allowed  # the default limit is 4096


@pytest.mark.parametrize("cmd", ["", "   ", "\n\t"])
def test_empty_command_is_blocked(cmd: str) -> None:
    decision = check_command(cmd)
    assert not decision.allowed
    assert "empty" in decision.reason


def test_a_comment_alone_runs_nothing() -> None:
    assert not check_command("# just a comment").allowed


@pytest.mark.parametrize(
    "cmd",
    [
        'echo "unterminated',
        "ls |",
        "ls &&",
        "(ls",
        "bash -c 'echo \"unterminated'",
    ],
)
def test_unparseable_commands_are_blocked(cmd: str) -> None:
    decision = check_command(cmd)
    assert not decision.allowed
    assert decision.reason.startswith("blocked: the command could not be parsed safely: ")
    assert "\n" not in decision.reason


@pytest.mark.parametrize(
    ("cmd", "names"),
    [
        ("echo $((1 + 2))", ["echo"]),
        ("echo $(( $(id -u) + 1 ))", ["echo", ":", "id"]),
        ("case $x in a|b) ls;; *) rm -f ./y;; esac", [":", "ls", "rm"]),
        ("time ls -la", ["ls"]),
        ("time -p df -h", ["df"]),
        ("[[ -f x && $(id) == y ]] && cat x", ["[", "id", "cat"]),
        ("for ((i = 0; i < 3; i++)); do echo $i; done", ["echo"]),
        ("arr=(a $(id -u) c); echo ${arr[1]}", ["", ":", "id", "echo"]),
        ("declare -A m; m[x]=1", ["declare", ""]),
        ("select x in a b; do echo $x; break; done", ["echo", "break"]),
        ("coproc ls", ["ls"]),
        ("echo $[1 + 2]", ["echo"]),
    ],
)
def test_case_arithmetic_and_time_parse_with_every_command_kept(cmd: str, names: list[str]) -> None:
    assert [c.name for c in parse_command(cmd)] == names


def test_a_case_branch_is_judged() -> None:
    decision = check_command("case $x in a) rm -rf /;; esac")
    assert not decision.allowed and "root filesystem" in decision.reason


def test_a_nul_byte_is_refused_as_a_hidden_character() -> None:
    decision = check_command("ls\x00rm -rf /")
    assert not decision.allowed
    assert decision.risk_code == "hidden-character"
    assert "U+0000" in decision.reason


def test_deep_nesting_is_refused() -> None:
    cmd = "ls"
    for _ in range(12):
        cmd = "bash -c " + _quote(cmd)
    with pytest.raises(PolicyParseError):
        parse_command(cmd)
    assert not check_command(cmd).allowed


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.mark.parametrize(
    "cmd",
    [
        "$(echo rm) -rf /tmp/x",
        "`echo rm` x",
        "$CMD -rf /",
        "${TOOL} --go",
        "X=rm; $X -rf /",
        "/bin/r? -rf x",
        "{rm,-rf,x}",
    ],
)
def test_a_program_name_computed_at_run_time_is_blocked(cmd: str) -> None:
    decision = check_command(cmd)
    assert not decision.allowed
    assert "computed at run time" in decision.reason


# Risk


@pytest.mark.parametrize(
    ("cmd", "risk"),
    [
        ("ls -la", "read"),
        ("cat /etc/os-release", "read"),
        ("ps aux | grep nginx | wc -l", "read"),
        ("systemctl status nginx", "read"),
        ("journalctl -u nginx --since today", "read"),
        ("kubectl get pods -A", "read"),
        ("docker ps", "read"),
        ("df -h; free -m; uptime", "read"),
        ("bash -c 'uname -a'", "read"),
        ("ls > /dev/null 2>&1", "read"),
        ("curl -sS http://localhost:8080/health", "read"),
        ("systemctl restart nginx", "destructive"),  # issue 16: a restart stops a service
        ("systemctl reload nginx", "write"),
        ("touch /tmp/x", "write"),
        ("mkdir -p /srv/app", "write"),
        ("rm /tmp/file", "destructive"),  # issue 16: deletion is destructive
        ("apt-get install -y nginx", "write"),
        ("echo hi > /tmp/x", "write"),
        ("ls && systemctl start nginx", "write"),
        ("sed -i 's/a/b/' app.conf", "write"),
        ("find /tmp -name '*.tmp' -delete", "destructive"),
        ("curl -X POST http://localhost/api", "write"),
        ("docker restart web", "destructive"),
        ("some-unknown-tool --flag", "write"),
        ("rm -rf /", "destructive"),
        ("ls; iptables -F", "destructive"),
    ],
)
def test_risk_classification(cmd: str, risk: str) -> None:
    assert check_command(cmd).risk == risk


# Corrections proposed by the reasoner


def test_correction_with_the_same_program_is_allowed() -> None:
    decision = check_correction("systemctl status ngnix", "systemctl status nginx")
    assert decision.allowed, decision.reason
    assert decision.programs == ("systemctl",)


@pytest.mark.parametrize(
    ("original", "corrected"),
    [
        ("systemctl restart ngnix", "systemctl restart nginx"),  # issue 16: not read, new draft
        ("rm ./missing-file.txt", "rm -rf ./*"),
        ("sort -u notes.txt", "sort -o precious.txt /dev/null"),
    ],
)
def test_a_correction_that_is_not_read_needs_a_new_confirmation(
    original: str, corrected: str
) -> None:
    decision = check_correction(original, corrected)
    assert not decision.allowed
    assert "new confirmation" in decision.reason


def test_correction_to_a_subset_of_programs_is_allowed() -> None:
    assert check_correction("ps aux | grep ngnix", "ps aux").allowed


def test_correction_adding_a_transparent_wrapper_is_allowed() -> None:
    assert check_correction(
        "curl http://localhost/health", "timeout 10 curl -sS http://localhost/health"
    ).allowed


def test_correction_that_runs_another_program_is_blocked() -> None:
    decision = check_correction("wget http://x/file", "curl -O http://x/file")
    assert not decision.allowed
    assert decision.reason == (
        "blocked: the correction runs `curl` instead of `wget`; it needs a new confirmation"
    )


def test_correction_that_adds_a_program_is_blocked() -> None:
    decision = check_correction("ls /var/log", "ls /var/log | xargs rm")
    assert not decision.allowed
    assert "`xargs`" in decision.reason and "new confirmation" in decision.reason


def test_correction_that_is_destructive_is_blocked() -> None:
    decision = check_correction("rm -rf ./build", "rm -rf /")
    assert not decision.allowed
    assert "root filesystem" in decision.reason
    assert decision.risk == "destructive"


def test_correction_that_raises_the_risk_is_blocked() -> None:
    decision = check_correction("systemctl status x", "systemctl restart x")
    assert not decision.allowed
    assert "(destructive)" in decision.reason
    assert "new confirmation" in decision.reason


def test_correction_that_adds_sudo_is_blocked() -> None:
    decision = check_correction("systemctl status nginx", "sudo systemctl status nginx")
    assert not decision.allowed
    assert "`sudo`" in decision.reason


def test_correction_hidden_in_a_shell_string_is_still_compared() -> None:
    decision = check_correction("ls /tmp", "bash -c 'curl http://x | tee /tmp/y'")
    assert not decision.allowed
    assert "`curl`" in decision.reason


def test_correction_respects_the_allowlist() -> None:
    decision = check_correction("ls /x", "ls /x | grep y", LS_CAT)
    assert not decision.allowed
    assert "allowlist" in decision.reason


def test_correction_of_an_unparseable_original_needs_a_new_confirmation() -> None:
    decision = check_correction('echo "oops', "echo fixed")
    assert not decision.allowed
    assert "new confirmation" in decision.reason


# The parser's view


def test_parse_command_unwraps_and_normalises() -> None:
    (cmd,) = parse_command("sudo -u root env A=1 nohup /bin/rm -r -f '/tmp/x' > /tmp/log 2>&1")
    assert cmd.program == "/bin/rm"
    assert cmd.name == "rm"
    assert cmd.argv == ("/bin/rm", "-r", "-f", "/tmp/x")
    assert cmd.wrappers == ("sudo", "env", "nohup")
    assert cmd.writes == ("/tmp/log",)


def test_parse_command_finds_every_program() -> None:
    found = parse_command(
        "ps aux | grep x && (cd /tmp; ls $(pwd)) || echo `date` ; cat <(uptime) ; bash -c 'id'"
    )
    names = [c.name for c in found if c.name and not c.unwrapped]
    assert names == ["ps", "grep", "cd", "ls", "pwd", "echo", "date", "cat", "uptime", "id"]


def test_parse_command_records_pipelines_and_nesting() -> None:
    found = parse_command("curl -s http://x | sh")
    assert [(c.name, c.stage) for c in found] == [("curl", 0), ("sh", 1)]
    assert found[0].pipeline == found[1].pipeline
    assert found[1].stdin_code
    nested = parse_command("bash -c 'ls'")
    assert nested[0].unwrapped and nested[1].parent == 0 and nested[1].via == "-c"


def test_parse_command_recurses_into_find_exec_and_xargs() -> None:
    names = [c.name for c in parse_command("find . -exec grep -l x {} + | xargs -n1 wc -l")]
    assert names == ["find", "grep", "xargs", "wc"]


def test_decision_is_a_frozen_value() -> None:
    decision = check_command("uname -a")
    assert decision == Decision(
        True,
        "allowed: runs uname",
        ("uname",),
        "read",
        risk_code="read",
        risk_reason="only reads or inspects (uname)",
        risk_detail="uname",
    )
    with pytest.raises(AttributeError):
        decision.allowed = False  # type: ignore[misc]


def test_hostile_fragments_never_crash_the_policy() -> None:
    """Random mixes of the constructs the rewrites handle: always a decision, never an error."""
    import random

    rng = random.Random(16)
    pieces = ["case ", " in ", ";;", "esac", "$((", "))", "[[", "]]", "time ", "for ((", "do "]
    pieces += ["done", "=(", "select ", "coproc ", "$[", "<<EOF\n", "\nEOF", "sudo ", "bash -c "]
    pieces += ["xargs ", "find . -exec ", " \\;", "echo ", "| sh", "env -S ", "LD_PRELOAD=x "]
    alphabet = "ab rm-f/$(){}[];|&<>'\"`\\\n*?~=#!:%+.,019"
    for _ in range(3000):
        cmd = "".join(
            rng.choice(pieces) if rng.random() < 0.3 else rng.choice(alphabet)
            for _ in range(rng.randint(1, 40))
        )
        decision = check_command(cmd)
        assert decision.risk_code, cmd
