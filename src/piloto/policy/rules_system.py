"""Denylist rules about the machine: power, mass kills, firewalls, accounts, cron, shells fed code."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from piloto.policy import paths, unwrap
from piloto.policy.models import SimpleCommand
from piloto.policy.rules_files import show, split_args

_POWER = frozenset({"shutdown", "reboot", "halt", "poweroff", "telinit", "kexec"})
_SYSTEMCTL_POWER = frozenset(
    {
        "poweroff",
        "reboot",
        "halt",
        "kexec",
        "soft-reboot",
        "rescue",
        "emergency",
        "suspend",
        "hibernate",
        "hybrid-sleep",
        "suspend-then-hibernate",
    }
)
_FIREWALL_UNITS = frozenset(
    {"ufw", "firewalld", "nftables", "iptables", "ip6tables", "netfilter-persistent"}
)
_IPTABLES = re.compile(r"(ip6?tables|ebtables|arptables)(-legacy|-nft)?$")
_ACCOUNT_REMOVERS = frozenset({"userdel", "deluser", "groupdel", "delgroup"})
DOWNLOADERS = frozenset(
    {
        "curl",
        "wget",
        "fetch",
        "http",
        "https",
        "xh",
        "aria2c",
        "lwp-request",
        "lwp-download",
        "GET",
        "nc",
        "ncat",
        "netcat",
        "socat",
        "ftp",
        "tftp",
    }
)
_MATCH_ALL_SAMPLES = ("systemd", "sshd", "bash", "a", "Z9")


def power(cmd: SimpleCommand) -> str | None:
    """shutdown, reboot, halt, poweroff, init 0/6, systemctl poweroff|reboot|halt."""
    if cmd.name in _POWER:
        if cmd.name == "shutdown" and "-c" in cmd.args:
            return None
        return f"`{show(cmd)}` shuts down or restarts the machine"
    if cmd.name == "ipmitool":
        words = [a.lower() for a in cmd.args]
        at = words.index("power") if "power" in words else -1
        if at >= 0 and words[at + 1 : at + 2] in (["off"], ["reset"], ["cycle"], ["soft"]):
            return f"`{show(cmd)}` powers off or resets a machine through its BMC"
    if cmd.name == "init" and cmd.args[:1] and cmd.args[0] in ("0", "1", "6", "s", "S"):
        return f"`{show(cmd)}` changes the runlevel: it halts, reboots or isolates the machine"
    if cmd.name == "systemctl":
        _, operands = split_args(cmd.args)
        verb = operands[0] if operands else ""
        if verb in _SYSTEMCTL_POWER:
            return f"`{show(cmd)}` shuts down, restarts or suspends the machine"
        if verb == "isolate" and any(
            t.startswith(
                ("rescue", "emergency", "poweroff", "reboot", "halt", "runlevel0", "runlevel6")
            )
            for t in operands[1:]
        ):
            return f"`{show(cmd)}` switches the machine to a rescue or power-off state"
        if verb in ("stop", "disable", "mask", "kill") and any(
            unit.removesuffix(".service") in _FIREWALL_UNITS for unit in operands[1:]
        ):
            return f"`{show(cmd)}` turns off the firewall"
    return None


def _kill_targets(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """(signal given as -N/-NAME if any, the pids) for kill's arguments."""
    signal = None
    pids: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            pids.extend(args[i + 1 :])
            break
        if arg in ("-s", "-n", "--signal"):
            i += 2
            continue
        if arg.startswith("-") and signal is None and not pids:
            signal = arg
        else:
            pids.append(arg)
        i += 1
    return signal, pids


def _matches_everything(pattern: str) -> bool:
    try:
        compiled = re.compile(pattern)
    except re.error:
        return False
    return all(compiled.search(sample) for sample in _MATCH_ALL_SAMPLES)


