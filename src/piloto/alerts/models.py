"""Alertmanager's webhook payload (version 4), validated: anything else is a 422 saying why."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Labels = dict[str, str]


class AmAlert(BaseModel):
    """One alert of a notification."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels = Field(max_length=200)
    annotations: Labels = Field(default_factory=dict, max_length=200)
    startsAt: str = Field(max_length=64)
    endsAt: str | None = Field(default=None, max_length=64)
    generatorURL: str = Field(default="", max_length=4000)
    fingerprint: str = Field(default="", max_length=200)


class AmWebhook(BaseModel):
    """A notification: a group of alerts sharing ``groupKey``."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=10000)
    status: Literal["firing", "resolved"]
    receiver: str = Field(default="", max_length=500)
    groupLabels: Labels = Field(default_factory=dict, max_length=200)
    commonLabels: Labels = Field(default_factory=dict, max_length=200)
    commonAnnotations: Labels = Field(default_factory=dict, max_length=200)
    externalURL: str = Field(default="", max_length=4000)
    truncatedAlerts: int = Field(default=0, ge=0)
    alerts: list[AmAlert] = Field(min_length=1, max_length=1000)

    def alertname(self) -> str:
        """The group's alert name (group labels first, then common ones, then the first alert)."""
        for labels in (self.groupLabels, self.commonLabels, self.alerts[0].labels):
            name = labels.get("alertname")
            if name:
                return name
        return "alert"
