"""El catálogo de la tienda del proyecto: la tabla `articulos` de PostgreSQL y sus consultas."""

import random
from dataclasses import dataclass
from typing import Any

__all__ = ["Item", "SCHEMA", "create_tables", "fill", "make_items", "prepare"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS articulos (
    id int PRIMARY KEY,
    codigo text UNIQUE NOT NULL,
    nombre text NOT NULL,
    stock int NOT NULL CHECK (stock >= 0)
)
"""

_NAMES = (
    "tornillo",
    "tuerca",
    "arandela",
    "bisagra",
    "taco",
    "clavo",
    "escuadra",
    "cerrojo",
    "pomo",
    "tirador",
    "muelle",
    "polea",
)
_SIZES = ("M3", "M4", "M5", "M6", "M8", "M10")


@dataclass(frozen=True)
class Item:
    """Un artículo del catálogo."""

    id: int
    codigo: str
    nombre: str
    stock: int

    def as_json(self) -> dict[str, Any]:
        """Devuelve el artículo como lo devuelve el servicio en JSON."""
        return {"id": self.id, "codigo": self.codigo, "nombre": self.nombre, "stock": self.stock}


def make_items(n: int, seed: int = 0) -> list[Item]:
    """Devuelve `n` artículos inventados (ids 1…n), los mismos para la misma semilla."""
    rng = random.Random(f"catalogo/{seed}")
    items = []
    for i in range(1, n + 1):
        name = f"{rng.choice(_NAMES)} {rng.choice(_SIZES)}"
        items.append(Item(i, f"A{seed % 100:02d}-{i:04d}", name, rng.randrange(0, 500)))
    return items


async def create_tables(conn: Any) -> None:
    """Crea la tabla `articulos` si no existe (con una conexión o un *pool* de asyncpg)."""
    await conn.execute(SCHEMA)


async def fill(conn: Any, items: list[Item]) -> None:
    """Sustituye el contenido de `articulos` por `items` (con una conexión de asyncpg)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM articulos")
        await conn.executemany(
            "INSERT INTO articulos (id, codigo, nombre, stock) VALUES ($1, $2, $3, $4)",
            [(i.id, i.codigo, i.nombre, i.stock) for i in items],
        )


async def prepare(dsn: str, items: list[Item]) -> None:
    """Crea la tabla `articulos` en `dsn` y la llena con `items` (borra lo que hubiera)."""
    import asyncpg  # aquí: importar el paquete del curso no carga las bibliotecas

    conn = await asyncpg.connect(dsn)
    try:
        await create_tables(conn)
        await fill(conn, items)
    finally:
        await conn.close()
