"""Knowledge of programs that run other programs: sudo, env, timeout, `bash -c`, xargs, find -exec."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from piloto.policy.models import PolicyParseError

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "rbash", "yash"})
PRIVILEGED = frozenset({"sudo", "doas", "su", "pkexec", "runuser"})
_INTERPRETER = re.compile(
    r"(python|pypy|perl|ruby|node|nodejs|php|lua|luajit|tclsh|Rscript)[\d.]*(-\w+)?$"
)
# Programs that run, later, the shell commands they read on stdin.
SCHEDULERS = frozenset({"at", "batch"})
AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})

# Prefix wrappers: name -> (short options taking a value, long options taking a value,
# number of positional arguments consumed before the command).
_PREFIX: dict[str, tuple[str, frozenset[str], int]] = {
    "sudo": (
        "CDRTUgprtu",
        frozenset(
            {
                "--user",
                "--group",
                "--prompt",
                "--chdir",
                "--role",
                "--type",
                "--other-user",
                "--command-timeout",
                "--chroot",
                "--close-from",
                "--host",
            }
        ),
        0,
    ),
    "doas": ("uC", frozenset(), 0),
    "pkexec": ("", frozenset({"--user"}), 0),
    "runuser": ("ugG", frozenset({"--user", "--group", "--supp-group"}), 0),
    "env": ("uCS", frozenset({"--unset", "--chdir", "--split-string"}), 0),
    "nohup": ("", frozenset(), 0),
    "command": ("", frozenset(), 0),
    "builtin": ("", frozenset(), 0),
    "exec": ("a", frozenset(), 0),
    "nice": ("n", frozenset({"--adjustment"}), 0),
    "ionice": ("cnt", frozenset({"--class", "--classdata"}), 0),
    "timeout": ("sk", frozenset({"--signal", "--kill-after"}), 1),
    "stdbuf": ("ioe", frozenset({"--input", "--output", "--error"}), 0),
    "time": ("fo", frozenset({"--format", "--output"}), 0),
    "setsid": ("", frozenset(), 0),
    "chroot": ("", frozenset({"--userspec", "--groups"}), 1),
    "flock": ("wEc", frozenset({"--timeout", "--conflict-exit-code"}), 1),
    "taskset": ("", frozenset(), 1),
    "chrt": ("", frozenset(), 1),
    "unbuffer": ("", frozenset(), 0),
    "caffeinate": ("", frozenset(), 0),
    # systemd-run starts the command as a transient unit (later, or detached): risk.py marks it.
    "systemd-run": (
        "pMHuEs",
        frozenset(
            {
                "--unit",
                "--property",
                "--description",
                "--slice",
                "--uid",
                "--gid",
                "--setenv",
                "--on-active",
                "--on-boot",
                "--on-startup",
                "--on-unit-active",
                "--on-unit-inactive",
                "--on-calendar",
                "--timer-property",
                "--path-property",
                "--socket-property",
                "--working-directory",
                "--nice",
                "--machine",
                "--host",
            }
        ),
        0,
    ),
    "catchsegv": ("", frozenset(), 0),
}


def basename(program: str) -> str:
    """The name a program is judged by: `/usr/bin/rm` and `./rm` are both `rm`."""
    return posixpath.basename(program.rstrip("/")) if program.strip("/") else program


def is_interpreter(name: str) -> bool:
    """Whether `name` is a scripting language interpreter (python3, perl, node, …)."""
    return bool(_INTERPRETER.match(name))


def first_positional(args: Sequence[str], short_values: str, long_values: frozenset[str]) -> int:
    """Index of the first argument that is not an option (or an option's value); len(args) if none."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return i + 1
        if not arg.startswith("-") or arg == "-":
            return i
        if arg.startswith("--"):
            i += 2 if ("=" not in arg and arg in long_values) else 1
            continue
        # A short cluster: the first letter that takes a value swallows the rest or the next arg.
        skip = 1
        for pos, letter in enumerate(arg[1:], start=1):
            if letter in short_values:
                skip = 1 if pos < len(arg) - 1 else 2
                break
        i += skip
    return i


def strip_prefix(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """If argv[0] only wraps another command (sudo, env, timeout 5, …): (wrapper, inner argv)."""
    name = basename(argv[0])
    args = list(argv[1:])
    if name == "busybox":
        return (name, args) if args and not args[0].startswith("-") else None
    if name not in _PREFIX:
        return None
    short, long, positional = _PREFIX[name]
    if name == "sudo" and any(a in ("-e", "--edit", "-l", "--list") for a in args):
        return None
    if name == "command" and any(a in ("-v", "-V") for a in args):
        return None
    if name == "ionice" and any(a.startswith(("-p", "-P", "-u", "--pid")) for a in args):
        return None
    if name == "env":
        return _strip_env(args)
    if name == "nice" and args and re.fullmatch(r"-\d+", args[0]):
        args = args[1:]
    start = first_positional(args, short, long) + positional
    if name in ("sudo", "runuser"):  # sudo VAR=value cmd
        while start < len(args) and is_assignment(args[start]):
            start += 1
    inner = args[start:]
    return (name, inner) if inner else None


def is_assignment(word: str) -> bool:
    """Whether the word is NAME=value."""
    return bool(re.match(r"[A-Za-z_][A-Za-z0-9_]*=", word))


def _strip_env(args: list[str]) -> tuple[str, list[str]] | None:
    i = 0
    split: list[str] = []
    while i < len(args):
        arg = args[i]
        if arg in ("-S", "--split-string") or arg.startswith(("-S", "--split-string=")):
            if arg in ("-S", "--split-string"):
                text, i = (args[i + 1] if i + 1 < len(args) else ""), i + 2
            else:
                text, i = (arg[2:] if arg.startswith("-S") else arg.split("=", 1)[1]), i + 1
            try:
                split = shlex.split(text)
            except ValueError as exc:
                raise PolicyParseError(f"the env -S string does not parse: {exc}") from exc
            continue
        if arg in ("-u", "--unset", "-C", "--chdir"):
            i += 2
        elif arg == "--":
            i += 1
            break
        elif arg.startswith("-") or is_assignment(arg):
            i += 1
        else:
            break
    inner = split + args[i:]
    # `env -S` splits a string into words: an allowlist must see that it was used.
    return ("env -S" if split else "env", inner) if inner else None


@dataclass(frozen=True)
class Script:
    """A string that a program runs as shell code (`bash -c`, eval, ssh host CMD, watch CMD)."""

    text: str
    via: str
    unwrapped: bool  # True when the program does nothing but run the string


def shell_script(name: str, args: Sequence[str]) -> Script | None:
    """The shell code a command runs from its arguments, if any."""
    if name in SHELLS:
        code = _shell_c(args)
        if code is None:
            return None
        after = list(args[list(args).index(code) + 1 :]) if code in args else []
        return Script(_positional(code, after), "-c", True)
    if name == "eval" and args:
        return Script(" ".join(args), "-c", True)
    if name in ("su", "runuser"):
        for i, arg in enumerate(args):
            if arg in ("-c", "--command") and i + 1 < len(args):
                return Script(args[i + 1], "-c", True)
            if arg.startswith("--command="):
                return Script(arg.split("=", 1)[1], "-c", True)
        return None
    if name == "trap" and len(args) >= 2 and not args[0].startswith("-"):
        return Script(args[0], "-c", False)
    if name == "ssh":
        start = first_positional(args, "BbcDEeFIiJLlmOopQRSWw", frozenset())
        remote = args[start + 1 :]
        return Script(" ".join(remote), "remote", False) if remote else None
    if name == "watch" and "-x" not in args and "--exec" not in args:
        start = first_positional(args, "nq", frozenset({"--interval", "--equexit"}))
        rest = args[start:]
        return Script(" ".join(rest), "watch", False) if rest else None
    return None


_POSITIONAL = re.compile(r'"\$[@*]"|"\$\{[@*]\}"|\$(\d)|\$\{(\d+)\}|\$[@*]|\$\{[@*]\}')


def _positional(code: str, values: list[str]) -> str:
    """`sh -c 'rm -rf "$0"' /` runs `rm -rf /`: put the arguments where the script uses them.

    Values go in as they are (not re-quoted): a value holding `;` then reads as two commands,
    which over-judges but never under-judges what bash runs.
    """
    if not values:
        return code

    def one(match: re.Match[str]) -> str:
        text = match.group(0)
        number = match.group(1) or match.group(2)
        if number is not None:
            index = int(number)
            return values[index] if index < len(values) else text
        if text.startswith('"'):
            return " ".join(f'"{v}"' for v in values[1:])
        return " ".join(values[1:])

    return _POSITIONAL.sub(one, code)


def _shell_c(args: Sequence[str]) -> str | None:
    has_c = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if arg.startswith("--") or (arg[:1] in "-+" and len(arg) > 1):
            has_c = has_c or (arg[0] == "-" and not arg.startswith("--") and "c" in arg)
            i += 1
            continue
        break
    if has_c:
        return args[i] if i < len(args) else ""
    return None


def exec_argvs(name: str, args: Sequence[str]) -> list[list[str]]:
    """Commands a program executes from its own arguments (xargs CMD, find -exec CMD ;, watch -x)."""
    if name == "xargs":
        start = first_positional(
            args,
            "aEdILnPs",
            frozenset(
                {
                    "--arg-file",
                    "--delimiter",
                    "--max-args",
                    "--max-procs",
                    "--max-chars",
                    "--max-lines",
                    "--eof",
                    "--replace",
                    "--process-slot-var",
                }
            ),
        )
        inner = list(args[start:])
        return [inner or ["echo"]]
    if name == "find":
        found: list[list[str]] = []
        i = 0
        while i < len(args):
            if args[i] in ("-exec", "-execdir", "-ok", "-okdir"):
                j = i + 1
                while j < len(args) and args[j] not in (";", "+"):
                    j += 1
                if args[i + 1 : j]:
                    found.append(list(args[i + 1 : j]))
                i = j
            i += 1
        return found
    if name == "watch" and ("-x" in args or "--exec" in args):
        start = first_positional(args, "nq", frozenset({"--interval", "--equexit"}))
        return [list(args[start:])] if args[start:] else []
    return []


def xargs_replace(args: Sequence[str]) -> str | None:
    """The replace-string of `xargs -I R` / `-i` / `--replace`, if given."""
    for i, arg in enumerate(args):
        if arg == "-I" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("-I") and len(arg) > 2:
            return arg[2:]
        if arg in ("-i", "--replace"):
            return "{}"
        if arg.startswith(("--replace=", "-i")) and len(arg) > 2:
            return arg.split("=", 1)[-1] if "=" in arg else arg[2:]
    return None


def inline_code(name: str, args: Sequence[str]) -> tuple[str, ...]:
    """Program text passed inline to an interpreter (`python -c`, `perl -e`, `node -e`, awk 'prog')."""
    if name in AWKS:
        if any(a.startswith("-f") or a == "--file" for a in args):
            return ()
        found = _code_options(args, "e", frozenset({"--source"}))
        if found:
            return found
        start = first_positional(args, "Fvf", frozenset({"--field-separator", "--assign"}))
        return (args[start],) if start < len(args) else ()
    if not is_interpreter(name):
        return ()
    if name.startswith(("python", "pypy")):
        return _code_options(args, "c", frozenset(), first_only=True)
    if name.startswith("php"):
        return _code_options(args, "r", frozenset())
    return _code_options(args, "eEp", frozenset({"--eval", "--print"}))


def _code_options(
    args: Sequence[str], letters: str, longs: frozenset[str], *, first_only: bool = False
) -> tuple[str, ...]:
    found: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            key, _, value = arg.partition("=")
            if key in longs:
                if value:
                    found.append(value)
                elif i + 1 < len(args):
                    found.append(args[i + 1])
                    i += 1
            i += 1
            continue
        for pos, letter in enumerate(arg[1:], start=1):
            if letter in letters:
                rest = arg[pos + 1 :]
                if rest:
                    found.append(rest)
                elif i + 1 < len(args):
                    found.append(args[i + 1])
                    i += 1
                break
        if found and first_only:
            break
        i += 1
    return tuple(found)


def reads_code_from_stdin(name: str, args: Sequence[str]) -> bool:
    """Whether the program runs whatever arrives on standard input as code (`curl … | sh`)."""
    if name in SHELLS:
        if _shell_c(args) is not None:
            return False
        start = first_positional(args, "oO", frozenset({"--rcfile", "--init-file"}))
        if any(a.startswith("-") and not a.startswith("--") and "s" in a for a in args[:start]):
            return True
        return start >= len(args) or args[start] in ("-", "/dev/stdin")
    if name in SCHEDULERS:
        return not any(a.startswith(("-f", "-l", "-c", "-r", "-d")) for a in args)
    if name in ("source", ".") and args:
        return args[0] in ("/dev/stdin", "/proc/self/fd/0", "/dev/fd/0")
    if is_interpreter(name):
        if inline_code(name, args) or "-m" in args:
            return False
        start = first_positional(args, "WXIM", frozenset())
        return start >= len(args) or args[start] in ("-", "/dev/stdin")
    return False


def runs_code(name: str) -> bool:
    """Whether the program executes code given to it (shells, eval, source, interpreters)."""
    return (
        name in SHELLS or name in ("eval", "source", ".", "su", "runuser") or is_interpreter(name)
    )
