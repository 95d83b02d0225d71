"""The audit trail: append-only, hash-chained records of every decision and step."""
