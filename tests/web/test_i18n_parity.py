"""Every message exists in English and Spanish, with the same placeholders, in the UI
(``web/static/js/i18n.js``) and on the server (``piloto/i18n.py``); UI strings are used."""

from __future__ import annotations

import re
from pathlib import Path

from piloto import i18n

STATIC = Path(i18n.__file__).resolve().parent / "web" / "static"
UI_STRINGS = STATIC / "js" / "i18n.js"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# `  en: {` opens a language's table in STRINGS; its entries are `"key": "text",` lines.
LANG_BLOCK = re.compile(r"^  (\w+): \{\n(.*?)^  \},?$", re.S | re.M)
ENTRY = re.compile(
    r'^\s+"([^"]+)":\s*("(?:[^"\\]|\\.)*"|`(?:[^`\\]|\\.)*`|\'(?:[^\'\\]|\\.)*\')', re.M
)


def ui_tables() -> dict[str, dict[str, str]]:
    """The UI's STRINGS table, by language then key, read from the source."""
    source = UI_STRINGS.read_text(encoding="utf-8")
    body = source[
        source.index("const STRINGS = {") : source.index("\n};", source.index("const STRINGS"))
    ]
    tables = {
        lang: {m[1]: m[2] for m in ENTRY.finditer(block)}
        for lang, block in LANG_BLOCK.findall(body + "\n")
    }
    return tables


def _missing(tables: dict[str, dict[str, str]]) -> list[str]:
    keys = set().union(*tables.values())
    return sorted(
        f"{key}: missing in {lang}" for key in keys for lang, t in tables.items() if key not in t
    )


def _placeholder_mismatches(tables: dict[str, dict[str, str]]) -> list[str]:
    en = tables["en"]
    out = []
    for lang, table in tables.items():
        for key, text in table.items():
            if key in en and set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(en[key])):
                out.append(f"{key}: placeholders in {lang} differ from en")
    return sorted(out)


def test_the_ui_reader_sees_both_languages() -> None:
    tables = ui_tables()
    assert set(tables) == {"en", "es"}
    # A sanity floor so that a change of layout in i18n.js cannot make the checks vacuous.
    assert len(tables["en"]) > 100 and "login.title" in tables["en"]


def test_ui_strings_exist_in_both_languages() -> None:
    tables = ui_tables()
    assert not _missing(tables)
    assert not _placeholder_mismatches(tables)


def test_server_messages_exist_in_both_languages() -> None:
    tables = {
        lang: {k: v[lang] for k, v in i18n.MESSAGES.items() if lang in v} for lang in ("en", "es")
    }
    extra = {
        f"{k}: languages {sorted(v)}" for k, v in i18n.MESSAGES.items() if set(v) != {"en", "es"}
    }
    assert not extra
    assert not _missing(tables)
    assert not _placeholder_mismatches(tables)


def test_every_ui_string_is_used() -> None:
    """A key is used when some other file of the UI names it, or a template builds its prefix."""
    keys = set(ui_tables()["en"])
    source = UI_STRINGS.read_text(encoding="utf-8")
    code = "\n".join(
        [source[source.index("\n};", source.index("const STRINGS")) :]]  # i18n.js's own code
        + [
            p.read_text(encoding="utf-8")
            for p in [*STATIC.glob("js/*.js"), *STATIC.glob("*.html")]
            if p != UI_STRINGS
        ]
    )
    named = set(re.findall(r"[\"'`]([\w.-]+)[\"'`]", code))
    prefixes = tuple(re.findall(r"`([\w.]+\.)\$\{", code))
    unused = sorted(k for k in keys if k not in named and not k.startswith(prefixes))
    assert not unused, f"UI strings nothing uses (remove them or use them): {unused}"
