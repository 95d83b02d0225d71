"""Parse a shell command (bashlex) into the simple commands it would run, wrappers unwrapped."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bashlex

from piloto.policy import paths, unwrap
from piloto.policy.models import PolicyParseError, Redirect, SimpleCommand
from piloto.policy.quoting import ansi_escapes, decode_ansi_c
from piloto.policy.rewrite import rewrite

MAX_DEPTH = 8
# What a program name may look like; anything else ($X, $(…), globs, {a,b}) is computed at run time.
_PLAIN_PROGRAM = re.compile(r"[\w.+@%:/~,-]+|\[\[?")
_ECHOES = frozenset({"echo", "printf"})
_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)")
_ELEMENT = re.compile(r"[A-Za-z_]\w*\[[^\]]*\]\+?=.*", re.S)
_DECLARERS = frozenset({"export", "declare", "typeset", "local", "readonly"})


def parse_command(cmd: str) -> list[SimpleCommand]:
    """The simple commands `cmd` would run, in order, nested ones included; raises PolicyParseError."""
    walker = _Walker()
    walker.parse(cmd, _Ctx(text=cmd))
    return walker.records


@dataclass(frozen=True)
class _Ctx:
    text: str
    parent: int | None = None
    via: str = ""
    wrappers: tuple[str, ...] = ()
    depth: int = 0
    function: str | None = None
    pipe: tuple[int, int] | None = None


class _Walker:
    def __init__(self) -> None:
        self.records: list[SimpleCommand] = []
        self._pipelines = 0
        self._cwd: str | None = None
        self._vars: dict[str, str] = {}

    def parse(self, text: str, ctx: _Ctx) -> None:
        if ctx.depth > MAX_DEPTH:
            raise PolicyParseError(f"commands are nested more than {MAX_DEPTH} levels deep")
        if "\x00" in text:
            raise PolicyParseError("the command contains a NUL byte")
        if not text.strip():
            return
        try:
            trees = bashlex.parse(text)
        # bashlex raises ParsingError, NotImplementedError (case, arithmetic, `time`) and, on
        # odd input, plain IndexError/TypeError; then the forms it lacks are rewritten into ones
        # it has, and what still fails means "cannot judge this safely".
        except Exception as exc:
            first = exc
            try:
                text = rewrite(text)
                trees = bashlex.parse(text)
            except PolicyParseError:
                raise PolicyParseError(_describe(first)) from first
            except Exception as again:
                raise PolicyParseError(_describe(again)) from again
        for tree in trees:
            self._node(tree, dataclasses.replace(ctx, text=text, pipe=None))

    def _node(self, node: Any, ctx: _Ctx) -> None:
        kind = node.kind
        if kind == "list":
            parts = node.parts
            for i, part in enumerate(parts):
                if part.kind == "operator":
                    continue
                start = len(self.records)
                self._node(part, ctx)
                after = parts[i + 1] if i + 1 < len(parts) else None
                if after is not None and after.kind == "operator" and after.op == "&":
                    for j in range(start, len(self.records)):
                        self.records[j] = dataclasses.replace(self.records[j], background=True)
        elif kind == "pipeline":
            pipeline = self._new_pipeline()
            stage = 0
            for part in node.parts:
                if part.kind in ("pipe", "reservedword"):
                    continue
                self._node(part, dataclasses.replace(ctx, pipe=(pipeline, stage)))
                stage += 1
        elif kind == "compound":
            for part in node.list:
                if part.kind != "reservedword":
                    self._node(part, ctx)
            redirects = getattr(node, "redirects", None) or []
            if redirects:
                # `{ …; } > f` writes f with the group's output: it does not just empty it.
                self._emit(
                    [],
                    self._redirects(redirects, ctx),
                    dataclasses.replace(ctx, via=ctx.via or "group"),
                    None,
                )
        elif kind in ("if", "for", "while", "until"):
            for part in node.parts:
                if part.kind == "word":
                    self._substitutions(part, ctx, None)
                elif part.kind != "reservedword":
                    self._node(part, ctx)
        elif kind == "function":
            self._node(node.body, dataclasses.replace(ctx, function=node.name.word))
        elif kind == "command":
            self._command(node, ctx)
        elif kind not in ("operator", "pipe", "reservedword"):
            raise PolicyParseError(f"unsupported shell construct ({kind})")

    def _new_pipeline(self) -> int:
        self._pipelines += 1
        return self._pipelines

    def _command(self, node: Any, ctx: _Ctx) -> None:
        words: list[Any] = []
        redirect_nodes: list[Any] = []
        assignments: list[Any] = []
        for part in node.parts:
            if part.kind == "word":
                words.append(part)
            elif part.kind == "redirect":
                redirect_nodes.append(part)
            elif part.kind == "assignment":
                assignments.append(part)
            else:
                raise PolicyParseError(f"unsupported part of a command ({part.kind})")
        argv = [_word_value(w, ctx.text) for w in words]
        # `m[key]=v` (bashlex sees a word): an array element assignment, not a program.
        elements = 0
        while elements < len(argv) and _ELEMENT.fullmatch(argv[elements]):
            elements += 1
        redirects = self._redirects(redirect_nodes, ctx)
        stdin_text = _stdin_text(redirect_nodes)
        named = words[elements:]
        computed = bool(named) and _is_computed(named[0], argv[elements], ctx.text)
        sets = tuple(_word_value(a, ctx.text) for a in assignments) + tuple(argv[:elements])
        argv = argv[elements:]
        index = self._emit(argv, redirects, ctx, stdin_text, computed=computed, assignments=sets)
        expanded = [*argv[:1], *(self._expand(a) for a in argv[1:])]
        if expanded != argv and not computed:
            # `D=/; rm -rf $D`: judge the arguments as they will be, too (a shadow record).
            shadow = dataclasses.replace(ctx, parent=index, via="expanded", pipe=None)
            self._emit(expanded, redirects, shadow, stdin_text)
        self._remember(argv, sets)
        for part in [*assignments, *words]:
            self._substitutions(part, ctx, index)
        for redirect in redirect_nodes:
            target = getattr(redirect, "output", None)
            if target is not None and not isinstance(target, int):
                self._substitutions(target, ctx, index)

    def _expand(self, word: str) -> str:
        """The word with variables set literally earlier in the command substituted."""
        if "$" not in word or not self._vars:
            return word
        return _VARIABLE.sub(lambda m: self._vars.get(m.group(1) or m.group(2), m.group(0)), word)

    def _remember(self, argv: list[str], sets: tuple[str, ...]) -> None:
        """Literal `NAME=value` assignments (bare or exported) for later commands' arguments."""
        if argv and unwrap.basename(argv[0]) not in _DECLARERS:
            return
        for word in sets + tuple(argv[1:]):
            name, equals, value = word.partition("=")
            if equals and re.fullmatch(r"[A-Za-z_]\w*", name):
                if "$" in value or "`" in value:
                    self._vars.pop(name, None)
                else:
                    self._vars[name] = value

    def _redirects(self, nodes: list[Any], ctx: _Ctx) -> tuple[Redirect, ...]:
        found: list[Redirect] = []
        for node in nodes:
            output = node.output
            fd = node.input if isinstance(node.input, int) else None
            target = "" if isinstance(output, int) else _word_value(output, ctx.text)
            if node.type == ">&" and not isinstance(output, int) and not target.isdigit():
                found.append(Redirect(">", target, fd))  # `>& file` writes the file
            else:
                found.append(Redirect(node.type, target, fd))
        return tuple(found)

    def _substitutions(self, word: Any, ctx: _Ctx, parent: int | None) -> None:
        for part in getattr(word, "parts", None) or []:
            if part.kind in ("commandsubstitution", "processsubstitution"):
                via = (
                    "substitution" if part.kind == "commandsubstitution" else "process-substitution"
                )
                inner = dataclasses.replace(ctx, parent=parent, via=via, pipe=None)
                self._node(part.command, inner)
            elif part.kind not in ("parameter", "tilde"):
                self._substitutions(part, ctx, parent)

    def _emit(
        self,
        argv: list[str],
        redirects: tuple[Redirect, ...],
        ctx: _Ctx,
        stdin_text: str | None,
        *,
        computed: bool = False,
        assignments: tuple[str, ...] = (),
    ) -> int:
        """Record one command, unwrapping wrappers; returns the record's index."""
        wrappers = ctx.wrappers
        sets = list(assignments)
        while argv and not computed:
            computed = not _PLAIN_PROGRAM.fullmatch(argv[0])
            stripped = None if computed else unwrap.strip_prefix(argv)
            if stripped is None:
                break
            peeled = argv[1 : len(argv) - len(stripped[1])]
            sets += [a for a in peeled if unwrap.is_assignment(a)]
            wrappers = (*wrappers, stripped[0])
            argv = stripped[1]
        if argv and unwrap.basename(argv[0]) in _DECLARERS:
            sets += [a for a in argv[1:] if unwrap.is_assignment(a)]
        if ctx.pipe is None:
            ctx = dataclasses.replace(ctx, pipe=(self._new_pipeline(), 0))
        assert ctx.pipe is not None
        program = argv[0] if argv else ""
        name = "" if computed or not argv else unwrap.basename(program)
        args = argv[1:]
        script = None if computed else unwrap.shell_script(name, args)
        record = SimpleCommand(
            program=program,
            argv=tuple(argv),
            name=name,
            redirects=redirects,
            wrappers=wrappers,
            computed=computed,
            unwrapped=script is not None and script.unwrapped,
            code=() if computed else unwrap.inline_code(name, args),
            stdin_code=not computed and unwrap.reads_code_from_stdin(name, args),
            stdin_text=stdin_text,
            pipeline=ctx.pipe[0],
            stage=ctx.pipe[1],
            parent=ctx.parent,
            via=ctx.via,
            function=ctx.function,
            cwd=self._cwd,
            assignments=tuple(sets),
        )
        index = len(self.records)
        self.records.append(record)
        if name in ("cd", "pushd"):
            self._cwd = _next_cwd(self._cwd, args)
        nested = dataclasses.replace(
            ctx, parent=index, wrappers=wrappers, depth=ctx.depth + 1, pipe=None
        )
        if script is not None:
            self.parse(script.text, dataclasses.replace(nested, via=script.via))
        if record.stdin_code:
            fed = stdin_text if stdin_text is not None else self._echoed_into(record)
            if fed is not None and (name in unwrap.SHELLS or name in unwrap.SCHEDULERS):
                self.parse(fed, dataclasses.replace(nested, via="stdin"))
            elif fed is not None:  # python/perl/… reading its program from stdin
                record = dataclasses.replace(record, code=(*record.code, fed))
                self.records[index] = record
        for inner in self._exec_argvs(record):
            self._emit(inner, (), dataclasses.replace(nested, via="exec"), None)
        return index

    def _previous_stage(self, record: SimpleCommand) -> SimpleCommand | None:
        for earlier in reversed(self.records):
            if earlier.pipeline == record.pipeline and earlier.stage == record.stage - 1:
                return earlier
        return None

    def _echoed_into(self, record: SimpleCommand) -> str | None:
        """The text `echo …` / `printf …` pipes into this command, when it is literal."""
        before = self._previous_stage(record) if record.stage > 0 else None
        if before is None or before.name not in _ECHOES:
            return None
        words = [a for a in before.args if not (before.name == "echo" and a in ("-n", "-e", "-E"))]
        text = " ".join(words)
        # printf and echo -e turn \x72\x6d into `rm`: judge what the shell will read.
        return ansi_escapes(text) if before.name == "printf" or "-e" in before.args else text

    def _exec_argvs(self, record: SimpleCommand) -> list[list[str]]:
        if record.computed:
            return []
        argvs = unwrap.exec_argvs(record.name, record.args)
        if record.name != "xargs" or not argvs:
            return argvs
        fed = record.stdin_text if record.stdin_text is not None else self._echoed_into(record)
        if not fed:
            return argvs
        # `echo / | xargs rm -rf` and `xargs -I{} rm -rf {} <<< /` run `rm -rf /`.
        items = fed.split()[:16]
        marker = unwrap.xargs_replace(record.args)
        if marker is None:
            return [[*argvs[0], *items]]
        return [[arg.replace(marker, item) for arg in argvs[0]] for item in items]


