"""Runbooks (saved, parameterised plans) and schedules (consent given once to one)."""
