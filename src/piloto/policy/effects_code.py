"""Effects of programs that run code (interpreters, shells, editors) or whose flags make a reader write."""

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

_LANGUAGES = (
    ("python", "Python"),
    ("pypy", "Python"),
    ("perl", "Perl"),
    ("ruby", "Ruby"),
    ("node", "JavaScript"),
    ("php", "PHP"),
    ("lua", "Lua"),
    ("tclsh", "Tcl"),
    ("Rscript", "R"),
)
_VERSION_FLAGS = ("--version", "-V", "-v", "--help", "-h", "-version")
# Interpreters outside unwrap's list; any use runs code the policy cannot read.
OTHER_RUNNERS = words(
    "expect wish julia deno bun pwsh powershell osascript groovy scala jshell irb guile racket "
    "sbcl clisp gdb lldb java jrunscript busybox-sh Rscript R php-cgi erl elixir iex escript "
    "swipl ghci runghc dotnet mono cscript wscript gawk-sandbox"
)


def language(name: str) -> str:
    """The language an interpreter runs ("Python" for python3.11)."""
    return next((label for prefix, label in _LANGUAGES if name.startswith(prefix)), name)


def interpreter(cmd: SimpleCommand) -> Effect:
    """Inline code and scripts are destructive (unseen); `--version` reads; `-m json.tool` reads."""
    if cmd.code:
        return Effect(
            "destructive", "inline-code", f"{language(cmd.name)}: {' '.join(cmd.argv)[:50]}"
        )
    if cmd.args and all(a in _VERSION_FLAGS for a in cmd.args):
        return read(cmd)
    modules = option_value(cmd, "-m")
    if modules:
        if modules[0] in (
            "json.tool",
            "platform",
            "sysconfig",
            "site",
            "this",
            "calendar",
            "tabnanny",
            "py_compile",
            "pydoc",
        ):
            return read(cmd)
        if (
            modules[0] in ("pip", "pip3")
            and len(cmd.args) > 2
            and cmd.args[2] in ("list", "show", "freeze", "check")
        ):
            return read(cmd)
        return write(cmd)
    if cmd.name.startswith("php") and has_option(cmd, "-i", "-m", "-l"):
        return read(cmd)
    return destructive(cmd, "script")


def shell(cmd: SimpleCommand) -> Effect:
    """A shell run on a script file or on text it reads from stdin is code the policy cannot see."""
    if cmd.unwrapped:
        return read(cmd)  # bash -c 'X': X is judged on its own
    if cmd.args and all(a in _VERSION_FLAGS or a == "--norc" for a in cmd.args):
        return read(cmd)
    return destructive(cmd, "script")


def runs_unseen(cmd: SimpleCommand) -> Effect:
    """source, ., at, batch, systemd-run, fc: code the policy does not see runs."""
    if cmd.name in ("at", "batch") and any(a in ("-l", "-c", "-V") for a in cmd.args):
        return read(cmd)  # at -l lists jobs, at -c shows one
    if cmd.name in ("at", "batch") and cmd.stdin_text is not None:
        return destructive(cmd, "hidden-code")
    return destructive(cmd, "script" if cmd.name in ("source", ".") else "hidden-code")


def alias(cmd: SimpleCommand) -> Effect:
    """alias NAME=… defines a command the policy cannot see at the call; plain alias lists."""
    return destructive(cmd, "alias") if any("=" in a for a in cmd.args) else read(cmd)


# sed: an `e` command or `s///e` runs the pattern space as a shell command; `w` writes a file.
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


def editor(cmd: SimpleCommand) -> Effect:
    """vim -c/+cmd/-S, ex, ed and emacs --eval run editor commands, shell escapes included."""
    runs = any(
        a.startswith(
            ("+", "-c", "--cmd", "-S", "-s", "--eval", "-batch", "--batch", "-l", "--load", "-x")
        )
        for a in cmd.args
    )
    if (
        runs
        or cmd.name in ("ex", "ed", "red", "vimdiff")
        or cmd.stdin_text is not None
        or cmd.stage > 0
    ):
        return destructive(cmd, "hidden-code")
    return write(cmd)


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
    if any(m not in ("GET", "HEAD", "OPTIONS") for m in methods):
        return write(cmd, "network")
    return read(cmd)


def wget(cmd: SimpleCommand) -> Effect:
    """wget saves a file (write) unless it prints to stdout or only checks (--spider)."""
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
    data = any(re.match(r"[\w.-]+(:=|=|@)", a) for a in args[1:])
    return read(cmd) if method in ("GET", "HEAD", "OPTIONS") and not data else write(cmd, "network")


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


def multiplexer(cmd: SimpleCommand) -> Effect:
    """tmux/screen list sessions (read) or start commands the policy does not see."""
    args = operands(cmd)
    listing = any(a in ("-ls", "-list", "-V", "--version") for a in cmd.args)
    if listing or (args and args[0].startswith(("ls", "list", "has", "show", "display", "info"))):
        return read(cmd)
    return destructive(cmd, "hidden-code")


