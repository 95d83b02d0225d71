"""What each risk code means, in words a person reads, in English and Spanish."""

from __future__ import annotations

# code -> (English, Spanish). Keep the codes stable: callers and the UI key on them.
TEXTS: dict[str, tuple[str, str]] = {
    "read": ("only reads or inspects", "solo lee o consulta"),
    "write": ("changes files or settings", "cambia archivos o ajustes"),
    "unknown": (
        "runs a program the policy does not know",
        "ejecuta un programa que la política no conoce",
    ),
    "redirect": ("writes to a file", "escribe en un archivo"),
    "environment": ("sets environment variables", "define variables de entorno"),
    "install": ("installs or updates packages", "instala o actualiza paquetes"),
    "service": ("starts or reloads services", "inicia o recarga servicios"),
    "network": (
        "changes the network or talks to another machine",
        "cambia la red o se conecta con otra máquina",
    ),
    "container": ("changes containers or the cluster", "cambia contenedores o el clúster"),
    "delete": ("deletes files", "borra archivos"),
    "destroy": ("deletes, stops or removes something", "borra, detiene o elimina algo"),
    "security": (
        "turns off or weakens security controls",
        "desactiva o debilita controles de seguridad",
    ),
    "truncate": ("empties files", "vacía archivos"),
    "kill": ("kills processes", "mata procesos"),
    "service-stop": ("stops or restarts services", "detiene o reinicia servicios"),
    "container-stop": (
        "stops, removes or scales containers",
        "detiene, elimina o escala contenedores",
    ),
    "firewall": ("changes the firewall", "cambia el cortafuegos"),
    "mount": ("mounts or unmounts filesystems", "monta o desmonta sistemas de archivos"),
    "users": ("changes users or permissions", "cambia usuarios o permisos"),
    "disk": ("writes to disks or partitions", "escribe en discos o particiones"),
    "database": ("changes a database", "cambia una base de datos"),
    "history": (
        "discards version-control history or changes",
        "descarta historial o cambios del control de versiones",
    ),
    "uninstall": ("removes packages", "elimina paquetes"),
    "inline-code": ("runs inline code", "ejecuta código en línea"),
    "script": (
        "runs a script the policy cannot see",
        "ejecuta un script que la política no puede ver",
    ),
    "hidden-code": (
        "runs code the policy cannot see",
        "ejecuta código que la política no puede ver",
    ),
    "dynamic": (
        "runs a program whose name is computed at run time",
        "ejecuta un programa cuyo nombre se calcula al ejecutarse",
    ),
    "alias": ("defines aliases or functions", "define alias o funciones"),
    "preload": (
        "sets a variable that makes programs load other code",
        "define una variable que hace que los programas carguen otro código",
    ),
    "socket": ("opens raw network connections", "abre conexiones de red directas"),
    "remote-exec": (
        "runs commands inside a container or another machine",
        "ejecuta órdenes dentro de un contenedor o en otra máquina",
    ),
    "kernel": ("loads or unloads kernel modules", "carga o descarga módulos del núcleo"),
    "blocked": ("is refused", "está rechazada"),
    "unparseable": ("cannot be parsed safely", "no se puede analizar con seguridad"),
    "hidden-character": (
        "holds invisible or direction-changing characters",
        "contiene caracteres invisibles o que cambian la dirección del texto",
    ),
    "allowlist": (
        "runs something this project's allowlist does not allow",
        "ejecuta algo que la lista permitida del proyecto no admite",
    ),
}


def risk_reason(code: str, lang: str = "en", detail: str = "") -> str:
    """The risk reason for `code` in `lang` ("en" or "es"), with `detail` in parentheses."""
    english, spanish = TEXTS.get(code, TEXTS["unknown"])
    text = spanish if lang.lower().startswith("es") else english
    return f"{text} ({detail})" if detail else text
