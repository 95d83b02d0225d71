"""Effects of service tools driven by a verb (`ceph status`, `vault delete`), and of unknown programs."""

from __future__ import annotations

import re

from piloto.policy.effect import Classifier, Effect, destructive, operands, read, words, write
from piloto.policy.models import SimpleCommand

# tool -> (verbs that only read, verbs that delete or stop). Other verbs write.
_VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "fail2ban-client": (words("status get ping version banned"), words("stop unban")),
    "ceph": (words("status -s health df osd mon pg versions log"), words("rm purge destroy")),
    "rados": (words("df lspools ls stat"), words("rm purge rmpool")),
    "consul": (words("members info version catalog monitor"), words("leave delete")),
    "vault": (words("status read list version token-lookup login"), words("delete destroy")),
    "nomad": (words("status version node-status"), words("stop purge")),
    "nodetool": (
        words("status info ring tpstats cfstats tablestats describecluster version"),
        words("decommission removenode drain stopdaemon truncatehints clearsnapshot"),
    ),
    "rabbitmqctl": (
        words(
            "status list_queues list_users list_vhosts list_connections cluster_status environment"
        ),
        words("delete_queue purge_queue delete_user delete_vhost stop_app stop reset force_reset"),
    ),
    "lxc": (words("list ls info version"), words("delete rm stop")),
    "incus": (words("list ls info version"), words("delete rm stop")),
    "conntrack": (words("-L --dump -S --stats -C --count -E"), words("-D --delete -F --flush")),
    "tc": (words("-s show qdisc"), words("del delete")),
    "chronyc": (words("tracking sources sourcestats activity ntpdata clients"), words("offline")),
    "ntpq": (words("-p -c -n"), frozenset()),
    "ipvsadm": (words("-L -l --list -Ln"), words("-C --clear -D -d --delete-service")),
    "bridge": (words("link fdb vlan mdb monitor"), words("del delete")),
    "apt-mark": (words("showhold showmanual showauto showinstall"), frozenset()),
    "lvs": (words(""), frozenset()),
    "virt-what": (words(""), frozenset()),
    "systemd-detect-virt": (words(""), frozenset()),
    "podman-machine": (words("list ls info inspect"), words("rm stop")),
    "minio": (words("version"), frozenset()),
    "mc": (words("ls cat stat du find diff admin"), words("rm rb")),
    "gh": (words("status view list diff checks"), words("delete close")),
    "glab": (words("view list diff"), words("delete close")),
    "kubeadm": (words("version config"), words("reset")),
    "velero": (words("get describe version"), words("delete")),
    "argocd": (words("app-get get list version"), words("delete")),
    "flux": (words("get check version logs"), words("delete uninstall suspend")),
    "k9s": (words("version info"), frozenset()),
    "kubectx": (words(""), frozenset()),
    "kubens": (words(""), frozenset()),
}
# Ever-present read tools that need no verb.
_BUS_READ = words("list status tree introspect monitor capture get-property help --version")


def busctl(cmd: SimpleCommand) -> Effect:
    """busctl lists and introspects; `call` and `set-property` can power off or reconfigure."""
    args = operands(cmd)
    return read(cmd) if not args or args[0] in _BUS_READ else destructive(cmd, "hidden-code")


def udevadm(cmd: SimpleCommand) -> Effect:
    """udevadm info/monitor read; trigger/control/settle change devices."""
    args = operands(cmd)
    return read(cmd) if args[:1] in (["info"], ["monitor"], ["test"], []) else write(cmd)


def nmap(cmd: SimpleCommand) -> Effect:
    """nmap scans (read) unless it writes reports (-o*) or runs scripts (--script)."""
    if any(a.startswith(("-o", "--script", "--resume", "--datadir")) for a in cmd.args):
        return write(cmd)
    return read(cmd)


_READ_ALWAYS = words(
    "uuidgen whatis apropos tldr info lsb_release pwgen shasum md5 units lvs vgs pvs lvdisplay "
    "vgdisplay pvdisplay named-checkconf named-checkzone mailq showmount nfsstat smbstatus testparm "
    "ipcs lsipc finger pinky"
)


def checker(*flags: str) -> Classifier:
    """A daemon that only checks its configuration with these flags, and runs otherwise."""

    def classify(cmd: SimpleCommand) -> Effect:
        if cmd.args and any(a in flags for a in cmd.args):
            return read(cmd)
        return write(cmd, "service")

    return classify


def ipmi(cmd: SimpleCommand) -> Effect:
    """ipmitool sensor/sdr/sel list read; power and chassis control is destructive."""
    args = [a.lower() for a in operands(cmd, ("-H", "-U", "-P", "-I", "-p", "-L", "-f"))]
    if "power" in args and args[-1:] != ["status"]:
        return destructive(cmd, "service-stop")
    if any(a in ("clear", "reset", "set", "cold", "warm", "bootdev", "bootparam") for a in args):
        return destructive(cmd, "destroy")
    return read(cmd)


