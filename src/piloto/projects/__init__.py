"""Projects: the unit that owns chats, services and per-project policy."""
