"""Lo que pytest debe hacer antes de cargar sus complementos.

nbformat (que importan nbval, nbclient y varias pruebas) importa jsonschema, y jsonschema
importa rfc3987_syntax si está instalado (lo trae jupyter-events). Ese módulo compila sus
gramáticas al importarse: de 2 a 6 s en cada proceso de pytest, y la CI arranca nueve. Solo
valida los formatos «iri» de un esquema, que ningún cuaderno usa; sin él, jsonschema los
omite. Por eso nbval no se carga solo (`-p no:nbval` en pyproject.toml), sino desde aquí,
después de apartar ese módulo.

Además, el arranque de los núcleos de nbval se reintenta si el núcleo muere antes de
responder (la carrera por los puertos: ver _start_new_kernel_retrying).
"""

import sys
import warnings

sys.modules.setdefault("rfc3987_syntax", None)

pytest_plugins = ["nbval.plugin"]

import nbval.kernel  # noqa: E402  (después de apartar rfc3987_syntax)

_start_new_kernel = nbval.kernel.start_new_kernel
KERNEL_ATTEMPTS = 3


def _start_new_kernel_retrying(*args, **kwargs):
    """Arranca el núcleo de un cuaderno; si muere antes de responder, lo intenta otra vez.

    jupyter_client elige cinco puertos libres, los suelta, escribe el archivo de conexión y
    lanza el núcleo, que los vuelve a abrir. Entre soltarlos y abrirlos pasa cerca de un
    segundo (más en una máquina ocupada), y en ese rato cualquier otro proceso puede tomar uno:
    aquí, el cuaderno que se ejecuta en el otro proceso de pytest, que abre servidores en el
    puerto 0. ipykernel no reintenta un puerto que le dieron (EADDRINUSE), muere, y nbval da
    por fallidas todas las celdas del cuaderno. Con puertos nuevos la carrera no se repite; un
    núcleo que no arranca por otra razón falla igual las tres veces.
    """
    for attempt in range(1, KERNEL_ATTEMPTS + 1):
        try:
            return _start_new_kernel(*args, **kwargs)
        except RuntimeError:
            if attempt == KERNEL_ATTEMPTS:
                raise
            warnings.warn(
                f"el núcleo murió al arrancar (intento {attempt} de {KERNEL_ATTEMPTS}); "
                "se arranca otro con puertos nuevos",
                stacklevel=2,
            )


nbval.kernel.start_new_kernel = _start_new_kernel_retrying
