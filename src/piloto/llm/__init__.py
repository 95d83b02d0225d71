"""The LLM: one interface to OpenAI-compatible chat models, and a scripted server for tests."""

from piloto.llm.client import ChatModel, Completion, OpenAIChatClient, TextCallback, ToolCall
from piloto.llm.errors import ModelError, ModelErrorKind, map_openai_error

__all__ = [
    "ChatModel",
    "Completion",
    "ModelError",
    "ModelErrorKind",
    "OpenAIChatClient",
    "TextCallback",
    "ToolCall",
    "map_openai_error",
]
