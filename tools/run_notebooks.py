"""Ejecuta los cuadernos de principio a fin y guarda sus salidas (un «Restart & Run All»).

Uso: python tools/run_notebooks.py [notebooks/NN-....ipynb ...]   (sin argumentos: todos)

Las salidas que se suben al repositorio salen siempre de aquí, nunca se editan a mano:
las pruebas (nbval) comparan con ellas cada celda.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
GROUP_GRACE = 2.0  # segundos que se espera a que los hijos del núcleo terminen con él


class CurrentEnvironment(KernelSpecManager):
    """El núcleo `python3` es el Python que ejecuta este guion (como --nbval-current-env)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (ipykernel)",
            language="python",
        )


def run(path: Path, timeout: int) -> float:
    """Ejecuta el cuaderno `path` en un núcleo nuevo y lo reescribe; devuelve los segundos."""
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvironment())
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
        elapsed = time.perf_counter() - start  # las celdas, sin el apagado
    finally:
        _shutdown(km, path)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(nb, path)
    return elapsed


def _shutdown(km: KernelManager, path: Path) -> None:
    """Apaga el núcleo de `path` y termina lo que dejó vivo en su grupo de procesos.

    nbclient no apaga un núcleo que no creó él. Sin esto, cada cuaderno dejaría su núcleo
    (servidores, *pools*) en marcha junto a los siguientes hasta el final del guion. Y si una
    celda falla, las celdas que cierran los *pools* no llegan a ejecutarse: al apagarse el
    núcleo, sus procesos hijos quedarían huérfanos, con la salida de este guion abierta.
    jupyter_client arranca el núcleo en un grupo de procesos propio: lo que quede en él
    después del apagado ordenado es de este cuaderno.
    """
    if not km.has_kernel:  # falló antes de arrancarlo
        return
    group = getattr(km.provisioner, "pgid", None)
    km.shutdown_kernel()
    if group is None:
        return
    deadline = time.monotonic() + GROUP_GRACE
    while _members(group) and time.monotonic() < deadline:
        time.sleep(0.05)  # los hijos que terminan con el núcleo (el resource_tracker...)
    if left := _members(group):
        print(f"\n{path.name}: tras apagar el núcleo seguían vivos {left}; se terminan")
        os.killpg(group, signal.SIGKILL)


def _members(group: int) -> list[str]:
    """Devuelve las órdenes de los procesos vivos del grupo `group` (vacía si no queda ninguno)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return []
    if not Path("/proc").is_dir():  # fuera de Linux, sin nombres
        return ["(sin nombre)"]
    names = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().rsplit(")", 1)
        except OSError:  # terminó mientras mirábamos
            continue
        state, _, pgrp = fields.split()[:3]
        if pgrp == str(group) and state != "Z":  # un zombi ya terminó: falta que lo recojan
            names.append(name.split("(", 1)[1])
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="cuadernos (por defecto, todos)")
    parser.add_argument("--timeout", type=int, default=120, help="segundos por celda (120)")
    args = parser.parse_args()
    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    for path in paths:
        print(f"{path.name}: ejecutando...", end=" ", flush=True)
        print(f"{run(path, args.timeout):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
