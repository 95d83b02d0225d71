"""Effects of network clients: ssh, rsync, netcat, curl, wget, httpie, resolvectl."""

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
    words,
    write,
)
from piloto.policy.models import SimpleCommand

_VERSION_FLAGS = ("--version", "-V", "-v", "--help", "-h", "-version")

_SSH_CODE = re.compile(
    r"(proxycommand|localcommand|permitlocalcommand|knownhostscommand|proxyusefdpass|remotecommand|controlpath|include|sshcommand)",
    re.I,
)


def ssh(cmd: SimpleCommand) -> Effect:
    """ssh -o ProxyCommand/LocalCommand and -F configs run local commands; otherwise it connects."""
    if cmd.args and all(a in _VERSION_FLAGS for a in cmd.args):
        return read(cmd)
    opts = option_value(cmd, "-o") + option_value(cmd, "-F", "-S")
    if any(_SSH_CODE.search(o) for o in opts) or option_value(cmd, "-F"):
        return destructive(cmd, "hidden-code")
    if cmd.name in ("scp", "sftp") and (option_value(cmd, "-S") or cmd.stdin_text is not None):
        return destructive(cmd, "hidden-code")
    return write(cmd, "network")


def rsync(cmd: SimpleCommand) -> Effect:
    """rsync -e/--rsh/--rsync-path run programs; --delete and --remove-source-files delete."""
    if any(
        a.startswith(("-e", "--rsh", "--rsync-path")) and not a.startswith("--exclude")
        for a in cmd.args
    ):
        return destructive(cmd, "hidden-code")
    if any(a.startswith(("--delete", "--remove-source-files", "--del")) for a in cmd.args):
        return destructive(cmd, "delete")
    return write(cmd)


def netcat(cmd: SimpleCommand) -> Effect:
    """nc -z probes ports (read); other uses move data over the network."""
    if cmd.name in ("nc", "netcat", "ncat") and has_option(cmd, "-z"):
        return read(cmd)
    return write(cmd, "network")


_CURL_WRITE = (
    "-d",
    "--data",
    "--data-raw",
    "--data-binary",
    "--data-urlencode",
    "-F",
    "--form",
    "-T",
    "--upload-file",
    "--json",
    "-K",
    "--config",
    "--form-string",
)


def curl(cmd: SimpleCommand) -> Effect:
    """curl GET to stdout reads; saving to a file, uploads and non-GET methods write."""
    if any(m.upper() in ("DELETE", "PURGE") for m in option_value(cmd, "-X", "--request")):
        return destructive(cmd, "destroy")
    outs = option_value(
        cmd,
        "-o",
        "--output",
        "-c",
        "--cookie-jar",
        "-D",
        "--dump-header",
        "--trace",
        "--trace-ascii",
        "--stderr",
    )
    if any(o not in ("-", "/dev/null", "/dev/stdout", "/dev/stderr") for o in outs):
        return write(cmd)
    if has_option(cmd, "-O", "--remote-name", "--remote-name-all", "-J") or any(
        a.startswith(_CURL_WRITE) for a in cmd.args if a.startswith("--")
    ):
        return write(cmd)
    if has_option(cmd, "-d", "-F", "-T", "-K"):
        return write(cmd, "network")
    methods = [m.upper() for m in option_value(cmd, "-X", "--request")]
    if "DELETE" in methods or "PURGE" in methods:
        return destructive(cmd, "destroy")
    if any(m not in ("GET", "HEAD", "OPTIONS") for m in methods):
        return write(cmd, "network")
    return read(cmd)


def wget(cmd: SimpleCommand) -> Effect:
    """wget saves a file (write) unless it prints to stdout or only checks (--spider)."""
    if any(a.upper() in ("--METHOD=DELETE", "--METHOD=PURGE") for a in cmd.args):
        return destructive(cmd, "destroy")
    if any(
        a.startswith(("--post", "--method", "--body", "--execute")) or a == "-e" for a in cmd.args
    ):
        return write(cmd, "network")
    outs = option_value(cmd, "-O", "--output-document")
    if "--spider" in cmd.args or (outs and all(o in ("-", "/dev/null") for o in outs)):
        return read(cmd)
    return write(cmd)


def httpie(cmd: SimpleCommand) -> Effect:
    """httpie: GET reads; other methods, data items or --download write."""
    args = operands(cmd)
    if any(a.startswith(("--download", "-d", "--output", "-o")) for a in cmd.args):
        return write(cmd)
    method = args[0].upper() if args and args[0].isalpha() and args[0].isupper() else "GET"
    if method in ("DELETE", "PURGE"):
        return destructive(cmd, "destroy")
    data = any(re.match(r"[\w.-]+(:=|=|@)", a) for a in args[1:])
    return read(cmd) if method in ("GET", "HEAD", "OPTIONS") and not data else write(cmd, "network")


def resolvectl(cmd: SimpleCommand) -> Effect:
    """resolvectl status/query/statistics read; setting DNS or flushing caches writes."""
    args = operands(cmd)
    reads = ("status", "query", "statistics", "show-cache", "show-server-state", "monitor")
    return read(cmd) if not args or args[0] in reads else write(cmd, "network")


CLASSIFIERS: dict[str, Classifier] = {
    **dict.fromkeys(words("ssh scp sftp autossh mosh ssh-copy-id"), ssh),
    "rsync": rsync,
    **dict.fromkeys(words("nc ncat netcat socat telnet ftp tftp lftp"), netcat),
    "curl": curl,
    "wget": wget,
    **dict.fromkeys(words("http https xh"), httpie),
    "resolvectl": resolvectl,
}
