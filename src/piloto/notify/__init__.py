"""Notifications out: a durable outbox in the database, delivered by a background worker."""

from piloto.notify.repo import EVENTS, enqueue

__all__ = ["EVENTS", "enqueue"]
