"""An alert as a message a person reads: every value inside a code fence, so hostile text in
labels or annotations (markdown, HTML, commands) is shown, never rendered nor run."""

from __future__ import annotations

import re

from piloto.alerts.models import AmAlert
from piloto.i18n import t

VALUE_MAX = 2000


def _fence(body: str) -> str:
    """A fence longer than any run of backticks in ``body``: the body cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}text\n{body}\n{ticks}"


def _clean(value: str) -> str:
    # Control characters (a terminal escape, a NUL PostgreSQL refuses) become visible marks.
    cleaned = "".join(c if c in "\n\t" or c.isprintable() else "\ufffd" for c in value)
    return cleaned[:VALUE_MAX]


def describe(alert: AmAlert, lang: str) -> str:
    """The message posted for one alert (firing or resolved)."""
    name = alert.labels.get("alertname", "alert")
    key = "alert_firing" if alert.status == "firing" else "alert_resolved"
    lines = [f"{_clean(k)}={_clean(v)}" for k, v in sorted(alert.labels.items())]
    if alert.annotations:
        lines.append("")
        lines += [f"{_clean(k)}: {_clean(v)}" for k, v in sorted(alert.annotations.items())]
    lines.append("")
    lines.append(f"startsAt: {_clean(alert.startsAt)}")
    if alert.status == "resolved" and alert.endsAt:
        lines.append(f"endsAt: {_clean(alert.endsAt)}")
    if alert.generatorURL:
        lines.append(f"generatorURL: {_clean(alert.generatorURL)}")
    # The name is in the fence too; the heading itself is Piloto's own words.
    return t(lang, key) + "\n\n" + _fence(f"alertname: {_clean(name)}\n" + "\n".join(lines))


def question(alert: AmAlert, lang: str) -> str:
    """What the model is asked when an alert fires: investigate, and propose a fix."""
    return t(lang, "alert_question") + "\n\n" + describe(alert, lang)
