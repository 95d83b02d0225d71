"""Deterministic consent detection: is a short chat message a confirmation, a cancellation, or neither.

No LLM takes part (invariant 1): only a short message made entirely of known English or
Spanish consent words confirms. Anything longer, quoted, structured, questioning or mixed
never does.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

MAX_WORDS = 6
MAX_CHARS = 80


class Intent(StrEnum):
    """What a message says about the pending plan."""

    CONFIRM = "confirm"
    CANCEL = "cancel"
    AMBIGUOUS = "ambiguous"
    OTHER = "other"


_CONFIRM = """
yes | y | yep | yeah | yup | yea | ok | okay | k | kk | sure | confirm | confirmed | i confirm
| go | go ahead | go for it | do it | run it | proceed | approve | approved | lgtm | sounds good
| please do | yes please | absolutely | of course | affirmative | execute | execute it
| si | confirmo | confirmar | confirmado | confirma | dale | adelante | hazlo | de acuerdo | vale
| venga | claro | por supuesto | ejecuta | ejecutalo | procede | aprobado | apruebo | va | ok dale
| ✔ | ✅ | 👍 | 👌 | 🆗
"""
# Explicit stops: these win over confirm words in the same message ("ok, cancel").
_STOP = """
cancel | cancelled | canceled | cancel it | stop | stop it | abort | abort it | dont | do not
| dont do it | dont run it | do not run it | do not do it | dont proceed | do not proceed | never mind
| nevermind | forget it | no thanks | cancela | cancelalo | cancelar | cancelado | mejor no | para
| paralo | detente | detener | aborta | abortar | olvidalo | no gracias | no lo hagas | no lo ejecutes
| no ejecutes | no lo corras | no sigas | no continues | ❌ | 🛑 | ⛔ | 🚫 | 👎
"""
# A bare "no": cancels on its own, but next to a confirm word ("yes no") the message is unclear.
_NO = "no | n | nope | nah | nop"
_WAIT = """
wait | wait a moment | wait a sec | hold on | hold | not yet | not now | later | one moment
| espera | esperate | un momento | momento | todavia no | aun no | ahora no | mas tarde
"""
_HEDGE = """
maybe | perhaps | i guess | i think | i think so | probably | possibly | not sure | i dont know
| quizas | quiza | tal vez | supongo | creo | creo que si | no se | puede ser | but | pero
"""
_FILLER = """
please | pls | plz | thanks | thank you | now | then | it | that | this | the plan | plan | i
| lets | go on | right now | por favor | gracias | ahora | lo | eso | esto | el plan | ya | oh | well
| bueno | pues
"""

_EMOJI = frozenset({"✔", "✅", "👍", "👌", "🆗", "❌", "🛑", "⛔", "🚫", "👎"})
# Characters that mean the text is structured, quoted or addressed, never a plain answer.
_HOSTILE = re.compile(r"[{}\[\]<>=|`\"“”«»:;$#@/\\*_~^%&+]")
_SEPARATORS = re.compile(r"[.,!¡?¿\-—–…()]")
_NEGATIONS = frozenset({"dont", "not", "never", "nunca"})
_INVISIBLE = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f\u200d]")  # skin tones, emoji joiners


def _squeeze(word: str) -> str:
    """Collapse repeated letters so that "yesss", "siii" and "nooo" match their phrase."""
    return re.sub(r"(.)\1+", r"\1", word)


def _phrases(table: str) -> frozenset[tuple[str, ...]]:
    return frozenset(
        tuple(_squeeze(w) for w in entry.split()) for entry in table.split("|") if entry.strip()
    )


_LABELS: dict[str, frozenset[tuple[str, ...]]] = {
    "stop": _phrases(_STOP),
    "wait": _phrases(_WAIT),
    "hedge": _phrases(_HEDGE),
    "no": _phrases(_NO),
    "confirm": _phrases(_CONFIRM),
    "filler": _phrases(_FILLER),
}
_LONGEST = max(len(p) for phrases in _LABELS.values() for p in phrases)


def _normalise(text: str) -> tuple[list[str], bool] | None:
    """(words, is a question), or None when the text cannot be a plain answer."""
    text = _INVISIBLE.sub("", text).strip()
    if not text or len(text) > MAX_CHARS or "\n" in text or _HOSTILE.search(text):
        return None
    question = "?" in text or "¿" in text
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = re.sub(r"(?<=\w)['’](?=\w)", "", plain)  # don't -> dont
    for symbol in _EMOJI:
        plain = plain.replace(symbol, f" {symbol} ")
    words: list[str] = []
    for word in _SEPARATORS.sub(" ", plain).split():
        if word in _EMOJI or word.isalnum():
            words.append(_squeeze(word))
        elif not all(unicodedata.category(c).startswith("S") for c in word):
            return None  # quotes, odd punctuation: not a plain answer
        # any other emoji carries no consent either way
    return words, question


def _segment(words: list[str]) -> list[str]:
    """Label the words with the longest known phrase at each position ("unknown" otherwise)."""
    labels: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(_LONGEST, len(words) - i), 0, -1):
            chunk = tuple(words[i : i + size])
            label = next((name for name, table in _LABELS.items() if chunk in table), None)
            if label is not None:
                labels.append(label)
                i += size
                break
        else:
            # A negation before a confirm word ("not proceed", "never run it") stops.
            if words[i] in _NEGATIONS and i + 1 < len(words):
                rest = _segment(words[i + 1 :])
                if rest and rest[0] == "confirm":
                    labels.append("stop")
                    labels.extend(rest[1:])
                    return labels
            labels.append("unknown")
            i += 1
    return labels


def detect_intent(text: str) -> Intent:
    """CONFIRM only for a short, plain, unmixed yes; CANCEL for a clear no; else AMBIGUOUS/OTHER."""
    normalised = _normalise(text)
    if normalised is None:
        return Intent.OTHER
    words, question = normalised
    if not words or len(words) > MAX_WORDS:
        return Intent.OTHER
    labels = _segment(words)
    meaningful = [label for label in labels if label != "filler"]
    if not meaningful:
        return Intent.OTHER
    if "unknown" in meaningful:
        # "yes but change step 2" is about the plan but unclear; "the log says yes" is not an answer.
        return Intent.AMBIGUOUS if meaningful[0] not in ("unknown", "hedge") else Intent.OTHER
    if question:
        return Intent.AMBIGUOUS
    kinds = set(meaningful)
    if "stop" in kinds or ("no" in kinds and not kinds & {"confirm", "hedge"}):
        return Intent.CANCEL  # "ok, cancel", "no, espera"
    if kinds != {"confirm"}:
        return Intent.AMBIGUOUS  # "yes no", "ok wait", "maybe", "not yet"
    return Intent.CONFIRM
