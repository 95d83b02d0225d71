"""Effects of host settings, packages, networking, logs and cloud CLIs."""

from __future__ import annotations

from piloto.policy.effect import (
    Effect,
    destructive,
    has_option,
    operands,
    option_value,
    read,
    verb_effect,
    words,
    write,
)
from piloto.policy.models import SimpleCommand

_PKG_READ = words(
    "list show search policy info query outdated freeze check view ls why depends rdepends "
    "madison changelog showpkg stats dump pkgnames history audit doctor config-list provides "
    "whatprovides repolist deplist explain help version -v --version -h --help"
)


_PKG_REMOVE = words(
    "remove purge autoremove erase uninstall del rm unlink autopurge zap -r -P --remove --purge -e "
    "--erase"
)


_PKG_VALUES = ("-o", "-c", "-t", "--target-release", "--root", "--prefix")


def packages(cmd: SimpleCommand) -> Effect:
    """apt, dnf, pip, npm, …: list/show read, remove/purge destructive, install/update write."""
    if cmd.name == "pacman":
        flag = next((a for a in cmd.args if a.startswith("-") and not a.startswith("--")), "")
        if flag.startswith("-Q") or flag.startswith(("-Ss", "-Si", "-Sl", "-Sg")):
            return read(cmd)
        return destructive(cmd, "uninstall") if flag.startswith("-R") else write(cmd, "install")
    if cmd.name in ("dpkg", "rpm"):
        flags = [a for a in cmd.args if a.startswith("-")]
        if any(f in _PKG_REMOVE or f.startswith("-e") for f in flags):
            return destructive(cmd, "uninstall")
        readers = ("-l", "-L", "-s", "-S", "-p", "--list", "--status", "--search", "--listfiles")
        if any(f.startswith("-q") or f in readers or f.startswith("--get") for f in flags):
            return read(cmd)
        if cmd.name == "rpm" and any(f.startswith(("-V", "--verify")) for f in flags):
            return read(cmd)
        return write(cmd, "install")
    verbs = operands(cmd, _PKG_VALUES)
    verb = verbs[0] if verbs else ""
    if not verb and any(a in ("-v", "--version", "-h", "--help", "-V") for a in cmd.args):
        return read(cmd)
    if cmd.name in ("npm", "yarn", "pnpm", "bun") and verb in (
        "run",
        "run-script",
        "start",
        "test",
        "exec",
        "x",
        "dlx",
    ):
        return destructive(cmd, "script")
    if cmd.name in ("snap", "flatpak") and verb == "run":
        return destructive(cmd, "script")
    return verb_effect(
        cmd, verb, reads=_PKG_READ, destroys=_PKG_REMOVE, code="install", destroy_code="uninstall"
    )


_IP_DOWN = words("del delete flush down")


_IP_CHANGE = words("add set change replace up append prepend link-netns restore")


def ip(cmd: SimpleCommand) -> Effect:
    """ip/route/ifconfig/nmcli: showing reads, taking things down is destructive."""
    args = operands(cmd, ("-n", "-netns", "-f", "-family"))
    if cmd.name == "nmcli":
        if any(a in ("down", "delete", "off", "disconnect") for a in args):
            return destructive(cmd, "network")
        changes = ("up", "modify", "add", "connect", "on", "reload", "import", "clone", "edit")
        return write(cmd, "network") if any(a in changes for a in args) else read(cmd)
    if any(a in _IP_DOWN for a in args):
        return destructive(cmd, "network")
    if any(a in _IP_CHANGE for a in args):
        return write(cmd, "network")
    if cmd.name == "ifconfig" and len(args) > 1:
        return write(cmd, "network")
    return read(cmd)


def ifupdown(cmd: SimpleCommand) -> Effect:
    """ifdown takes an interface down; ifup brings it up."""
    return destructive(cmd, "network") if cmd.name == "ifdown" else write(cmd, "network")


def modules(cmd: SimpleCommand) -> Effect:
    """Loading or unloading kernel modules runs kernel code."""
    if cmd.name == "modprobe" and has_option(cmd, "-n", "--dry-run", "-c", "--showconfig", "-D"):
        return read(cmd)
    if cmd.name == "modinfo":
        return read(cmd)
    return destructive(cmd, "kernel")


_SETTINGS_READ = words("status show list list-timezones list-locales list-keymaps show-session")


def settings_ctl(cmd: SimpleCommand) -> Effect:
    """timedatectl/hostnamectl/localectl/loginctl: status reads; terminate/kill destructive."""
    args = operands(cmd)
    verb = args[0] if args else "status"
    if verb.startswith(("terminate", "kill")):
        return destructive(cmd, "kill")
    return read(cmd) if verb in _SETTINGS_READ or verb.startswith("list") else write(cmd)


