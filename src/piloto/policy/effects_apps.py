"""Effects of containers, clusters and infrastructure tools, verb by verb."""

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
from piloto.policy.effects_git import git
from piloto.policy.models import SimpleCommand

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
