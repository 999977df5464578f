"""Ejecuta los cuadernos de principio a fin y guarda sus salidas (un «Restart & Run All»).

Uso: python tools/run_notebooks.py [notebooks/NN-....ipynb ...]   (sin argumentos: todos)

Las salidas que se suben al repositorio salen siempre de aquí, nunca se editan a mano:
las pruebas (nbval) comparan con ellas cada celda.
"""

import argparse
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


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
    client.execute()
    elapsed = time.perf_counter() - start
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(nb, path)
    return elapsed


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
