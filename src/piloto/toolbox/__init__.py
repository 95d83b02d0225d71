"""The bundled tool service: /health, /system/info and sandboxed /command."""

from piloto.toolbox.app import create_toolbox_app
from piloto.toolbox.config import ToolboxConfig, ToolboxConfigError
from piloto.toolbox.execute import CommandResult, run_in_sandbox
from piloto.toolbox.sandbox import Sandbox, SandboxUnavailable, prepare_sandbox
from piloto.toolbox.server import (
    RunningToolbox,
    serve_toolbox,
    start_toolbox,
    start_toolbox_in_thread,
)

__all__ = [
    "CommandResult",
    "RunningToolbox",
    "Sandbox",
    "SandboxUnavailable",
    "ToolboxConfig",
    "ToolboxConfigError",
    "create_toolbox_app",
    "prepare_sandbox",
    "run_in_sandbox",
    "serve_toolbox",
    "start_toolbox",
    "start_toolbox_in_thread",
]
