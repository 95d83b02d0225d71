"""Look inside code handed to interpreters (`python -c`, `perl -e`, awk) for destructive calls."""

from __future__ import annotations

import re
from collections.abc import Iterator

from piloto.policy import paths

# A quoted literal in Python/Perl/Ruby/JS/PHP/awk code (no escape handling: good enough to find
# the shell strings an attacker would hide there), and Perl/Ruby backticks.
_LITERAL = re.compile(
    r"'([^'\n]*)'|\"([^\"\n]*)\"|`([^`\n]*)`|\bqq?x?\{([^}\n]*)\}|\bqq?x?\(([^)\n]*)\)"
)
# 'rm -rf ' + '/'  or  'rm -rf ' . '/'  glued back together.
_CONCAT = re.compile(r"""(['"])\s*[+.]\s*(['"])""")
_DELETE_CALL = re.compile(
    r"\b(rmtree|rm_rf|rm_r|remove_dir_all|rmSync|rmdirSync|removedirs|remove_entry_secure|rm)\s*"
    r"\(\s*(?:[\w.]+\(\s*)?(?:['\"]([^'\"]*)['\"]|qq?\{([^}]*)\}|qq?\(([^)]*)\))"
)
_FILE_CALL = re.compile(
    r"\b(open|remove|unlink|write_text|write_bytes|writeFileSync|truncate|chmod|chown)\s*"
    r"\(\s*(?:[\w.]+\(\s*)?['\"]([^'\"]*)['\"]"
)
# Commands the denylist refuses even without arguments (`os.system('reboot')`).
_ONE_WORD_DENIED = frozenset({"reboot", "halt", "poweroff", "shutdown", "killall5"})
_OPEN_READ = re.compile(r"\bopen\s*\(\s*['\"][^'\"]*['\"]\s*(\)|,\s*['\"]r)")


def literals(code: str) -> Iterator[str]:
    """String literals in the code that could be shell commands, concatenations joined."""
    seen: set[str] = set()
    for text in (code, _CONCAT.sub("", code)):
        for match in _LITERAL.finditer(text):
            literal = next(g for g in match.groups() if g is not None).strip()
            shell_like = " " in literal or "/" in literal or literal in _ONE_WORD_DENIED
            if literal and literal not in seen and shell_like:
                seen.add(literal)
                yield literal


def destructive_call(code: str) -> str | None:
    """rmtree('/')-like calls on protected paths, and file calls on system files."""
    for match in _DELETE_CALL.finditer(code):
        target = paths.resolve(next(g for g in match.groups()[1:] if g is not None))
        protected = paths.protected_dir(target)
        if protected is not None:
            return f"it calls {match.group(1)}() on {paths.label(protected)}"
    for match in _FILE_CALL.finditer(code):
        if match.group(1) == "open" and _OPEN_READ.match(code, match.start()):
            continue
        target = paths.resolve(match.group(2))
        system = paths.system_file(target) or paths.disk_device(target)
        if system is not None:
            return f"it calls {match.group(1)}() on {system}"
    return None
