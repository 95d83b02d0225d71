"""Alerts in: Prometheus Alertmanager's webhook opens (or updates) one chat per alert group."""