def mass_kill(cmd: SimpleCommand) -> str | None:
    """kill -9 -1, kill 1, killall5, pkill of everything or of all root's processes."""
    if cmd.name == "killall5":
        return f"`{show(cmd)}` signals every process on the machine"
    if cmd.name == "kill":
        signal, pids = _kill_targets(cmd.args)
        if "-1" in pids or (signal == "-1" and not pids):
            return f"`{show(cmd)}` signals every process on the machine"
        if "1" in pids:
            return f"`{show(cmd)}` signals init (PID 1), which takes the whole machine down"
        if "0" in pids:
            return f"`{show(cmd)}` signals every process in the group, Piloto's runner included"
        return None
    if cmd.name in ("pkill", "killall", "skill"):
        options, operands = split_args(cmd.args)
        users = _option_values(cmd.args, ("-u", "-U", "--euid", "--uid", "--user"))
        patterns = [op for op in operands if op not in users]
        if cmd.name == "pkill" and ("-v" in options or "--inverse" in options):
            return f"`{show(cmd)}` signals every process that does not match, almost all of them"
        if any(_matches_everything(p) for p in patterns) and (
            cmd.name == "pkill" or "-r" in options
        ):
            return f"`{show(cmd)}` matches every process on the machine"
        if not patterns and any(u in ("root", "0") for u in users):
            return f"`{show(cmd)}` signals every process that root runs"
    return None


def _option_values(args: Sequence[str], names: tuple[str, ...]) -> list[str]:
    values: list[str] = []
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith(tuple(n + "=" for n in names if n.startswith("--"))):
            values.append(arg.split("=", 1)[1])
        elif len(arg) > 2 and arg[:2] in [n for n in names if len(n) == 2]:
            values.append(arg[2:])
    return values


def firewall(cmd: SimpleCommand) -> str | None:
    """iptables -F, nft flush ruleset, ufw disable/reset."""
    if _IPTABLES.match(cmd.name):
        options, _ = split_args(cmd.args)
        if options & {"-F", "--flush"}:
            return f"`{show(cmd)}` flushes the firewall rules"
    if cmd.name == "nft":
        _, operands = split_args(cmd.args)
        if operands[:1] == ["flush"] or operands[:2] == ["delete", "table"]:
            return f"`{show(cmd)}` removes the firewall rules"
    if cmd.name == "ufw":
        _, operands = split_args(cmd.args)
        if operands[:1] and operands[0] in ("disable", "reset"):
            return f"`{show(cmd)}` turns off or resets the firewall"
    return None


def accounts(cmd: SimpleCommand) -> str | None:
    """userdel/deluser/groupdel, passwd -d, locking root out."""
    if cmd.name in _ACCOUNT_REMOVERS:
        return f"`{show(cmd)}` removes an account"
    options, operands = split_args(cmd.args)
    if cmd.name == "passwd":
        if options & {"-d", "--delete"}:
            return f"`{show(cmd)}` removes a password, so anyone can log in as that user"
        if options & {"-l", "--lock"} and "root" in operands:
            return f"`{show(cmd)}` locks the root account"
    if (
        cmd.name == "usermod"
        and "root" in operands
        and options & {"-L", "--lock", "-e", "--expiredate"}
    ):
        return f"`{show(cmd)}` locks the root account"
    return None


def crontab(cmd: SimpleCommand) -> str | None:
    """crontab -r deletes every job of the user, without a backup."""
    if cmd.name == "crontab" and "-r" in split_args(cmd.args)[0]:
        return f"`{show(cmd)}` deletes every cron job of the user, without a backup"
    return None


RULES = (power, mass_kill, firewall, accounts, crontab)


# Rules that look at several commands together.


def fork_bomb(records: Sequence[SimpleCommand]) -> str | None:
    """A function that calls itself in a pipe or in the background: `:(){ :|:& };:`."""
    for cmd in records:
        if cmd.function and cmd.name == cmd.function and not cmd.computed:
            same_pipe = [r for r in records if r.pipeline == cmd.pipeline]
            if cmd.background or len(same_pipe) > 1:
                return (
                    f"`{cmd.function}` is a fork bomb: a function that starts copies of itself "
                    "until the machine runs out of processes"
                )
    return None


