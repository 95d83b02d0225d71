"""Persistence: one schema, SQLite embedded or PostgreSQL, migrations applied at start."""
