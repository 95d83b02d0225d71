"""Piloto: a self-hosted operations copilot."""

__version__ = "0.1.0"