def _is_decoder(cmd: SimpleCommand) -> bool:
    options, _ = split_args(cmd.args)
    if cmd.name in ("base64", "base32", "basenc"):
        return bool(options & {"-d", "--decode", "-D"})
    if cmd.name == "xxd":
        return "-r" in options
    if cmd.name == "openssl":
        return "-d" in options
    if cmd.name in ("gzip", "bzip2", "xz", "zstd", "lz4"):
        return bool(options & {"-d", "--decompress"})
    # rot13 with tr, reversed text, compressed payloads: text turned into a hidden command.
    return cmd.name in ("uudecode", "rev", "tr", "rot13", "zcat", "gunzip", "bzcat", "xzcat")


def _kind(cmd: SimpleCommand) -> str | None:
    if cmd.name in DOWNLOADERS:
        return "download"
    if _is_decoder(cmd):
        return "decode"
    return None


def code_from_elsewhere(records: Sequence[SimpleCommand]) -> str | None:
    """Downloaded or decoded text run as code: `curl … | sh`, `bash <(curl …)`, `sh -c "$(…)"`."""
    for index, cmd in enumerate(records):
        kind = _kind(cmd)
        if kind is None:
            continue
        runner = _code_runner_fed_by(records, index)
        if runner is not None:
            what = "a downloaded script" if kind == "download" else "decoded, hidden text"
            return f"`{show(cmd, 40)}` feeds {what} to `{runner}`, which runs it without review"
    return None


def _code_runner_fed_by(records: Sequence[SimpleCommand], index: int) -> str | None:
    cmd = records[index]
    for later in records[index + 1 :]:
        if later.pipeline == cmd.pipeline and later.stage > cmd.stage and later.stdin_code:
            return later.name
    current = cmd
    while current.parent is not None:
        parent = records[current.parent]
        if current.via in ("substitution", "process-substitution") and (
            unwrap.runs_code(parent.name) or parent.computed
        ):
            return parent.name or parent.program
        if current.via == "stdin":
            return parent.name
        current = parent
    return None


def _downloaded_files(cmd: SimpleCommand) -> set[str]:
    files = set(cmd.writes)
    letter = {"curl": "o", "wget": "O"}.get(cmd.name)
    for i, arg in enumerate(cmd.args):
        if arg.startswith(("--output=", "--output-document=")):
            files.add(arg.split("=", 1)[1])
        elif arg in ("--output", "--output-document") and i + 1 < len(cmd.args):
            files.add(cmd.args[i + 1])
        elif letter and arg.startswith("-") and not arg.startswith("--") and letter in arg:
            rest = arg[arg.index(letter) + 1 :]  # -o FILE, -sSo FILE, -oFILE
            if rest:
                files.add(rest)
            elif i + 1 < len(cmd.args):
                files.add(cmd.args[i + 1])
    return {_same_file(f, cmd.cwd) for f in files if f not in ("-", "/dev/null")}


def _same_file(word: str, cwd: str | None) -> str:
    return posixpath.normpath(paths.resolve(word, cwd))


def _script_run_by(cmd: SimpleCommand) -> str | None:
    if "/" in cmd.program and not cmd.computed:
        return _same_file(cmd.program, cmd.cwd)
    if cmd.name in unwrap.SHELLS or unwrap.is_interpreter(cmd.name) or cmd.name in ("source", "."):
        if cmd.code or cmd.unwrapped:
            return None
        start = unwrap.first_positional(cmd.args, "oOWXIM", frozenset({"--rcfile", "--init-file"}))
        if start < len(cmd.args):
            return _same_file(cmd.args[start], cmd.cwd)
    return None


def download_then_run(records: Sequence[SimpleCommand]) -> str | None:
    """`curl -o i.sh URL && sh i.sh`: a downloaded script run without review."""
    fetched: dict[str, SimpleCommand] = {}
    for cmd in records:
        if cmd.name in DOWNLOADERS:
            fetched.update(dict.fromkeys(_downloaded_files(cmd), cmd))
            continue
        script = _script_run_by(cmd)
        if script is not None and script in fetched:
            return (
                f"`{show(cmd, 40)}` runs a script that `{show(fetched[script], 40)}` just "
                "downloaded, without review"
            )
    return None


CROSS_RULES = (fork_bomb, code_from_elsewhere, download_then_run)
