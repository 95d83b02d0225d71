"""Effects of programs that manage the machine: processes, services, firewall, disks, users."""

from __future__ import annotations

import re

from piloto.policy.effect import (
    Classifier,
    Effect,
    destructive,
    has_option,
    operands,
    read,
    verb_effect,
    words,
)
from piloto.policy.effects_host import (
    certbot,
    cloud,
    date,
    dmesg,
    hostname,
    ifupdown,
    ip,
    journalctl,
    modules,
    packages,
    settings_ctl,
    smart,
    sysctl,
    virsh,
    webserver,
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
