"""Effects of database clients: SQL and key-value commands that only read, and ones that change data."""

from __future__ import annotations

import re

from piloto.policy.effect import (
    Classifier,
    Effect,
    destructive,
    has_option,
    operands,
    option_value,
    read,
    words,
    write,
)
from piloto.policy.models import SimpleCommand

_SQL_READ_START = words(
    "select show explain describe desc values table pragma with begin commit rollback use set"
)
_SQL_WRITE = re.compile(
    r"\b(insert|update|delete|drop|truncate|alter|create|grant|revoke|replace|merge|upsert|copy|"
    r"rename|vacuum|reindex|call|do|execute|load|lock|import|attach|detach|kill|shutdown|purge|"
    r"optimize|repair|restore|flush|into\s+outfile|into\s+dumpfile|pg_terminate_backend|"
    r"pg_cancel_backend|lo_export|lo_import|pg_read_file|pg_read_binary_file|dblink_exec|"
    r"set_config|setval|nextval|pg_reload_conf|analyze)\b",
    re.I,
)
_SQL_STRING = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)
_META_READ = re.compile(r"\\(d\w*\+?|l\+?|dt|conninfo|x|timing|echo|encoding|h|\?|q|c(onnect)?)\b")


def sql_is_read(text: str) -> bool:
    """Whether every statement only reads (SELECT, SHOW, EXPLAIN, \\d…), nothing writes or runs."""
    bare = _SQL_STRING.sub("''", text)
    if _SQL_WRITE.search(bare) or "\\!" in bare or re.search(r"\\(o|w|i|ir|copy|g)\b", bare):
        return False
    for statement in bare.split(";"):
        statement = statement.strip()
        if not statement:
            continue
        if statement.startswith("\\"):
            if not _META_READ.match(statement):
                return False
            continue
        if statement.split()[0].lower() not in _SQL_READ_START:
            return False
    return True


def _sql_effect(cmd: SimpleCommand, texts: list[str]) -> Effect:
    if all(sql_is_read(t) for t in texts):
        return read(cmd)
    return destructive(cmd, "database")


def _stdin_unknown(cmd: SimpleCommand) -> bool:
    return cmd.stage > 0 or any(r.op == "<" for r in cmd.redirects)


def psql(cmd: SimpleCommand) -> Effect:
    """psql -c/-f, mysql -e, sqlite3 DB SQL: reads for SELECT, destructive for any change."""
    if cmd.name == "psql":
        texts = option_value(cmd, "-c", "--command", booleans="tAqXxnbeaEsS")
        if option_value(cmd, "-f", "--file"):
            return destructive(cmd, "database")
        if has_option(cmd, "-l", "--list", "-V", "--version"):
            return read(cmd)
    elif cmd.name in ("mysql", "mariadb"):
        texts = option_value(cmd, "-e", "--execute", booleans="BNrstvnqEHX")
        if has_option(cmd, "-V", "--version"):
            return read(cmd)
    else:  # sqlite3 [options] DB [SQL…]
        args = operands(cmd, ("-cmd", "-separator", "-nullvalue", "-newline"))
        texts = args[1:] + option_value(cmd, "-cmd")
        texts = [
            t.replace(".tables", "").replace(".schema", "").replace(".dump", "") for t in texts
        ]
        if any(
            re.search(
                r"(^|\n|;)\s*\.(shell|system|output|once|import|restore|save|load|backup|clone|excel)\b",
                t,
            )
            for t in texts
        ):
            return destructive(cmd, "hidden-code")
        texts = [t for t in texts if t.strip(" ;.") and not t.strip().startswith(".")]
        if not texts and cmd.stdin_text is None and not _stdin_unknown(cmd):
            return read(cmd) if args else write(cmd, "database")
    if cmd.stdin_text is not None:
        texts = [*texts, cmd.stdin_text]
    elif _stdin_unknown(cmd) and not texts:
        return destructive(cmd, "database")
    if not texts:
        return write(cmd, "database")
    return _sql_effect(cmd, texts)


def dump(cmd: SimpleCommand) -> Effect:
    """pg_dump/mysqldump print a dump; with an output file they write one."""
    out = option_value(cmd, "-f", "--file", "-r", "--result-file")
    return write(cmd) if out and out != ["-"] else read(cmd)


def mysqladmin(cmd: SimpleCommand) -> Effect:
    """mysqladmin status/ping read; drop/shutdown/kill/flush are destructive."""
    verbs = operands(cmd, ("-u", "-h", "-P", "-S"))
    if any(
        v.startswith(("drop", "shutdown", "kill", "flush", "purge", "password", "refresh"))
        for v in verbs
    ):
        return destructive(cmd, "database")
    reads = words("status ping processlist variables version extended-status")
    return read(cmd) if verbs and all(v in reads for v in verbs) else write(cmd, "database")


