"""Effects of text and file tools whose flags turn a reader into a writer (sed -i, sort -o, tee)."""

from __future__ import annotations

import re

from piloto.policy import unwrap
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

_SED_ADDRESS = r"(?:\d+|\$|/(?:[^/\\]|\\.)*/|\\(.)(?:(?!\1).)*\1)?(?:\s*,\s*(?:\d+|\$|/(?:[^/\\]|\\.)*/|[+~]\d+))?\s*!?\s*"


_SED_COMMAND = re.compile(r"(?:^|[;{}\n])\s*" + _SED_ADDRESS + r"([ewW])(?:\s|$|;|})")


_SED_SUBST = re.compile(r"s(.)(?:\\.|(?!\1).)*\1(?:\\.|(?!\1).)*\1([a-zA-Z0-9]*)")


def _sed_scripts(cmd: SimpleCommand) -> list[str]:
    scripts = option_value(cmd, "-e", "--expression")
    if scripts or option_value(cmd, "-f", "--file"):
        return scripts
    args = operands(cmd, ("-l", "--line-length", "-s"))
    return args[:1]


def sed(cmd: SimpleCommand) -> Effect:
    """sed reads; -i, `w` write; the `e` command and `s///e` run shell commands."""
    for script in _sed_scripts(cmd):
        flags = [m.group(2) for m in _SED_SUBST.finditer(script)]
        bare = _SED_SUBST.sub("s", script)
        commands = [m.group(2) for m in _SED_COMMAND.finditer(bare)]
        if any("e" in f for f in flags) or "e" in commands:
            return destructive(cmd, "hidden-code")
        if any("w" in f for f in flags) or "w" in commands or "W" in commands:
            return write(cmd)
    if option_value(cmd, "-f", "--file"):
        return write(cmd)  # a script file the policy cannot read
    in_place = has_option(cmd, "--in-place") or any(
        a.startswith("-") and not a.startswith("--") and "i" in a for a in cmd.args
    )
    return write(cmd) if in_place else read(cmd)


_AWK_RUNS = re.compile(
    r"\bsystem\s*\(|\|\s*getline|\|&|\bprintf?\b[^;{}\n]*\|\s*[\"$a-zA-Z(]|@load\b"
)


_AWK_WRITES = re.compile(r"\bprintf?\b[^;{}\n]*>>?\s*[\"$a-zA-Z(]|\bfflush\b")


def awk(cmd: SimpleCommand) -> Effect:
    """awk reads; print > file writes; system(), pipes and getline from commands run code."""
    if any(
        a.startswith(("-f", "--file", "-l", "--load", "-i", "--include", "-E", "--exec"))
        for a in cmd.args
    ):
        return destructive(cmd, "hidden-code")
    for text in cmd.code:
        if _AWK_RUNS.search(text):
            return destructive(cmd, "hidden-code")
        if _AWK_WRITES.search(text):
            return write(cmd)
    return read(cmd)


_TAR_CODE = (
    "--checkpoint-action",
    "--to-command",
    "--use-compress-program",
    "--rsh-command",
    "--info-script",
    "--new-volume-script",
    "-I",
    "-F",
    "--rmt-command",
    "--index-file",
)


def tar(cmd: SimpleCommand) -> Effect:
    """tar t reads; c/x write; options that run programs are destructive; --remove-files deletes."""
    if any(a.startswith(_TAR_CODE) for a in cmd.args) or any(
        a.startswith("-") and not a.startswith("--") and ("I" in a or "F" in a) for a in cmd.args
    ):
        return destructive(cmd, "hidden-code")
    if "--remove-files" in cmd.args:
        return destructive(cmd, "delete")
    first = cmd.args[0] if cmd.args else ""
    mode = first.lstrip("-") if not first.startswith("--") else ""
    if "t" in mode or "--list" in cmd.args:
        return read(cmd)
    return write(cmd)


def pager(cmd: SimpleCommand) -> Effect:
    """less/more/man read; +!cmd, -o logfile and man -P/-H run or write."""
    if cmd.name == "man" and (
        option_value(cmd, "-P", "--pager", "-H", "--html") or has_option(cmd, "-H")
    ):
        return destructive(cmd, "hidden-code")
    if any(a.startswith("+") and ("!" in a or "|" in a) for a in cmd.args):
        return destructive(cmd, "hidden-code")
    if option_value(cmd, "-o", "-O", "--log-file", "--LOG-FILE"):
        return write(cmd)
    return read(cmd)


def history(cmd: SimpleCommand) -> Effect:
    """history lists; -c/-d erase the record of what was run; -w/-a/-r write or load it."""
    if any(a.startswith(("-c", "-d")) for a in cmd.args):
        return destructive(cmd, "destroy")
    return write(cmd) if any(a.startswith("-") for a in cmd.args) else read(cmd)


