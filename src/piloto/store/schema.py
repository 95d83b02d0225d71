"""Every table of Piloto, in SQLAlchemy Core. Timestamps are epoch seconds (float)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

ID = String(32)

projects = Table(
    "projects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("settings_json", Text, nullable=False, default="{}"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

chats = Table(
    "chats",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("language", String(5), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # 0004_copilot_loop: the model this chat's turns use (None: the configured default).
    Column("model", String(200), nullable=True),
    Index("ix_chats_project_created", "project_id", "created_at"),
)

chat_state = Table(
    "chat_state",
    metadata,
    Column("chat_id", ID, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("next_seq", BigInteger, nullable=False, default=0),
    Column("pending_run_id", ID, nullable=True),
    Column("active_run_id", ID, nullable=True),
    Column("last_run_id", ID, nullable=True),
    Column("last_run_status", String(20), nullable=True),
    Column("last_run_at", Float, nullable=True),
)

messages = Table(
    "messages",
    metadata,
    Column("id", ID, primary_key=True),
    Column("chat_id", ID, ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("role", String(20), nullable=False),
    Column("content", Text, nullable=False),
    Column("run_id", ID, nullable=True),
    Column("meta_json", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("chat_id", "seq", name="uq_messages_chat_seq"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("token_id", ID, ForeignKey("tokens.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("id", ID, primary_key=True),
    # "" for a global service: NULLs never collide in a UNIQUE constraint.
    Column("scope", String(32), nullable=False, default=""),
    Column("name", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("base_url", Text, nullable=True),
    Column("doc_url", Text, nullable=True),
    Column("command_json", Text, nullable=True),
    Column("url", Text, nullable=True),
    Column("credentials_enc", Text, nullable=True),
    Column("timeout_s", Float, nullable=False, default=30.0),
    Column("allow_offline", Boolean, nullable=False, default=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("honours_idempotency", Boolean, nullable=False, default=False),
    Column("status", String(10), nullable=False, default="offline"),
    Column("last_error", Text, nullable=True),
    Column("last_checked_at", Float, nullable=True),
    Column("spec_title", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("scope", "name", name="uq_services_scope_name"),
)

operations = Table(
    "operations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("service_id", ID, ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
    Column("operation_id", String(300), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("risk", String(12), nullable=False),
    Column("risk_override", String(12), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("spec_json", Text, nullable=False),
    UniqueConstraint("service_id", "operation_id", name="uq_operations_service_op"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("chat_id", ID, ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", ID, nullable=False),
    Column("status", String(12), nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("plan_json", Text, nullable=False),
    Column("plan_hash", String(64), nullable=False),
    Column("proposed_by", String(100), nullable=False),
    Column("confirmed_by", String(100), nullable=True),
    Column("confirmed_at", Float, nullable=True),
    Column("approved_by_policy", Boolean, nullable=False, default=False),
    Column("cancelled_by", String(100), nullable=True),
    Column("supersedes_run_id", ID, nullable=True),
    Column("error", Text, nullable=True),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    # 0002_consent: the person a typed "yes" must come from, the plan's risk (its highest
    # step's), how many different people must approve, and what failed step it corrects.
    Column("proposed_for", ID, nullable=True),
    Column("proposed_for_name", String(100), nullable=True),
    Column("risk", String(12), nullable=True),
    Column("approvals_required", Integer, nullable=True),
    Column("corrects_json", Text, nullable=True),
    Index("ix_runs_status", "status"),
    Index("ix_runs_chat", "chat_id", "created_at"),
)

steps = Table(
    "steps",
    metadata,
    Column("id", ID, primary_key=True),
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("service", String(64), nullable=False),
    Column("operation", String(300), nullable=False),
    Column("arguments_json", Text, nullable=False),
    Column("risk", String(12), nullable=False, default="write"),
    Column("status", String(12), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("idempotency_key", String(80), nullable=False),
    Column("request_summary", Text, nullable=True),
    Column("response_json", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    # 0002_consent: why the step has its risk, and look-alike characters the card flags.
    Column("risk_reason", Text, nullable=True),
    Column("warnings_json", Text, nullable=True),
    UniqueConstraint("run_id", "idx", name="uq_steps_run_idx"),
)

# 0002_consent: one row per person who approved a run (the two-person rule).
approvals = Table(
    "approvals",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("principal", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("plan_hash", String(64), nullable=False),
    Column("at", Float, nullable=False),
)

# 0004_copilot_loop: the tool call (or slash command) a plan came from, and its follow-up turn.
plan_calls = Table(
    "plan_calls",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("chat_id", ID, nullable=False),
    Column("kind", String(10), nullable=False),  # "model" | "direct"
    Column("calls_json", Text, nullable=False),  # [{"id", "name", "arguments"}]
    Column("origin_seq", BigInteger, nullable=False),  # the person's message the loop began at
    Column("auto_turn", Integer, nullable=False),  # 0: answering a person; n: n-th automatic turn
    Column("followup", String(12), nullable=False),  # pending | claimed | done
    Column("created_at", Float, nullable=False),
    Index("ix_plan_calls_chat", "chat_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(12), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_json", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("chat_id", ID, nullable=False),
    Column("type", String(40), nullable=False),
    Column("data_json", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_events_chat_id", "chat_id", "id"),
    # 0005_runner: the position in the chat's stream, assigned at commit (store/eventlog.py).
    Column("seq", BigInteger, nullable=True),
    Index("ux_events_chat_seq", "chat_id", "seq", unique=True),
)

# 0005_runner: each chat's last event seq; its row is locked by the committing writer.
event_seqs = Table(
    "event_seqs",
    metadata,
    Column("chat_id", ID, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

# 0005_runner: the secret key's record (one row, id 1): a fingerprint, and the key wrapped
# under PILOTO_SECRET_KEY when that is set (services/keyring.py).
secret_key = Table(
    "secret_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", String(64), nullable=False),
    Column("wrapped", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("ts", Float, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("project_id", ID, nullable=True),
    Column("chat_id", ID, nullable=True),
    Column("run_id", ID, nullable=True),
    Column("step_id", ID, nullable=True),
    Column("plan_hash", String(64), nullable=True),
    Column("request_summary", Text, nullable=True),
    Column("response_summary", Text, nullable=True),
    Column("outcome", String(40), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # NULL: written before the chain was keyed (plain SHA-256); else "hmac-sha256".
    Column("alg", String(16), nullable=True),
)

# The audit chain's head (one row, id 1), HMAC-signed, updated in each append's transaction.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
    Column("updated_at", Float, nullable=False),
)

# 0006_runbooks: saved plans with parameters, and schedules: consent given once to a runbook's
# exact content (``runbook_hash``), fired by a conditional UPDATE on ``next_run_at``.
runbooks = Table(
    "runbooks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("summary", Text, nullable=False),
    Column("steps_json", Text, nullable=False),
    Column("parameters_json", Text, nullable=False),
    Column("triggers_json", Text, nullable=False),
    Column("plan_hash", String(64), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("project_id", "name", name="uq_runbooks_project_name"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("runbook_id", ID, ForeignKey("runbooks.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", ID, nullable=False),
    Column("chat_id", ID, ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    Column("cron", String(100), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("arguments_json", Text, nullable=False),
    Column("runbook_hash", String(64), nullable=False),
    Column("risk", String(12), nullable=False),
    Column("approvals_required", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # active | paused | pending_approval
    Column("paused_reason", Text, nullable=True),
    Column("next_run_at", Float, nullable=True),
    Column("last_run_id", ID, nullable=True),
    Column("last_fired_at", Float, nullable=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_schedules_due", "status", "next_run_at"),
)

schedule_approvals = Table(
    "schedule_approvals",
    metadata,
    Column("schedule_id", ID, ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True),
    Column("principal", ID, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("runbook_hash", String(64), nullable=False),
    Column("at", Float, nullable=False),
)

instances = Table(
    "instances",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

# 0007_alerts_notify: the notification outbox (an event, then one delivery per destination).
notifications = Table(
    "notifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("event", String(40), nullable=False),
    Column("project_id", ID, nullable=True),
    Column("chat_id", ID, nullable=True),
    Column("run_id", ID, nullable=True),
    Column("text", Text, nullable=False),
    Column("expanded", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Index("ix_notifications_expanded", "expanded", "created_at"),
)

notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "notification_id", ID, ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False
    ),
    Column("url", Text, nullable=False),
    Column("status", String(12), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", Float, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("sent_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_notification_deliveries_due", "status", "next_at"),
)

# 0007_alerts_notify: one chat per Alertmanager group (sha256 of its groupKey) per project,
# and the alerts already posted (sha256 of fingerprint, status and start): bursts post once.
alert_groups = Table(
    "alert_groups",
    metadata,
    Column("project_id", ID, primary_key=True),
    Column("group_key", String(64), primary_key=True),
    Column("chat_id", ID, ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
)

alerts_seen = Table(
    "alerts_seen",
    metadata,
    Column("project_id", ID, primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("chat_id", ID, ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
)