def crontab(cmd: SimpleCommand) -> Effect:
    """crontab -l reads; -e edits; installing from a file or stdin is caught as persistence."""
    if has_option(cmd, "-l"):
        return read(cmd)
    return destructive(cmd, "hidden-code")


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


def builder(cmd: SimpleCommand) -> Effect:
    """make, just, ansible-playbook, go run, cargo run…: they run code from files."""
    verbs = operands(cmd)
    if cmd.name in ("go", "cargo", "dotnet", "mvn", "gradle", "npx", "pnpx", "uv", "poetry"):
        if cmd.args and all(
            a in _VERSION_FLAGS or a in ("version", "env", "list", "tree", "metadata")
            for a in cmd.args[:1]
        ):
            return read(cmd)
        if verbs and verbs[0] in (
            "build",
            "fmt",
            "vet",
            "mod",
            "get",
            "install",
            "fetch",
            "add",
            "lock",
            "sync",
        ):
            return write(cmd)
    if cmd.args and all(a in _VERSION_FLAGS for a in cmd.args):
        return read(cmd)
    if cmd.name == "make" and has_option(
        cmd, "-n", "--dry-run", "--just-print", "-q", "--question"
    ):
        return read(cmd)
    return destructive(cmd, "script")


def resolvectl(cmd: SimpleCommand) -> Effect:
    """resolvectl status/query/statistics read; setting DNS or flushing caches writes."""
    args = operands(cmd)
    reads = ("status", "query", "statistics", "show-cache", "show-server-state", "monitor")
    return read(cmd) if not args or args[0] in reads else write(cmd, "network")


_TABLE: dict[str, Classifier] = {
    "resolvectl": resolvectl,
    **dict.fromkeys(
        (
            "source",
            ".",
            "at",
            "batch",
            "systemd-run",
            "fc",
            "enable",
            "script",
            "nsenter",
            "unshare",
            "ld.so",
            "ld-linux-x86-64.so.2",
            "env-S",
        ),
        runs_unseen,
    ),
    "alias": alias,
    **dict.fromkeys(("sed", "gsed"), sed),
    **dict.fromkeys(unwrap.AWKS, awk),
    **dict.fromkeys(("tar", "bsdtar", "gtar"), tar),
    **dict.fromkeys(
        (
            "vim",
            "vi",
            "nvim",
            "ex",
            "ed",
            "red",
            "view",
            "vimdiff",
            "gvim",
            "emacs",
            "nano",
            "pico",
            "joe",
            "mcedit",
            "micro",
        ),
        editor,
    ),
    **dict.fromkeys(("ssh", "scp", "sftp", "autossh", "mosh", "ssh-copy-id"), ssh),
    "rsync": rsync,
    **dict.fromkeys(("nc", "ncat", "netcat", "socat", "telnet", "ftp", "tftp", "lftp"), netcat),
    **dict.fromkeys(
        ("less", "more", "most", "man", "pg", "zless", "zmore", "bat", "batcat"), pager
    ),
    "curl": curl,
    "wget": wget,
    **dict.fromkeys(("http", "https", "xh"), httpie),
    "find": find,
    **dict.fromkeys(("sort", "shuf"), sort),
    "uniq": uniq,
    "tee": tee,
    **dict.fromkeys(
        (
            "gzip",
            "gunzip",
            "bzip2",
            "bunzip2",
            "xz",
            "unxz",
            "zstd",
            "unzstd",
            "lz4",
            "pigz",
            "compress",
        ),
        compressor,
    ),
    **dict.fromkeys(("unzip", "7z", "7za", "unrar"), archive_list),
    **dict.fromkeys(
        ("iconv", "xmllint", "pandoc", "jq", "yq", "split", "csplit"),
        out_option("-o", "--output", "--output-file"),
    ),
    **dict.fromkeys(("tcpdump", "tshark", "dumpcap"), out_option("-w")),
    **dict.fromkeys(("tmux", "screen", "byobu", "zellij"), multiplexer),
    "crontab": crontab,
    **dict.fromkeys(("gpg", "gpg2"), gpg),
    "ssh-keygen": keygen,
    "openssl": openssl,
    "xxd": xxd,
    **dict.fromkeys(("fd", "fdfind"), fd),
    **dict.fromkeys(
        words(
            "make gmake just ninja ansible ansible-playbook go cargo dotnet mvn gradle npx pnpx uv poetry "
            "tox nox pytest rake bundle invoke fab vagrant packer chef-client puppet salt-call "
            "salt"
        ),
        builder,
    ),
}


def classifier_for(name: str) -> Classifier | None:
    """The classifier of a program that runs code or whose flags make it write, if it is one."""
    if name in _TABLE:
        return _TABLE[name]
    if name in unwrap.SHELLS:
        return shell
    if unwrap.is_interpreter(name) or name in OTHER_RUNNERS:
        return interpreter
    return None