def find(cmd: SimpleCommand) -> Effect:
    """find reads; -delete deletes; -fprint writes; -exec is judged by what it runs."""
    if "-delete" in cmd.args:
        return destructive(cmd, "delete")
    if any(a.startswith(("-fprint", "-fls")) for a in cmd.args):
        return write(cmd)
    return read(cmd)


def sort(cmd: SimpleCommand) -> Effect:
    """sort reads; -o writes its output file; --compress-program runs one."""
    if any(a.startswith("--compress-program") for a in cmd.args):
        return destructive(cmd, "hidden-code")
    outs = option_value(cmd, "-o", "--output")
    return write(cmd) if any(o not in ("/dev/null", "/dev/stdout") for o in outs) else read(cmd)


def uniq(cmd: SimpleCommand) -> Effect:
    """uniq IN OUT writes OUT."""
    return write(cmd) if len(operands(cmd, ("-f", "-s", "-w"))) > 1 else read(cmd)


def tee(cmd: SimpleCommand) -> Effect:
    """tee writes every file it names."""
    files = [f for f in operands(cmd) if f not in ("/dev/null", "/dev/stdout", "/dev/stderr", "-")]
    return write(cmd) if files else read(cmd)


def compressor(cmd: SimpleCommand) -> Effect:
    """gzip/xz/zstd replace files; -c/-l/-t/-d -c only print or test."""
    if has_option(cmd, "-c", "--stdout", "--to-stdout", "-l", "--list", "-t", "--test"):
        return read(cmd)
    return write(cmd)


def archive_list(cmd: SimpleCommand) -> Effect:
    """unzip -l/-t/-v and 7z l read; extraction writes."""
    if has_option(cmd, "-l", "-t", "-v", "-Z", "-p") or operands(cmd)[:1] == ["l"]:
        return read(cmd)
    return write(cmd)


def out_option(*names: str) -> Classifier:
    """A reader that writes when given one of these output options."""

    def classify(cmd: SimpleCommand) -> Effect:
        return write(cmd) if option_value(cmd, *names) or has_option(cmd, *names) else read(cmd)

    return classify


def gpg(cmd: SimpleCommand) -> Effect:
    """gpg lists and verifies (read); deleting keys is destructive; the rest writes."""
    if any(a.startswith("--delete") for a in cmd.args):
        return destructive(cmd, "delete")
    reads = (
        "--list",
        "-k",
        "-K",
        "--verify",
        "--fingerprint",
        "--version",
        "--check-sigs",
        "--show-keys",
    )
    return read(cmd) if any(a.startswith(reads) for a in cmd.args) else write(cmd)


def keygen(cmd: SimpleCommand) -> Effect:
    """ssh-keygen -l/-F/-y/-L read; generating or removing keys writes."""
    return read(cmd) if has_option(cmd, "-l", "-F", "-y", "-L", "-B", "-Q") else write(cmd)


def openssl(cmd: SimpleCommand) -> Effect:
    """openssl reads (x509 -text, s_client) unless it writes an output file or key."""
    if (
        option_value(cmd, "-out", "-keyout", "-writerand")
        or "-out" in cmd.args
        or "-keyout" in cmd.args
    ):
        return write(cmd)
    return read(cmd)


def xxd(cmd: SimpleCommand) -> Effect:
    """xxd dumps; xxd -r with an output file writes it."""
    return write(cmd) if has_option(cmd, "-r") and len(operands(cmd)) > 1 else read(cmd)


def fd(cmd: SimpleCommand) -> Effect:
    """fd lists; -x/-X run a command on each match."""
    return (
        destructive(cmd, "hidden-code")
        if has_option(cmd, "-x", "-X", "--exec", "--exec-batch")
        else read(cmd)
    )


CLASSIFIERS: dict[str, Classifier] = {
    **dict.fromkeys(("sed", "gsed"), sed),
    **dict.fromkeys(unwrap.AWKS, awk),
    **dict.fromkeys(words("tar bsdtar gtar"), tar),
    **dict.fromkeys(words("less more most man pg zless zmore bat batcat"), pager),
    "find": find,
    "history": history,
    **dict.fromkeys(words("sort shuf"), sort),
    "uniq": uniq,
    "tee": tee,
    **dict.fromkeys(
        words("gzip gunzip bzip2 bunzip2 xz unxz zstd unzstd lz4 pigz compress"), compressor
    ),
    **dict.fromkeys(words("unzip 7z 7za unrar"), archive_list),
    **dict.fromkeys(
        words("iconv xmllint pandoc jq yq split csplit"),
        out_option("-o", "--output", "--output-file"),
    ),
    **dict.fromkeys(words("tcpdump tshark dumpcap"), out_option("-w")),
    **dict.fromkeys(words("gpg gpg2"), gpg),
    "ssh-keygen": keygen,
    "openssl": openssl,
    "xxd": xxd,
    **dict.fromkeys(words("fd fdfind"), fd),
}
