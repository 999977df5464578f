"""Herramientas del curso «Tópicos avanzados de asyncio».

Los cuadernos importan de aquí los servidores de eco, los instrumentos que hacen
visible el bloqueo y las comprobaciones de los ejercicios.
"""

import logging

# Una biblioteca no decide dónde se imprimen sus mensajes: sin este manejador,
# logging mostraría los avisos en la celda que se esté ejecutando en ese momento.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__: list[str] = []
