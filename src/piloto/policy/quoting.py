"""Quote removal bashlex does not do: ANSI-C `$'…'` strings and printf-style escapes."""

from __future__ import annotations

import re

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


def decode_ansi_c(raw: str) -> str:
    """Quote removal for a word that uses $'…' (only the pieces policy decisions depend on)."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if raw.startswith("$'", i):
            end = i + 2
            while end < len(raw) and raw[end] != "'":
                end += 2 if raw[end] == "\\" else 1
            out.append(ansi_escapes(raw[i + 2 : end]))
            i = end + 1
        elif ch == "'":
            end = raw.find("'", i + 1)
            end = len(raw) if end < 0 else end
            out.append(raw[i + 1 : end])
            i = end + 1
        elif ch == '"':
            i += 1  # double quotes: the content stays, escapes are rare enough to keep literally
        elif ch == "\\" and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def ansi_escapes(body: str) -> str:
    """`\\x72\\x6d` → `rm`: the escapes of $'…', printf and echo -e."""

    def one(match: re.Match[str]) -> str:
        token = match.group(1)
        if token[0] in "xX":
            return chr(int(token[1:], 16))
        if token[0] in "uU":
            return chr(int(token[1:], 16))
        if token[0].isdigit():
            return chr(int(token, 8) & 0xFF)
        return _ESCAPES.get(token, "\\" + token)

    return re.sub(
        r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|.)", one, body
    )
