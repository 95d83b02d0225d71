"""The effect of one simple command, from the curated tables: read, write or destructive, and why."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from piloto.policy import (
    effects_apps,
    effects_code,
    effects_data,
    effects_system,
    effects_tools,
    paths,
    readers,
    unwrap,
)
from piloto.policy.effect import Effect, destructive, read, words, worst, write
from piloto.policy.models import SimpleCommand

_SAFE_WRITES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "-"})
# Where a program is the real one: `ls` counts as `ls` only from these directories.
SYSTEM_BIN_DIRS = frozenset({"/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"})
# Replacing a file here replaces a program or library everyone runs.
_PROGRAM_DIRS = SYSTEM_BIN_DIRS | {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/libexec"}
# Variables that make a program load or run other code.
CODE_VARIABLES = words(
    """PATH LD_PRELOAD LD_LIBRARY_PATH LD_AUDIT LD_DEBUG_OUTPUT BASH_ENV ENV IFS LESSOPEN LESSCLOSE
    PAGER GIT_PAGER MANPAGER SYSTEMD_PAGER PSQL_PAGER EDITOR VISUAL GIT_EDITOR GIT_SSH GIT_SSH_COMMAND
    GIT_EXTERNAL_DIFF GIT_ASKPASS SSH_ASKPASS GIT_EXEC_PATH GIT_TEMPLATE_DIR GIT_CONFIG
    GIT_CONFIG_GLOBAL GIT_CONFIG_SYSTEM GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT GIT_DIR PROMPT_COMMAND
    PS0 PS1 PS4 SHELLOPTS BASHOPTS PYTHONSTARTUP PYTHONPATH PYTHONHOME PYTHONINSPECT PERL5OPT PERL5LIB
    PERLLIB RUBYOPT RUBYLIB NODE_OPTIONS NODE_PATH LUA_INIT LUA_PATH JAVA_TOOL_OPTIONS _JAVA_OPTIONS
    CLASSPATH TAR_OPTIONS RSYNC_RSH RSYNC_CONNECT_PROG GZIP XZ_OPT BROWSER TERMINFO HOSTALIASES
    SUDO_ASKPASS SSH_AUTH_SOCK CDPATH GLOBIGNORE TMOUT HISTFILE LIBRARY_PATH DYLD_INSERT_LIBRARIES
    GCONV_PATH NLSPATH LOCPATH MALLOC_CHECK_ KUBECONFIG DOCKER_HOST"""
)
# Built-ins that set variables for later commands; only code-loading variables matter there.
_DECLARERS = frozenset({"export", "declare", "typeset", "local", "readonly"})
# Variables that only change how output looks.
_HARMLESS_VARIABLES = re.compile(
    r"(LANG|LANGUAGE|LC_\w+|TZ|COLUMNS|LINES|TERM|NO_COLOR|CLICOLOR\w*|FORCE_COLOR|GREP_COLORS?|"
    r"TIME_STYLE|LS_COLORS|SYSTEMD_COLORS|SYSTEMD_LESS|LESS|QUOTING_STYLE|POSIXLY_CORRECT|DEBIAN_FRONTEND)$"
)


def assess(cmd: SimpleCommand, records: Sequence[SimpleCommand] = (), index: int = -1) -> Effect:
    """The effect of `cmd`; `records`/`index` let a shell fed a parsed script count as the script."""
    program = _program(cmd, records, index)
    extra = [*_redirects(cmd), *_assignments(cmd)]
    if "nohup" in cmd.wrappers and not cmd.writes:
        extra.append(Effect("write", "redirect", "nohup.out"))  # nohup appends to ./nohup.out
    return worst([program, *extra]) or program


def real_binary(program: str) -> bool:
    """Whether a program named with a path is the system's own (`/usr/bin/ls`, not `./ls`)."""
    if "/" not in program:
        return True
    return posixpath.dirname(posixpath.normpath(program)) in SYSTEM_BIN_DIRS and program.startswith(
        "/"
    )