def sysctl(cmd: SimpleCommand) -> Effect:
    """sysctl reads keys; -w, -p, --system and key=value write."""
    changes = has_option(cmd, "-w", "--write", "-p", "--load", "--system")
    return write(cmd) if changes or any("=" in a for a in operands(cmd)) else read(cmd)


def date(cmd: SimpleCommand) -> Effect:
    """date prints; date -s sets the clock."""
    return write(cmd) if has_option(cmd, "-s", "--set") else read(cmd)


def hostname(cmd: SimpleCommand) -> Effect:
    """hostname prints; with a name it renames the machine."""
    return write(cmd) if operands(cmd) or has_option(cmd, "-F", "--file") else read(cmd)


def dmesg(cmd: SimpleCommand) -> Effect:
    """dmesg reads; -c/-C clear the kernel log."""
    return (
        destructive(cmd, "delete")
        if has_option(cmd, "-c", "-C", "--clear", "--read-clear")
        else read(cmd)
    )


def journalctl(cmd: SimpleCommand) -> Effect:
    """journalctl reads; --vacuum-* deletes logs; --rotate/--flush write."""
    if any(a.startswith("--vacuum") for a in cmd.args):
        return destructive(cmd, "delete")
    if any(
        a.startswith(("--rotate", "--flush", "--sync", "--relinquish", "--setup-keys"))
        for a in cmd.args
    ):
        return write(cmd)
    return read(cmd)


def smart(cmd: SimpleCommand) -> Effect:
    """smartctl reads unless it starts a test or changes settings."""
    changes = has_option(cmd, "-t", "--test", "-s", "--smart", "-o", "--offlineauto", "-S", "-X")
    return write(cmd) if changes else read(cmd)


def cloud(cmd: SimpleCommand) -> Effect:
    """aws/gcloud/az/doctl: list/describe/get read; delete/terminate/remove destructive."""
    args = [
        a.lower() for a in operands(cmd, ("--region", "--profile", "--project", "-o", "--output"))
    ]
    destroys = (
        "delete",
        "terminate",
        "remove",
        "rm",
        "rb",
        "destroy",
        "deregister",
        "purge",
        "stop",
    )
    if any(a.startswith(destroys) for a in args):
        return destructive(cmd, "destroy")
    reads = ("describe", "list", "get", "show", "ls", "whoami", "version", "info")
    verbs = [a for a in args if not a.startswith(("s3://", "gs://", "arn:"))]
    if verbs and any(v.startswith(reads) for v in verbs[1:] or verbs):
        return read(cmd)
    return write(cmd, "container")


def certbot(cmd: SimpleCommand) -> Effect:
    """certbot certificates reads; delete/revoke are destructive."""
    args = operands(cmd)
    return verb_effect(
        cmd,
        args[0] if args else "",
        reads=words("certificates plugins"),
        destroys=words("delete revoke"),
    )


def virsh(cmd: SimpleCommand) -> Effect:
    """virsh: listings read; destroy/undefine/shutdown are destructive."""
    args = operands(cmd, ("-c", "--connect"))
    return verb_effect(
        cmd,
        args[0] if args else "",
        reads=words(
            "list dominfo domstate dumpxml nodeinfo version capabilities net-list pool-list vol-list domblklist domiflist"
        ),
        destroys=words(
            "destroy undefine shutdown reboot reset vol-delete pool-destroy pool-delete net-destroy net-undefine"
        ),
        destroy_code="service-stop",
    )


def webserver(cmd: SimpleCommand) -> Effect:
    """nginx -t/-T/-v reads; -s stop/quit destructive; apachectl likewise."""
    if cmd.name == "nginx":
        signal = option_value(cmd, "-s")
        if any(s in ("stop", "quit") for s in signal):
            return destructive(cmd, "service-stop")
        if has_option(cmd, "-t", "-T", "-v", "-V", "-h") and not signal:
            return read(cmd)
        return write(cmd, "service")
    args = operands(cmd)
    verb = args[0] if args else ""
    if verb in ("configtest", "status", "fullstatus") or has_option(
        cmd, "-t", "-S", "-M", "-v", "-V", "-l", "-L"
    ):
        return read(cmd)
    if verb in ("stop", "graceful-stop", "restart") or option_value(cmd, "-k") in (
        ["stop"],
        ["restart"],
    ):
        return destructive(cmd, "service-stop")
    return write(cmd, "service")
