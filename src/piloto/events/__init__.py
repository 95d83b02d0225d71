"""Live notifications: wake SSE streams when a chat's event log grows."""
