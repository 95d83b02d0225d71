"""Settings from the environment (prefix ``PILOTO_``); built once by the CLI, passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of a Piloto instance; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="PILOTO_", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    admin_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: str = "INFO"
    language: Literal["en", "es"] = "en"

    demo: bool = True
    demo_toolbox_port: int = 0
    # The demo toolbox's sandbox: network for commands, admin opt-in to run non-read commands
    # without bubblewrap, private /tmp size and the work directory's quota (MiB).
    toolbox_network: Literal["none", "host"] = "none"
    toolbox_sandbox: Literal["auto", "bubblewrap", "rlimits"] = "auto"
    toolbox_unsandboxed: bool = False
    toolbox_tmp_mb: int = Field(default=64, gt=0)
    toolbox_disk_mb: int = Field(default=512, gt=0)

    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 2
    llm_stream: bool = True
    llm_context_tokens: int = 16000
    # native: tools sent as the API's `tools`; prompt: described in the system prompt and
    # parsed from text (models without native tool calling); auto: `tools` sent, text calls parsed too.
    llm_tools: Literal["native", "prompt", "auto"] = "auto"
    # Model turns Piloto starts on its own (after a run ends) per message from a person.
    llm_max_auto_turns: int = Field(default=3, ge=0)
    log_prompts: bool = False

    plan_ttl: int = 24 * 3600
    runner: bool = True
    runner_concurrency: int = 4
    lease_s: float = 30.0
    # Seconds between scans for due schedules (runbooks); 0 turns the scheduler off.
    scheduler_poll_s: float = 15.0
    heartbeat_s: float = 10.0
    retry_base_s: float = 1.0

    net_allow_loopback: bool = True
    net_allow_private: bool = True
    invoke_max_bytes: int = 1024 * 1024
    # HTTP edges: request body limits (413 beyond), who may scrape /metrics.
    max_body_bytes: int = 1024 * 1024
    max_document_bytes: int = 32 * 1024 * 1024
    metrics_token: SecretStr | None = None
    metrics_public: bool = False
    toolbox_token: SecretStr | None = None  # redacted from results and logs when set

    session_ttl: int = 7 * 24 * 3600

    # Notifications: webhook URLs every event goes to (each project may add its own), how long
    # one delivery may take, how many tries before it is marked failed, how often the outbox
    # is polled (a commit that enqueues also wakes the worker in this process).
    notify_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    notify_timeout_s: float = Field(default=10.0, gt=0)
    notify_max_attempts: int = Field(default=6, ge=1, le=50)
    notify_retry_base_s: float = Field(default=2.0, gt=0)
    notify_poll_s: float = Field(default=5.0, gt=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _cors_csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _notify_csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("notify_urls")
    @classmethod
    def _notify_http(cls, value: list[str]) -> list[str]:
        # The URL is not echoed: a webhook URL often carries its secret in the path.
        for index, url in enumerate(value, 1):
            if not url.lower().startswith(("http://", "https://")):
                raise ValueError(f"PILOTO_NOTIFY_URLS: URL #{index} is not http(s)")
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL for this instance's database."""
        return async_url(self.resolved_database_url)

    @property
    def resolved_database_url(self) -> str:
        """The database URL as configured, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'piloto.db').resolve()}"


def async_url(url: str) -> str:
    """Map a user-facing database URL to the async driver SQLAlchemy should use."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith("sqlite+aiosqlite://"):
        return url
    raise ValueError(
        f"unsupported database URL scheme in {url.split(':', 1)[0]!r}: "
        "use sqlite:///path or postgresql://user@host/db"
    )


def sync_url(url: str) -> str:
    """Map a user-facing database URL to the sync driver Alembic uses."""
    aurl = async_url(url)
    if aurl.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + aurl[len("sqlite+aiosqlite://") :]
    return aurl
