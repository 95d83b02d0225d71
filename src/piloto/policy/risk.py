"""Risk of a simple command the denylist lets through: read (inspects) or write (changes state)."""

from __future__ import annotations

from piloto.policy.models import Risk, SimpleCommand
from piloto.policy.rules_files import split_args


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Programs that only inspect, whatever their arguments (or with the exceptions handled below).
_READ = _words("""
    ls ll la dir vdir cat tac head tail less more grep egrep fgrep zgrep rg ag ack ps pgrep pstree
    df du free uptime uname hostname whoami id groups date env printenv echo printf pwd which type
    whereis stat file wc sort uniq cut tr nl fold paste join comm column jq yq xq diff cmp md5sum
    sha1sum sha256sum sha512sum b2sum cksum base64 base32 od hexdump xxd strings realpath readlink
    basename dirname true false test [ [[ sleep seq expr tree find locate top htop atop vmstat
    iostat mpstat pidstat sar nproc lscpu lsmem lsblk blkid lspci lsusb lsmod lsof lslocks lsns
    findmnt mount w who last lastlog users tty getent ping ping6 traceroute tracepath mtr dig
    nslookup host whois ss netstat ifconfig iwconfig arp route ip tcpdump nmap journalctl dmesg
    history alias ulimit awk gawk mawk sed cal zcat bzcat xzcat zless timedatectl hostnamectl
    localectl loginctl free sensors watch : cd pushd popd dirs wait jobs command getconf
    apt-cache dpkg-query curl wget-spider ldd nm objdump readelf openssl ssh-keygen-l
    """)
# Programs whose first operand (a verb) decides: these verbs only inspect.
_READ_VERBS: dict[str, frozenset[str]] = {
    "systemctl": _words(
        "status show cat list-units list-unit-files list-sockets list-timers list-jobs "
        "list-dependencies list-machines is-active is-enabled is-failed is-system-running "
        "get-default show-environment help"
    )
    | frozenset({""}),
    "docker": _words(
        "ps images logs inspect stats top port diff version info events history search"
    ),
    "podman": _words("ps images logs inspect stats top port diff version info"),
    "kubectl": _words(
        "get describe logs top version explain api-resources api-versions cluster-info"
    ),
    "git": _words("status log diff show branch remote blame shortlog describe rev-parse"),
    "apt": _words("list show search policy"),
    "dpkg": _words("-l -L -s -S --list --status --search --listfiles"),
    "rpm": _words("-q -qa -qi -ql -qf"),
    "pip": _words("list show freeze check"),
    "pip3": _words("list show freeze check"),
    "npm": _words("ls list view outdated"),
    "crontab": frozenset({"-l"}),
    "nginx": frozenset({"-t", "-T", "-v", "-V"}),
    "sysctl": frozenset({"-a", "-n"}),
    "ufw": frozenset({"status"}),
    "iptables": frozenset({"-L", "-S", "--list", "--list-rules"}),
    "nft": frozenset({"list"}),
    "fdisk": frozenset({"-l", "--list"}),
    "parted": frozenset({"-l", "--list"}),
    "service": frozenset({"--status-all"}),
}
_SAFE_WRITES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})


def risk_of(cmd: SimpleCommand) -> Risk:
    """`read` for inspection, `write` for anything that changes state or is unknown."""
    if any(target not in _SAFE_WRITES for target in cmd.writes):
        return "write"
    if cmd.unwrapped or (not cmd.name and not cmd.computed):
        return "read"  # the commands it runs are judged on their own
    if cmd.name in _READ_VERBS:
        return "read" if _verb(cmd) in _READ_VERBS[cmd.name] else "write"
    if cmd.name not in _READ:
        return "write"
    return "write" if _writes_anyway(cmd) else "read"


def _verb(cmd: SimpleCommand) -> str:
    if cmd.name in (
        "dpkg",
        "rpm",
        "crontab",
        "nginx",
        "sysctl",
        "iptables",
        "fdisk",
        "parted",
        "service",
    ):
        return next((a for a in cmd.args if a.startswith("-")), "")
    if cmd.name == "kubectl":
        _, operands = split_args(_drop_values(cmd.args, ("-n", "--namespace", "--context")))
        return operands[0] if operands else ""
    _, operands = split_args(cmd.args)
    return operands[0] if operands else ("status" if cmd.name in ("git", "ufw") else "")


def _drop_values(args: tuple[str, ...], names: tuple[str, ...]) -> tuple[str, ...]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        else:
            out.append(arg)
    return tuple(out)


def _writes_anyway(cmd: SimpleCommand) -> bool:
    """Exceptions: inspection programs with options that change something."""
    options, operands = split_args(cmd.args)
    if cmd.name == "find":
        return any(
            a in ("-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint") for a in cmd.args
        )
    if cmd.name == "sed":
        return (
            "-i" in options or "--in-place" in options or any(a.startswith("-i") for a in cmd.args)
        )
    if cmd.name == "curl":
        return bool(
            options
            & {
                "-o",
                "-O",
                "-d",
                "-F",
                "-T",
                "-X",
                "--data",
                "--output",
                "--remote-name",
                "--upload-file",
                "--request",
                "--form",
                "--json",
            }
        )
    if cmd.name == "journalctl":
        return any(a.startswith(("--vacuum", "--rotate", "--flush")) for a in cmd.args)
    if cmd.name == "dmesg":
        return bool(options & {"-c", "-C", "--clear", "--read-clear"})
    if cmd.name == "date":
        return bool(options & {"-s", "--set"})
    if cmd.name in ("hostname", "mount"):
        return bool(operands)
    if cmd.name in ("ip", "route", "ifconfig", "arp"):
        return any(
            verb in operands
            for verb in ("add", "del", "delete", "set", "flush", "change", "replace", "up", "down")
        )
    if cmd.name in ("awk", "gawk", "mawk"):
        return any("system" in a or ">" in a for a in cmd.args)
    if cmd.name == "xxd":
        return "-r" in options
    if cmd.name in ("timedatectl", "hostnamectl", "localectl", "loginctl"):
        return bool(operands) and operands[0].startswith(("set", "terminate", "kill", "lock"))
    return cmd.name in ("tcpdump",) and bool(options & {"-w"})