_DESTROY_WORDS = re.compile(
    r"(delete|remove|destroy|purge|drop|wipe|erase|truncate|kill|terminate|uninstall|stop|"
    r"flush|shutdown|poweroff|reboot|decommission|format|reset|rm|rmi|del)([-_].*)?$",
    re.I,
)


_SECURITY_OFF = {
    "setenforce": ("1", "Enforcing", "enforcing"),
    "aa-disable": (),
    "aa-complain": (),
    "aa-teardown": (),
    "auditctl": ("-l", "-s", "--list", "--status"),
}


def security(cmd: SimpleCommand) -> Effect:
    """Turning SELinux, AppArmor or auditing off weakens the machine's protection."""
    keeps = _SECURITY_OFF[cmd.name]
    if cmd.args and all(a in keeps for a in cmd.args):
        return read(cmd) if cmd.name == "auditctl" else write(cmd)
    return destructive(cmd, "security")


def flag_tool(writes: tuple[str, ...], destroys: tuple[str, ...] = ()) -> Classifier:
    """A reader unless given a flag in `writes` (write) or in `destroys` (destructive)."""

    def given(cmd: SimpleCommand, names: tuple[str, ...]) -> bool:
        for arg in cmd.args:
            flag = arg.split("=", 1)[0]
            if flag in names:
                return True
            short = arg.startswith("-") and not arg.startswith("--") and arg[1:].isalpha()
            if short and any(len(n) == 2 and n[1] in arg[1:] for n in names):
                return True
        return False

    def classify(cmd: SimpleCommand) -> Effect:
        if given(cmd, destroys):
            return destructive(cmd, "destroy")
        return write(cmd) if given(cmd, writes) else read(cmd)

    return classify


def verb_tool(cmd: SimpleCommand) -> Effect:
    """A tool whose first operand (or option) is the verb."""
    reads, destroys = _VERBS[cmd.name]
    args = operands(cmd)
    flags = [a for a in cmd.args if a.startswith("-")]
    if any(a in destroys for a in [*args[:2], *flags]):
        return destructive(cmd, "destroy")
    if any(_DESTROY_WORDS.match(a) for a in args[1:4] if not a.startswith(("/", "."))):
        return destructive(cmd, "destroy")
    if not args and not flags and "" in reads:
        return read(cmd)
    first = args[0] if args else (flags[0] if flags else "")
    return (
        read(cmd)
        if first in reads or (flags and all(f in reads for f in flags) and not args)
        else write(cmd)
    )


def unknown(cmd: SimpleCommand) -> Effect:
    """An unknown program writes at least; a verb like delete/purge/stop makes it destructive."""
    if cmd.name in _READ_ALWAYS:
        return read(cmd)
    verbs = operands(cmd)[:3]
    if any(_DESTROY_WORDS.match(v) for v in verbs if not v.startswith(("/", "."))):
        return destructive(cmd, "destroy")
    return write(cmd, "unknown")


CLASSIFIERS: dict[str, Classifier] = {
    **dict.fromkeys(_VERBS, verb_tool),
    "ss": flag_tool(("-D", "--diag"), ("-K", "--kill")),
    "ethtool": flag_tool(
        ("-s", "-K", "-A", "-G", "-L", "-C", "-r", "-W", "-p", "--change", "--features"),
        ("-E", "-f", "--flash", "--change-eeprom"),
    ),
    "nvidia-smi": flag_tool(
        ("-pm", "-pl", "-ac", "-rac", "-c", "-am", "-mig", "--persistence-mode", "--power-limit"),
        ("-r", "--gpu-reset"),
    ),
    "arp": flag_tool(("-s", "--set", "-f", "--file"), ("-d", "--delete")),
    "tree": flag_tool(("-o",)),
    "keytool": flag_tool(
        ("-genkeypair", "-importcert", "-importkeystore", "-storepasswd", "-changealias"),
        ("-delete",),
    ),
    "cpupower": flag_tool(("frequency-set", "set", "idle-set")),
    "sdiff": flag_tool(("-o", "--output")),
    "lastlog": flag_tool(("-C", "--clear", "-S", "--set")),
    "faillog": flag_tool(("-r", "--reset", "-l", "--lock-secs", "-m", "--maximum")),
    "sar": flag_tool(("-o",)),
    # ripgrep's --pre runs a program on every file it searches.
    **dict.fromkeys(words("rg ripgrep"), flag_tool((), ("--pre",))),
    **dict.fromkeys(_SECURITY_OFF, security),
    **dict.fromkeys(words("busctl gdbus dbus-send"), busctl),
    "udevadm": udevadm,
    "ipmitool": ipmi,
    "haproxy": checker("-c", "-v", "-vv"),
    "sshd": checker("-t", "-T", "-V"),
    "postqueue": checker("-p"),
    "multipath": checker("-ll", "-l"),
    "exportfs": checker("-v", "-s"),
    "promtool": checker("check"),
    "caddy": checker("validate", "version", "list-modules"),
    "nmap": nmap,
}
