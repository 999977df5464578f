"""La parte de cálculo del proyecto: una simulación de precios, para un *pool* de procesos.

Vive en `src/` (y no en el cuaderno) para que un proceso del *pool* la pueda importar: el
*pool* envía la función por su nombre (lección 05).
"""

import random

__all__ = ["PATHS", "simulate_price"]

PATHS = 64
"""Trayectorias que simula cada llamada."""


def simulate_price(code: str, cents: int, rounds: int) -> int:
    """Simula `rounds` días de variaciones del precio `cents`; devuelve el percentil 95 final.

    Cálculo de Python puro (retiene el GIL todo el tiempo), determinista: las mismas entradas
    dan el mismo resultado en cualquier proceso, porque el azar sale de una semilla de texto.
    Su coste crece con `rounds` (unos 64 × `rounds` números al azar).
    """
    if rounds < 0:
        raise ValueError(f"rounds debe ser >= 0, no {rounds!r}")
    rng = random.Random(f"{code}/{cents}")
    finals = []
    for _ in range(PATHS):
        price = float(cents)
        for _ in range(rounds):
            price *= 1.0 + rng.gauss(0.0, 0.01)
        finals.append(price)
    finals.sort()
    return round(finals[int(0.95 * (PATHS - 1))])