def _program(cmd: SimpleCommand, records: Sequence[SimpleCommand], index: int) -> Effect:
    if cmd.computed:
        return destructive(cmd, "dynamic")
    if not cmd.name:
        return read(cmd)
    if cmd.unwrapped:
        return read(cmd)  # bash -c 'X', eval X: X is judged on its own
    if "chroot" in cmd.wrappers or "systemd-run" in cmd.wrappers:
        # From another root, or as a transient unit that outlives the check: unseen code.
        return destructive(cmd, "hidden-code")
    if name_is_shell_login(cmd):
        return destructive(cmd, "hidden-code")  # `sudo -i`, `su -`: a shell reading stdin
    if cmd.program.startswith("/etc/init.d/"):
        return effects_system.service(cmd)
    if not real_binary(cmd.program):
        return destructive(cmd, "script")  # ./deploy.sh, /tmp/x: code the policy cannot read
    if (
        cmd.stdin_code
        and cmd.name not in unwrap.SCHEDULERS  # `at` runs it later: that alone is unseen
        and index >= 0
        and any(r.parent == index and r.via == "stdin" for r in records)
    ):
        return read(cmd)  # the shell runs a script that was parsed and is judged on its own
    name = cmd.name
    if name in readers.DELETE:
        return destructive(cmd, "delete")
    if name in readers.TRUNCATE:
        return destructive(cmd, "truncate")
    found = (
        effects_tools.CLASSIFIERS.get(name)
        or effects_system.classifier_for(name)
        or effects_code.classifier_for(name)
        or effects_apps.CLASSIFIERS.get(name)
        or effects_data.CLASSIFIERS.get(name)
        or effects_tools.CLASSIFIERS.get(name)
    )
    if found is not None:
        return found(cmd)
    if name in readers.READ:
        return read(cmd)
    if name in readers.WRITE:
        return _copy_effect(cmd)
    return effects_tools.unknown(cmd)


def name_is_shell_login(cmd: SimpleCommand) -> bool:
    """`sudo`, `sudo -i`, `su -`, `doas -s`: a privileged shell, with nothing left to judge."""
    if cmd.name in ("sudo", "doas"):
        harmless = ("-l", "--list", "-v", "--validate", "-k", "-K", "--reset-timestamp", "-V")
        return not any(a in harmless or a.startswith(("-l", "-e")) for a in cmd.args)
    return cmd.name in ("su", "runuser", "pkexec", "machinectl") and not cmd.unwrapped


def _copy_effect(cmd: SimpleCommand) -> Effect:
    """cp /dev/null FILE empties FILE; moving or replacing system programs is destructive."""
    if cmd.name in ("cp", "install", "mv") and "/dev/null" in cmd.args[:-1]:
        return destructive(cmd, "truncate")
    if cmd.name in ("cp", "mv", "ln", "install"):
        targets = [paths.resolve(a, cmd.cwd) for a in cmd.args if not a.startswith("-")]
        touched = targets if cmd.name == "mv" else targets[-1:]
        if any(
            posixpath.dirname(t.rstrip("/")) in _PROGRAM_DIRS or t in _PROGRAM_DIRS for t in touched
        ):
            return destructive(cmd, "hidden-code")
    if cmd.name == "install" and any(
        re.fullmatch(r"-m[0-7]?[4-7][0-7]{3}|[ug]\+s", a) for a in cmd.args
    ):
        return destructive(cmd, "users")
    return write(cmd)


def _redirects(cmd: SimpleCommand) -> list[Effect]:
    found: list[Effect] = []
    for redirect in cmd.redirects:
        target = redirect.target
        if target.startswith(("/dev/tcp/", "/dev/udp/")):
            found.append(destructive(cmd, "socket"))
        elif redirect.writes and target not in _SAFE_WRITES:
            empties = (
                redirect.op in (">", ">|", "&>")
                and cmd.name in ("", ":", "true", "echo", "printf")
                and not cmd.args
                and cmd.via != "group"
            )
            effect = destructive(cmd, "truncate") if empties else write(cmd, "redirect")
            found.append(Effect(effect.risk, effect.code, f"{redirect.op} {target}"))
    return found


def _assignments(cmd: SimpleCommand) -> list[Effect]:
    found: list[Effect] = []
    for word in cmd.assignments:
        name = word.split("=", 1)[0].removeprefix("export ")
        if name in CODE_VARIABLES or name.startswith(("LD_", "GIT_CONFIG", "DYLD_", "BASH_FUNC")):
            found.append(Effect("destructive", "preload", word[:50]))
        elif cmd.name and cmd.name not in _DECLARERS and not _HARMLESS_VARIABLES.fullmatch(name):
            found.append(Effect("write", "environment", word[:50]))
    return found