def _word_value(word: Any, text: str) -> str:
    """The word after quote removal; ANSI-C quoting ($'\\x72m') is decoded here, bashlex cannot."""
    raw = text[word.pos[0] : word.pos[1]]
    if "$'" in raw:
        return decode_ansi_c(raw)
    value: str = word.word
    return value


def _is_computed(word: Any, value: str, text: str) -> bool:
    parts = getattr(word, "parts", None) or []
    if "$'" in text[word.pos[0] : word.pos[1]]:
        parts = []  # bashlex mistakes $'…' for a parameter; _word_value decoded it
    return any(p.kind != "tilde" for p in parts) or not _PLAIN_PROGRAM.fullmatch(value)


def _stdin_text(nodes: list[Any]) -> str | None:
    for node in nodes:
        if node.type == "<<<" and not isinstance(node.output, int):
            return str(node.output.word)
        heredoc = getattr(node, "heredoc", None)
        if heredoc is not None:
            body = str(heredoc.value)
            return body.rsplit("\n", 1)[0] if "\n" in body else ""
    return None


def _next_cwd(cwd: str | None, args: Sequence[str]) -> str | None:
    targets = [a for a in args if not a.startswith("-")]
    if "-" in args:
        return None
    if not targets:
        return paths.HOME if not args else cwd
    resolved = paths.resolve(targets[0], cwd)
    return resolved if resolved.startswith("/") else None


def _describe(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, NotImplementedError):
        text = f"bashlex does not support this construct ({text})"
    return text.splitlines()[0][:200]
