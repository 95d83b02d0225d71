"""The conversation record: chats and their messages."""