_REDIS_READ = words(
    "get mget keys scan info ping ttl pttl type exists llen lrange lindex hget hgetall hkeys hvals "
    "hlen hexists hscan hmget smembers scard sismember sscan zrange zrangebyscore zrevrange zscore "
    "zcard zcount zscan dbsize strlen getrange memory slowlog client config monitor echo time "
    "role lastsave object xlen xrange xrevrange xinfo pubsub command dump randomkey latency "
    "cluster sentinel"
)
_REDIS_SUB_WRITE = words(
    "set rewrite resetstat kill reset forget failover meet setslot pause no-evict"
)
_REDIS_DESTROY = words(
    "flushall flushdb del unlink shutdown debug eval evalsha evalro script fcall function module "
    "slaveof replicaof migrate restore rename renamenx acl swapdb"
)
_REDIS_VALUES = (
    "-h",
    "-p",
    "-a",
    "-n",
    "-u",
    "-s",
    "-r",
    "-i",
    "--user",
    "--pass",
    "--tls",
    "-d",
    "--cacert",
    "--cert",
    "--key",
    "--sni",
)


def redis(cmd: SimpleCommand) -> Effect:
    """redis-cli GET/KEYS/INFO read; FLUSHALL/DEL/CONFIG SET/EVAL are destructive."""
    if any(
        a
        in (
            "--scan",
            "--bigkeys",
            "--memkeys",
            "--latency",
            "--stat",
            "--hotkeys",
            "--version",
            "-v",
        )
        for a in cmd.args
    ):
        return read(cmd)
    args = operands(cmd, _REDIS_VALUES)
    if not args:
        return destructive(cmd, "database") if _stdin_unknown(cmd) else write(cmd, "database")
    verb = args[0].lower()
    if verb in _REDIS_DESTROY:
        return destructive(cmd, "database")
    if verb in _REDIS_READ:
        sub = args[1].lower() if len(args) > 1 else ""
        return destructive(cmd, "database") if sub in _REDIS_SUB_WRITE else read(cmd)
    return write(cmd, "database")


_MONGO_WRITE = re.compile(
    r"\b(drop\w*|remove|delete\w*|update\w*|insert\w*|replace\w*|rename\w*|create\w*|"
    r"findAndModify|findOneAnd\w+|bulkWrite|runCommand|adminCommand|eval|shutdownServer|"
    r"grant\w*|revoke\w*|load|run|exec\w*)\b"
)


def mongo(cmd: SimpleCommand) -> Effect:
    """mongosh --eval: finds and counts read; anything that changes data is destructive."""
    code = option_value(cmd, "--eval")
    if not code:
        if operands(cmd)[1:] or _stdin_unknown(cmd) or cmd.stdin_text:
            return destructive(cmd, "database")
        return read(cmd) if has_option(cmd, "--version") else write(cmd, "database")
    return destructive(cmd, "database") if any(_MONGO_WRITE.search(c) for c in code) else read(cmd)


def etcd(cmd: SimpleCommand) -> Effect:
    """etcdctl get/member list read; del destructive; put write."""
    args = operands(cmd, ("--endpoints",))
    verb = args[0] if args else ""
    if verb in ("del", "defrag", "compaction") or args[:2] == ["member", "remove"]:
        return destructive(cmd, "database")
    return (
        read(cmd)
        if verb in ("get", "member", "endpoint", "version", "watch", "alarm")
        else write(cmd, "database")
    )


def db_admin(cmd: SimpleCommand) -> Effect:
    """dropdb, dropuser, pg_restore, mongorestore replace or delete data."""
    if cmd.name in ("pg_restore",) and has_option(cmd, "-l", "--list"):
        return read(cmd)
    return destructive(cmd, "database")


CLASSIFIERS: dict[str, Classifier] = {
    **dict.fromkeys(("psql", "mysql", "mariadb", "sqlite3", "sqlite"), psql),
    **dict.fromkeys(("pg_dump", "pg_dumpall", "mysqldump", "mariadb-dump"), dump),
    "mysqladmin": mysqladmin,
    **dict.fromkeys(("redis-cli", "valkey-cli", "keydb-cli"), redis),
    **dict.fromkeys(("mongo", "mongosh"), mongo),
    "etcdctl": etcd,
    **dict.fromkeys(
        ("dropdb", "dropuser", "pg_restore", "mongorestore", "pg_dropcluster", "redis-check-aof"),
        db_admin,
    ),
    **dict.fromkeys(
        ("createdb", "createuser", "mongodump", "mongoimport", "mongoexport"),
        lambda c: write(c, "database"),
    ),
}
