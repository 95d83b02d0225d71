"""Rewrite the shell forms bashlex cannot parse (`case`, `$(( ))`, `time`, `[[ ]]`) into ones it can.

Each rewrite keeps every command the original would run (substitutions included), so the
policy judges the same programs; only the shape changes. Used only when bashlex refuses a text.
"""

from __future__ import annotations

import re

from piloto.policy.models import PolicyParseError

# Where a command may start: the text's start, after an operator, or after a keyword.
_STARTS = r"(^|[;&|(){}\n]|\bthen|\bdo|\belse|\btime)"
_TIME = re.compile(_STARTS + r"(\s*)time(\s+-p)?(?=\s)")


def rewrite(text: str) -> str:
    """The text with `time`, `$(( ))`, `[[ ]]` and `case` rewritten; raises PolicyParseError."""
    text = _TIME.sub(lambda m: m.group(1) + m.group(2), text)
    text = _COPROC.sub(lambda m: m.group(1) + m.group(2), text)
    text = _SELECT.sub(lambda m: m.group(1) + m.group(2) + "for ", text)
    text = _C_FOR.sub(_c_for, text)
    text = _OLD_ARITHMETIC.sub(lambda m: "0" if "$(" not in m.group(0) else m.group(0), text)
    text = _ELEMENT.sub(lambda m: m.group(1) + m.group(2) + "=", text)
    text = _arrays(text)
    text = _arithmetic(text)
    text = _double_brackets(text)
    return _cases(text)


_COPROC = re.compile(_STARTS + r"(\s*)coproc\s+")
_SELECT = re.compile(_STARTS + r"(\s*)select\s+")
# for ((i = 0; i < n; i++)): the loop body is what matters; the header is arithmetic.
_C_FOR = re.compile(r"\bfor\s*\(\((.*?)\)\)\s*(;|\n)?\s*(?=do\b)", re.S)
_OLD_ARITHMETIC = re.compile(r"\$\[[^\]]*\]")
# m[key]=value at a command's start: an element assignment, not a program.
_ELEMENT = re.compile(r"(^|[;&|(\n]\s*|\s)([A-Za-z_]\w*)\[[^\]$`]*\]\+?=")
_ARRAY = re.compile(r"(^|[;&|(\s])([A-Za-z_]\w*)\+?=\(")


def _c_for(match: re.Match[str]) -> str:
    header = match.group(1)
    if "$(" in header or "`" in header:
        return f"for _ in $(: {header}); "
    return "for _ in 0; "


def _arrays(text: str) -> str:
    """`a=(x "y z" $(cmd))` becomes `a=$(: x "y z" $(cmd))`, which keeps every substitution."""
    out: list[str] = []
    i = 0
    while True:
        match = _ARRAY.search(text, i)
        if match is None:
            out.append(text[i:])
            return "".join(out)
        end = _close_paren(text, match.end())
        out.append(text[i : match.end() - 1] + "$(: " + text[match.end() : end] + ")")
        i = end + 1


def _skip_quoted(text: str, i: int) -> int:
    """Index just past the quoted string, escape or substitution starting at `i` (else i + 1)."""
    ch = text[i]
    if ch == "\\":
        return i + 2
    if ch == "'":
        end = text.find("'", i + 1)
        if end < 0:
            raise PolicyParseError("a single quote is not closed")
        return end + 1
    if ch == '"':
        j = i + 1
        while j < len(text) and text[j] != '"':
            j = _skip_quoted(text, j) if text[j] in "\\`" or text.startswith("$(", j) else j + 1
        if j >= len(text):
            raise PolicyParseError("a double quote is not closed")
        return j + 1
    if ch == "`":
        end = text.find("`", i + 1)
        if end < 0:
            raise PolicyParseError("a backquote is not closed")
        return end + 1
    if text.startswith("$(", i):
        return _close_paren(text, i + 2) + 1
    return i + 1


def _close_paren(text: str, i: int) -> int:
    """Index of the `)` that closes a `(` opened just before `i`."""
    depth = 1
    while i < len(text):
        ch = text[i]
        if ch in "\\'\"`" or text.startswith("$(", i):
            i = _skip_quoted(text, i)
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise PolicyParseError("a parenthesis is not closed")


