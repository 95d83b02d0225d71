"""Effects of programs that run code: interpreters, shells, editors, schedulers, build tools."""

from __future__ import annotations

from piloto.policy import effects_net, effects_text, unwrap
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


def hash_path(cmd: SimpleCommand) -> Effect:
    """`hash -p /tmp/x ls` makes `ls` run another file; plain `hash` lists or forgets."""
    return destructive(cmd, "alias") if any(a.startswith("-p") for a in cmd.args) else read(cmd)


def alias(cmd: SimpleCommand) -> Effect:
    """alias NAME=… defines a command the policy cannot see at the call; plain alias lists."""
    return destructive(cmd, "alias") if any("=" in a for a in cmd.args) else read(cmd)


# sed: an `e` command or `s///e` runs the pattern space as a shell command; `w` writes a file.


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


_TABLE: dict[str, Classifier] = {
    **dict.fromkeys(
        words(
            "source . at batch systemd-run fc enable script nsenter unshare ld.so ld-linux-x86-64.so.2"
        ),
        runs_unseen,
    ),
    "alias": alias,
    "hash": hash_path,
    **dict.fromkeys(
        words("vim vi nvim ex ed red view vimdiff gvim emacs nano pico joe mcedit micro"), editor
    ),
    **dict.fromkeys(words("tmux screen byobu zellij"), multiplexer),
    "crontab": crontab,
    **dict.fromkeys(
        words(
            "make gmake just ninja ansible ansible-playbook go cargo dotnet mvn gradle npx pnpx uv "
            "poetry tox nox pytest rake bundle invoke fab vagrant packer chef-client puppet salt-call salt"
        ),
        builder,
    ),
}


def classifier_for(name: str) -> Classifier | None:
    """The classifier of a program that runs code or whose flags make it write, if it is one."""
    found = (
        _TABLE.get(name) or effects_net.CLASSIFIERS.get(name) or effects_text.CLASSIFIERS.get(name)
    )
    if found is not None:
        return found
    if name in unwrap.SHELLS:
        return shell
    if unwrap.is_interpreter(name) or name in OTHER_RUNNERS:
        return interpreter
    return None
