"""Lo que pytest debe hacer antes de cargar sus complementos.

nbformat (que importan nbval, nbclient y varias pruebas) importa jsonschema, y jsonschema
importa rfc3987_syntax si está instalado (lo trae jupyter-events). Ese módulo compila sus
gramáticas al importarse: de 2 a 6 s en cada proceso de pytest, y la CI arranca nueve. Solo
valida los formatos «iri» de un esquema, que ningún cuaderno usa; sin él, jsonschema los
omite. Por eso nbval no se carga solo (`-p no:nbval` en pyproject.toml), sino desde aquí,
después de apartar ese módulo.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)

pytest_plugins = ["nbval.plugin"]