def _arithmetic(text: str) -> str:
    """`$(( expr ))` becomes `0`; an expression holding a substitution is kept as `$(: expr)`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$((", i):
            end = _close_paren(text, i + 2)
            inner = text[i + 3 : end - 1] if text[end - 1 : end] == ")" else text[i + 3 : end]
            # Bash runs substitutions inside arithmetic; keep them so they are judged.
            out.append(f"$(: {inner})" if ("$(" in inner or "`" in inner) else "0")
            i = end + 1
            continue
        if text[i] in "\\'\"`":
            j = _skip_quoted(text, i)
            out.append(_arithmetic_inside(text[i:j]))
            i = j
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _arithmetic_inside(quoted: str) -> str:
    if quoted.startswith('"') and "$((" in quoted:
        return '"' + _arithmetic(quoted[1:-1]) + '"'
    return quoted


def _double_brackets(text: str) -> str:
    """`[[ a && b ]]` becomes `[ a -a b ]` with its operators escaped (substitutions kept)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("[[", i) and (i == 0 or text[i - 1] in " \t\n;&|(!{"):
            j = i + 2
            body: list[str] = []
            while j < len(text) and not (text.startswith("]]", j) and text[j - 1] in " \t"):
                if text[j] in "\\'\"`" or text.startswith("$(", j):
                    end = _skip_quoted(text, j)
                    body.append(text[j:end])
                    j = end
                elif text.startswith(("&&", "||"), j):
                    body.append(" -a " if text[j] == "&" else " -o ")
                    j += 2
                elif text[j] in "()<>|&;!":
                    body.append("\\" + text[j])
                    j += 1
                else:
                    body.append(text[j])
                    j += 1
            if j >= len(text):
                raise PolicyParseError("a [[ test is not closed with ]]")
            out.append("[ " + "".join(body) + " ]")
            i = j + 2
            continue
        if text[i] in "\\'\"`":
            j = _skip_quoted(text, i)
            out.append(text[i:j])
            i = j
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


_WORD_END = " \t\n;&|()<>"


def _word_at(text: str, i: int, word: str) -> bool:
    end = i + len(word)
    before_ok = i == 0 or text[i - 1] in _WORD_END
    return text.startswith(word, i) and before_ok and (end >= len(text) or text[end] in _WORD_END)


def _cases(text: str) -> str:
    """`case W in p1|p2) cmds;; esac` becomes `{ : W p1 p2; cmds; }` (every branch kept)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if _word_at(text, i, "case"):
            block, i = _one_case(text, i + 4)
            out.append(block)
            continue
        if text[i] in "\\'\"`" or text.startswith("$(", i):
            j = _skip_quoted(text, i)
            out.append(text[i:j])
            i = j
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _one_case(text: str, i: int) -> tuple[str, int]:
    match = re.compile(r"\s*(.*?)\s+in\b", re.S).match(text, i)
    if match is None:
        raise PolicyParseError("a case has no `in`")
    words = [match.group(1)]
    bodies: list[str] = []
    i = match.end()
    while True:
        while i < len(text) and text[i] in " \t\n;":
            i += 1
        if i >= len(text):
            raise PolicyParseError("a case is not closed with esac")
        if _word_at(text, i, "esac"):
            i += 4
            break
        if text[i] == "(":
            i += 1
        start = i
        while i < len(text) and text[i] != ")":
            i = _skip_quoted(text, i) if text[i] in "\\'\"`" or text.startswith("$(", i) else i + 1
        words.extend(p.strip() for p in text[start:i].split("|") if p.strip())
        i += 1
        body, i = _case_body(text, i)
        if body.strip():
            bodies.append(_cases(body))
    commands = "; ".join([": " + " ".join(words), *bodies])
    return "{ " + commands + "; }", i


def _case_body(text: str, i: int) -> tuple[str, int]:
    """The commands of one branch, up to `;;`, `;&`, `;;&` or `esac`; nested cases skipped over."""
    start = i
    depth = 0
    while i < len(text):
        if text[i] in "\\'\"`" or text.startswith("$(", i):
            i = _skip_quoted(text, i)
            continue
        if _word_at(text, i, "case"):
            depth += 1
        elif _word_at(text, i, "esac"):
            if depth == 0:
                return text[start:i], i
            depth -= 1
        elif depth == 0 and text.startswith((";;&", ";;", ";&"), i):
            length = 3 if text.startswith(";;&", i) else 2
            return text[start:i], i + length
        i += 1
    raise PolicyParseError("a case is not closed with esac")
