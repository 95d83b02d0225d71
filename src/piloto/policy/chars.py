"""Characters that make a card show something other than what runs: hidden ones and look-alikes."""

from __future__ import annotations

import unicodedata

# Bidi controls and invisible characters that are not in category Cf/Cc but hide anyway.
_HIDDEN_EXTRA = frozenset(
    {
        "\u00ad",  # soft hyphen (Cf, listed for clarity)
        "\u115f",
        "\u1160",
        "\u3164",
        "\uffa0",  # Hangul fillers: letters that render as nothing
        "\u2028",
        "\u2029",  # line and paragraph separators
        "\u180e",  # Mongolian vowel separator
    }
)
_ALLOWED_CONTROLS = frozenset({"\t", "\n"})
# Scripts whose letters are drawn like Latin ones (е, о, р, ο, ν, օ, Ꭺ …).
_CONFUSABLE_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "LISU", "MODIFIER")


def _name(ch: str) -> str:
    return unicodedata.name(ch, "") or unicodedata.category(ch)


def _is_hidden(ch: str) -> bool:
    if ch in _ALLOWED_CONTROLS:
        return False
    if ch in _HIDDEN_EXTRA or "\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef":
        return True  # variation selectors too: they attach to a letter and show nothing
    return unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn") and ch != " "


def hidden_characters(text: str) -> list[str]:
    """Bidi controls and invisible characters in `text`, as "U+202E RIGHT-TO-LEFT OVERRIDE at 7"."""
    return [
        f"U+{ord(ch):04X} {_name(ch)} at {i}"
        for i, ch in enumerate(text, start=1)
        if ch >= "\x7f" or (ch < " " and ch not in _ALLOWED_CONTROLS)
        if _is_hidden(ch)
    ]


def _looks_ascii(ch: str) -> bool:
    if ch.isascii():
        return False
    folded = unicodedata.normalize("NFKC", ch)
    if folded != ch and folded.isascii() and folded.strip():
        return True  # fullwidth Ｌ, ligatures, mathematical 𝐫
    name = _name(ch)
    if unicodedata.category(ch).startswith("Z"):
        return True  # a space that is not the ASCII one (U+00A0, U+2003, U+3000)
    return unicodedata.category(ch).startswith("L") and name.startswith(_CONFUSABLE_SCRIPTS)


def lookalikes(text: str) -> list[str]:
    """Non-ASCII characters that pass for ASCII, as "е (U+0435 CYRILLIC SMALL LETTER IE) at 2"."""
    return [
        f"{ch} (U+{ord(ch):04X} {_name(ch)}) at {i}"
        for i, ch in enumerate(text, start=1)
        if _looks_ascii(ch)
    ]
