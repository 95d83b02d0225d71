"""Effects of git, containers, clusters and infrastructure tools, verb by verb."""

from __future__ import annotations

from piloto.policy.effect import (
    Classifier,
    Effect,
    destructive,
    has_option,
    operands,
    read,
    verb_effect,
    words,
    write,
)
from piloto.policy.models import SimpleCommand

_GIT_READ = words(
    "status log diff show blame shortlog describe rev-parse rev-list ls-files ls-tree ls-remote "
    "grep cat-file show-ref for-each-ref count-objects whatchanged cherry name-rev merge-base "
    "verify-commit verify-tag help version var check-ignore check-attr show-branch range-diff"
)
# Configuration keys that make git run a program: setting them is running code.
_GIT_CODE_KEYS = (
    "alias.",
    "core.pager",
    "core.editor",
    "core.sshcommand",
    "core.fsmonitor",
    "core.hookspath",
    "core.askpass",
    "core.gitproxy",
    "diff.",
    "filter.",
    "merge.",
    "pager.",
    "sequence.editor",
    "credential.helper",
    "gpg.program",
    "uploadpack.",
    "receivepack.",
    "remote.",
    "protocol.",
    "url.",
    "include.",
    "includeif.",
)
_GIT_GLOBAL_VALUES = (
    "-C",
    "-c",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--exec-path",
    "--config-env",
)


def _git_split(cmd: SimpleCommand) -> tuple[list[str], list[str]]:
    """(global options, the verb and its arguments)."""
    args = list(cmd.args)
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in _GIT_GLOBAL_VALUES else 1
    return args[:i], args[i:]


def git(cmd: SimpleCommand) -> Effect:
    """Read verbs read; force pushes, hard resets, cleans and branch deletes are destructive."""
    globals_, rest = _git_split(cmd)
    if any(
        g in ("-c", "--config-env") or g.startswith(("--exec-path", "--config-env"))
        for g in globals_
    ):
        return destructive(cmd, "hidden-code")
    if any(
        a.startswith(("ext::", "--upload-pack", "--receive-pack", "-u")) for a in rest[1:2] + rest
    ) and rest[:1] in (["clone"], ["fetch"], ["pull"], ["ls-remote"], ["push"], ["archive"]):
        return destructive(cmd, "hidden-code")
    verb = rest[0] if rest else "status"
    args = rest[1:]
    flags = {a for a in args if a.startswith("-")}
    if any(a.startswith(("--output", "--ext-diff")) for a in args) or (
        globals_ and {"-p", "--paginate"} & set(globals_)
    ):
        return write(cmd)
    if verb == "config":
        keys = [a.lower() for a in args if not a.startswith("-")]
        if any(k.startswith(_GIT_CODE_KEYS) for k in keys[:1]) and len(keys) > 1:
            return destructive(cmd, "hidden-code")
        listing = flags & {"--get", "--list", "-l", "--get-all", "--get-regexp", "--show-origin"}
        return (
            read(cmd)
            if listing
            or (
                len(keys) <= 1
                and not flags
                & {"--unset", "--unset-all", "--remove-section", "--rename-section", "-e", "--edit"}
            )
            else write(cmd)
        )
    if verb == "push":
        refs = [a for a in args if not a.startswith("-")]
        forced = flags & {
            "-f",
            "--force",
            "--force-with-lease",
            "--mirror",
            "--delete",
            "-d",
            "--prune",
            "--force-if-includes",
        }
        if forced or any(
            r.startswith(("+", ":")) or (":" in r and r.split(":", 1)[0] == "") for r in refs[1:]
        ):
            return destructive(cmd, "history")
        return write(cmd)
    if verb == "reset" and flags & {"--hard", "--merge", "--keep"}:
        return destructive(cmd, "history")
    if verb == "clean":
        forcing = (
            any(a.startswith("-") and not a.startswith("--") and "f" in a for a in args)
            or "--force" in flags
        )
        dry = (
            any(a.startswith("-") and not a.startswith("--") and "n" in a for a in args)
            or "--dry-run" in flags
        )
        return destructive(cmd, "delete") if forcing and not dry else read(cmd)
    if verb in ("branch", "tag"):
        if flags & {"-D", "-d", "--delete", "-M", "-C"} or any(
            a.startswith("-") and not a.startswith("--") and ("D" in a or "d" in a) for a in args
        ):
            return destructive(cmd, "history")
        names = [a for a in args if not a.startswith("-")]
        listing = flags & {
            "-l",
            "--list",
            "-a",
            "-r",
            "--all",
            "--remotes",
            "-v",
            "-vv",
            "--merged",
            "--no-merged",
            "--contains",
            "--show-current",
            "-n",
        }
        return read(cmd) if not names or listing else write(cmd)
    if verb in ("checkout", "switch") and (
        flags & {"-f", "--force", "--discard-changes"} or "--" in args or "." in args
    ):
        return destructive(cmd, "history")
    if verb == "restore" and not (flags & {"--staged", "-S"} and not flags & {"--worktree", "-W"}):
        return destructive(cmd, "history")
    if verb == "stash":
        sub = args[0] if args and not args[0].startswith("-") else "push"
        return verb_effect(
            cmd, sub, reads=words("list show"), destroys=words("drop clear"), destroy_code="history"
        )
    if verb == "remote":
        names = [a for a in args if not a.startswith("-")]
        return read(cmd) if not names or names[0] in ("show", "get-url") else write(cmd)
    if verb == "reflog":
        sub = args[0] if args else "show"
        return verb_effect(
            cmd,
            sub,
            reads=words("show exists"),
            destroys=words("expire delete"),
            destroy_code="history",
        )
    if verb in ("filter-branch", "filter-repo", "update-ref") and (
        verb != "update-ref" or "-d" in flags
    ):
        return destructive(cmd, "history")
    if verb == "gc" and any(a.startswith("--prune") for a in args):
        return destructive(cmd, "history")
    if verb in ("worktree", "submodule") and flags & {"-f", "--force"}:
        return destructive(cmd, "delete")
    return read(cmd) if verb in _GIT_READ else write(cmd)


