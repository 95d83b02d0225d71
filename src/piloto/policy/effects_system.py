"""Effects of programs that manage the machine: processes, services, firewall, disks, users, packages."""

from __future__ import annotations

import re

from piloto.policy.effect import (
    Classifier,
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


def kill(cmd: SimpleCommand) -> Effect:
    """kill, pkill, killall: listing signals or probing (`kill -0`) only reads."""
    if cmd.name == "kill" and any(a in ("-l", "-L", "--list", "--table", "-0") for a in cmd.args):
        return read(cmd)
    return destructive(cmd, "kill")


def fuser(cmd: SimpleCommand) -> Effect:
    """fuser lists; fuser -k kills."""
    return destructive(cmd, "kill") if has_option(cmd, "-k", "--kill") else read(cmd)


_SYSTEMCTL_READ = words(
    "status show cat list-units list-unit-files list-sockets list-timers list-jobs list-automounts "
    "list-dependencies list-machines list-paths is-active is-enabled is-failed is-system-running "
    "get-default show-environment help"
) | frozenset({""})
_SYSTEMCTL_STOP = words(
    "stop restart try-restart reload-or-restart try-reload-or-restart condrestart force-reload "
    "disable mask kill isolate freeze"
)
_SYSTEMCTL_VALUES = ("-H", "--host", "-M", "--machine", "-t", "--type", "-p", "--property", "-n")


def systemctl(cmd: SimpleCommand) -> Effect:
    """Status reads; stop/restart/disable/mask/kill are destructive; start/reload/enable write."""
    verbs = operands(cmd, _SYSTEMCTL_VALUES)
    return verb_effect(
        cmd,
        verbs[0] if verbs else "",
        reads=_SYSTEMCTL_READ,
        destroys=_SYSTEMCTL_STOP,
        code="service",
        destroy_code="service-stop",
    )


_SERVICE_STOP = words("stop restart force-reload condrestart try-restart force-stop zap")


def service(cmd: SimpleCommand) -> Effect:
    """`service NAME VERB`, `/etc/init.d/NAME VERB`, `rc-service NAME VERB`."""
    if "--status-all" in cmd.args:
        return read(cmd)
    args = operands(cmd)
    verb = args[0] if cmd.program.startswith("/etc/init.d/") else (args[1] if len(args) > 1 else "")
    return verb_effect(
        cmd,
        verb,
        reads=words("status"),
        destroys=_SERVICE_STOP,
        code="service",
        destroy_code="service-stop",
    )


def supervisor(cmd: SimpleCommand) -> Effect:
    """supervisorctl and pm2: listing reads, stopping and deleting is destructive."""
    args = operands(cmd)
    return verb_effect(
        cmd,
        args[0] if args else "status",
        reads=words("status list ls show describe logs avail pid version jlist prettylist monit"),
        destroys=words("stop restart remove shutdown delete kill del flush reset"),
        code="service",
        destroy_code="service-stop",
    )


_IPT_LIST = frozenset({"-L", "-S", "--list", "--list-rules"})


def iptables(cmd: SimpleCommand) -> Effect:
    """Listing rules reads; any other change to the firewall is destructive."""
    flags = {a for a in cmd.args if a.startswith("-")}
    changes = any(
        a.startswith("-") and not a.startswith("--") and set(a[1:]) & set("AIDRNXPEFZ")
        for a in flags
    ) or any(
        a.startswith(("--append", "--insert", "--delete", "--flush", "--policy")) for a in flags
    )
    if cmd.name.endswith("-save") or (flags & _IPT_LIST and not changes):
        return read(cmd)
    return destructive(cmd, "firewall")


def firewall_verb(cmd: SimpleCommand) -> Effect:
    """ufw / nft / firewall-cmd: status and listings read, everything else changes the firewall."""
    args = operands(cmd)
    verb = args[0] if args else ""
    if cmd.name == "firewall-cmd":
        lists = all(
            a.startswith(("--list", "--get", "--query", "--state", "--zone")) for a in cmd.args
        )
        return read(cmd) if lists else destructive(cmd, "firewall")
    readers = {"ufw": words("status show version"), "nft": words("list -v --version")}
    if verb in readers.get(cmd.name, frozenset()) or (cmd.name == "ufw" and verb == "app"):
        return read(cmd)
    return destructive(cmd, "firewall")


def mount(cmd: SimpleCommand) -> Effect:
    """mount with no target lists mounts; mounting, unmounting and swap changes are destructive."""
    if cmd.name == "mount" and not operands(cmd, ("-t", "-O", "-o")) and not has_option(cmd, "-a"):
        return read(cmd)
    if cmd.name in ("swapon", "losetup") and has_option(cmd, "-s", "--show", "-l", "--list", "-a"):
        return (
            read(cmd) if cmd.name == "losetup" or not operands(cmd) else destructive(cmd, "mount")
        )
    return destructive(cmd, "mount")


_USER_READ_FLAGS = {
    "passwd": ("-S", "--status"),
    "chage": ("-l", "--list"),
    "visudo": ("-c", "--check"),
}


def users(cmd: SimpleCommand) -> Effect:
    """Accounts, passwords, ownership and permission changes."""
    readers = _USER_READ_FLAGS.get(cmd.name)
    if readers and has_option(cmd, *readers):
        return read(cmd)
    return destructive(cmd, "users")


def partitioner(cmd: SimpleCommand) -> Effect:
    """fdisk -l and friends read; anything else can rewrite a partition table."""
    listing = ("-l", "--list", "-d", "--dump", "-p", "--print", "-s", "--show-size", "-J", "--json")
    if has_option(cmd, *listing) or (cmd.name == "parted" and operands(cmd)[-1:] == ["print"]):
        return read(cmd)
    return destructive(cmd, "disk")


def wipefs(cmd: SimpleCommand) -> Effect:
    """wipefs lists signatures unless told to erase them."""
    erases = has_option(cmd, "-a", "--all", "-o", "--offset") and not has_option(cmd, "-n")
    return destructive(cmd, "disk") if erases else read(cmd)


def disk_read_flags(*flags: str) -> Classifier:
    """A disk tool that reads with these flags and is destructive otherwise."""

    def classify(cmd: SimpleCommand) -> Effect:
        verbs = operands(cmd)
        if has_option(cmd, *flags) or (verbs and verbs[0] in flags):
            return read(cmd)
        return destructive(cmd, "disk")

    return classify


# Package managers: verbs that only look, and verbs that remove.
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


_DISK_TOOLS = re.compile(
    r"(mkfs(\..+)?|mke2fs|mkswap|mkntfs|mkdosfs|mkexfatfs|mkfs_\w+|blkdiscard|dd|shred)$"
)


def classifier_for(name: str) -> Classifier | None:
    """The classifier of a machine-management program, if it is one."""
    if name in _TABLE:
        return _TABLE[name]
    if re.match(r"(ip6?tables|ebtables|arptables)(-legacy|-nft)?(-save|-restore)?$", name):
        return iptables
    if _DISK_TOOLS.match(name):
        return lambda cmd: destructive(cmd, "disk" if cmd.name != "shred" else "delete")
    return None


_TABLE: dict[str, Classifier] = {
    **dict.fromkeys(("kill", "pkill", "killall", "skill", "killall5", "pkexec-kill"), kill),
    "fuser": fuser,
    "systemctl": systemctl,
    **dict.fromkeys(("service", "rc-service", "invoke-rc.d"), service),
    **dict.fromkeys(("supervisorctl", "pm2"), supervisor),
    **dict.fromkeys(("ufw", "nft", "firewall-cmd"), firewall_verb),
    **dict.fromkeys(
        ("mount", "umount", "swapon", "swapoff", "losetup", "fusermount", "exportfs"), mount
    ),
    **dict.fromkeys(
        words(
            "useradd userdel usermod adduser deluser addgroup delgroup groupadd groupdel groupmod "
            "passwd chpasswd chage gpasswd newusers vipw vigr visudo chmod chown chgrp setfacl "
            "chattr chsh chfn setcap"
        ),
        users,
    ),
    **dict.fromkeys(("fdisk", "sfdisk", "gdisk", "sgdisk", "parted", "cfdisk"), partitioner),
    "wipefs": wipefs,
    **dict.fromkeys(
        ("lvremove", "vgremove", "pvremove", "lvreduce", "pvcreate", "zpool", "zfs"),
        disk_read_flags("list", "status", "get", "iostat", "history"),
    ),
    "cryptsetup": disk_read_flags("status", "luksDump", "isLuks", "--version"),
    "mdadm": disk_read_flags("--detail", "-D", "--examine", "-E", "--query", "-Q"),
    **dict.fromkeys(
        ("fsck", "e2fsck", "xfs_repair", "resize2fs", "badblocks"), disk_read_flags("-n", "--help")
    ),
    "tune2fs": disk_read_flags("-l"),
    "hdparm": disk_read_flags("-I", "-i", "-t", "-T", "-g", "-C"),
    **dict.fromkeys(
        words(
            "apt apt-get aptitude yum dnf zypper apk snap flatpak pip pip3 pipx npm yarn pnpm gem "
            "cargo brew conda mamba composer pacman dpkg rpm port pkg nix-env bun"
        ),
        packages,
    ),
    **dict.fromkeys(("ip", "route", "ifconfig", "nmcli"), ip),
    **dict.fromkeys(("ifup", "ifdown"), ifupdown),
    **dict.fromkeys(("modprobe", "insmod", "rmmod", "modinfo", "kexec"), modules),
    **dict.fromkeys(("timedatectl", "hostnamectl", "localectl", "loginctl"), settings_ctl),
    "sysctl": sysctl,
    "date": date,
    "hostname": hostname,
    "dmesg": dmesg,
    "journalctl": journalctl,
    "smartctl": smart,
    **dict.fromkeys(
        ("aws", "gcloud", "az", "doctl", "gsutil", "oci", "linode-cli", "hcloud"), cloud
    ),
    "certbot": certbot,
    "virsh": virsh,
    **dict.fromkeys(("nginx", "apachectl", "apache2ctl", "httpd"), webserver),
}