_DOCKER_READ = words(
    "ps images logs inspect stats top port diff version info events history search ls list "
    "df config show"
)
_DOCKER_DESTROY = words("rm rmi kill stop restart pause prune down remove leave scale unpause-all")
_DOCKER_GROUPS = words(
    "container image volume network system builder buildx compose context node service stack "
    "secret plugin swarm manifest trust"
)
_DOCKER_VALUES = (
    "-H",
    "--host",
    "--context",
    "-c",
    "--config",
    "-l",
    "--log-level",
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--env-file",
    "--profile",
)


def docker(cmd: SimpleCommand) -> Effect:
    """ps/logs/inspect read; rm/kill/stop/prune destructive; exec runs a command inside."""
    args = operands(cmd, _DOCKER_VALUES)
    if cmd.name in ("docker-compose", "podman-compose"):
        args = ["compose", *args]
    if not args:
        return read(cmd)
    verb = args[0]
    if verb in _DOCKER_GROUPS and len(args) > 1:
        verb = args[1]
    if verb in ("exec", "attach", "debug"):
        return destructive(cmd, "remote-exec")
    if verb in ("run", "create", "up"):
        hosty = any(
            a in ("--privileged", "--pid=host", "--cap-add=ALL", "--cap-add=SYS_ADMIN")
            or a.startswith(("/:", "/var/run/docker.sock", "/etc:", "/root:"))
            for a in cmd.args
        )
        return destructive(cmd, "hidden-code") if hosty else write(cmd, "container")
    return verb_effect(
        cmd,
        verb,
        reads=_DOCKER_READ,
        destroys=_DOCKER_DESTROY,
        code="container",
        destroy_code="container-stop",
    )


_KUBE_READ = words(
    "get describe logs top version explain api-resources api-versions cluster-info events diff "
    "can-i whoami view get-contexts current-context get-clusters get-users status history wait"
)
_KUBE_DESTROY = words("delete scale drain restart undo evict uninstall rollback destroy")
_KUBE_VALUES = (
    "-n",
    "--namespace",
    "--context",
    "--kubeconfig",
    "--cluster",
    "--user",
    "-l",
    "--selector",
    "-o",
    "--output",
    "-c",
    "--container",
    "--since",
    "--tail",
    "-f",
    "--filename",
    "--sort-by",
    "--field-selector",
)


def kubectl(cmd: SimpleCommand) -> Effect:
    """get/describe/logs read; delete/scale/drain/rollout restart destructive; exec runs inside."""
    args = operands(cmd, _KUBE_VALUES)
    if not args:
        return read(cmd)
    verb = args[0]
    if verb in ("exec", "attach", "debug", "cp") and verb != "cp":
        return destructive(cmd, "remote-exec")
    if verb in ("rollout", "config", "auth", "certificate") and len(args) > 1:
        verb = args[1]
    if verb in ("replace", "apply") and any(
        a in ("--force", "--prune") or a.startswith("--prune") for a in cmd.args
    ):
        return destructive(cmd, "container-stop")
    return verb_effect(
        cmd,
        verb,
        reads=_KUBE_READ,
        destroys=_KUBE_DESTROY,
        code="container",
        destroy_code="container-stop",
    )


def helm(cmd: SimpleCommand) -> Effect:
    """helm list/status/get/template read; uninstall/delete/rollback destructive."""
    args = operands(cmd, _KUBE_VALUES)
    verb = args[0] if args else ""
    return verb_effect(
        cmd,
        verb,
        reads=words(
            "list ls status get history show template search version lint env dependency repo"
        ),
        destroys=words("uninstall delete del un rollback"),
        code="container",
        destroy_code="container-stop",
    )


def terraform(cmd: SimpleCommand) -> Effect:
    """plan/show/validate/output read; destroy, apply -destroy and state rm destructive."""
    args = operands(cmd)
    verb = args[0] if args else ""
    if (
        verb == "destroy"
        or any(a in ("-destroy", "--destroy") for a in cmd.args)
        or args[:2] in (["state", "rm"], ["workspace", "delete"])
    ):
        return destructive(cmd, "delete")
    if verb == "state" and args[1:2] in (["list"], ["show"], ["pull"]):
        return read(cmd)
    if verb == "fmt" and has_option(cmd, "-check", "--check"):
        return read(cmd)
    return verb_effect(
        cmd,
        verb,
        reads=words("plan show validate output version providers graph"),
        code="container",
    )


CLASSIFIERS: dict[str, Classifier] = {
    "git": git,
    **dict.fromkeys(
        ("docker", "podman", "nerdctl", "docker-compose", "podman-compose", "crictl", "ctr"), docker
    ),
    **dict.fromkeys(("kubectl", "oc", "k3s", "microk8s.kubectl", "minikube", "kind"), kubectl),
    "helm": helm,
    **dict.fromkeys(("terraform", "tofu", "terragrunt", "pulumi"), terraform),
}
