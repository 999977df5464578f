"""Ejercicios 10.1 a 10.6: otras soluciones correctas aprueban, y algunas erróneas suspenden.

Las soluciones son las de una revisión que intentó engañar a las comprobaciones (escritas como
las escribiría un alumno en el cuaderno, con sus propias importaciones): las correctas deben
aprobar en cualquier máquina; las erróneas que no cubre ya un `Wrong` de la lección deben
suspender con un informe que nombre el error. Cada fuente se ejecuta en su propio módulo.
"""

import asyncio
import types

import pytest

from asyncio_avanzado import check

# -- soluciones correctas -----------------------------------------------------------------------

RIGHT: dict[str, tuple[str, str, str]] = {}
"""nombre: (ejercicio, función, fuente)."""

RIGHT["e1_ok1"] = (
    "10.1",
    "crear_app",
    r"""
import asyncpg
from aiohttp import web

async def crear_app(dsn):
    app = web.Application()
    async def pool_ctx(app):
        app["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        yield
        await app["pool"].close()
    app.cleanup_ctx.append(pool_ctx)
    async def get(request):
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "id no numérico"}, status=400)
        row = await request.app["pool"].fetchrow(
            "SELECT id, codigo, nombre, stock FROM articulos WHERE id = $1", ident)
        if row is None:
            return web.json_response({"error": "no existe"}, status=404)
        return web.json_response(dict(row))
    app.router.add_get("/articulos/{id}", get)
    return app
""",
)

RIGHT["e1_ok2"] = (
    "10.1",
    "crear_app",
    r"""
import asyncpg
from aiohttp import web

class ErrorApi(Exception):
    def __init__(self, status, msg):
        self.status, self.msg = status, msg

@web.middleware
async def errores(request, handler):
    try:
        return await handler(request)
    except ErrorApi as e:
        return web.json_response({"error": e.msg}, status=e.status)

async def crear_app(dsn):
    async def db(app):
        async with asyncpg.create_pool(dsn) as pool:
            app["db"] = pool
            yield
    async def articulo(request):
        texto = request.match_info["id"]
        try:
            n = int(texto)
        except ValueError:
            raise ErrorApi(400, f"el identificador {texto!r} no es un número")
        async with request.app["db"].acquire() as conn:
            fila = await conn.fetchrow("SELECT * FROM articulos WHERE id=$1", n)
        if not fila:
            raise ErrorApi(404, f"no hay artículo {n}")
        return web.json_response({k: fila[k] for k in ("id", "codigo", "nombre", "stock")})
    app = web.Application(middlewares=[errores])
    app.cleanup_ctx.append(db)
    app.add_routes([web.get("/articulos/{id}", articulo)])
    return app
""",
)

RIGHT["e1_ok3_appkey"] = (
    "10.1",
    "crear_app",
    r"""
import asyncpg
from aiohttp import web

POOL = web.AppKey("pool", asyncpg.Pool)

async def crear_app(dsn):
    async def ctx(app):
        app[POOL] = await asyncpg.create_pool(dsn, max_size=20)
        try:
            yield
        finally:
            await app[POOL].close()
    routes = web.RouteTableDef()
    @routes.get("/articulos/{id}")
    async def uno(request):
        s = request.match_info["id"]
        if not s.lstrip("-").isdigit():
            return web.json_response({"error": f"identificador no numérico: {s}"}, status=400)
        r = await request.app[POOL].fetchrow(
            "SELECT id, codigo, nombre, stock FROM articulos WHERE id = $1::int", int(s)
        )
        return (web.json_response(dict(r)) if r else
                web.json_response({"error": "artículo no encontrado"}, status=404))
    app = web.Application()
    app.cleanup_ctx.append(ctx)
    app.add_routes(routes)
    return app
""",
)

RIGHT["e2_ok1"] = (
    "10.2",
    "precio_en_hilo",
    r"""
import asyncio, functools
from asyncio_avanzado.proyecto import fetch_price

async def precio_en_hilo(ejecutor, direccion, codigo, plazo):
    loop = asyncio.get_running_loop()
    llamada = functools.partial(fetch_price, direccion, codigo, timeout=plazo)
    try:
        async with asyncio.timeout(plazo):
            return await loop.run_in_executor(ejecutor, llamada)
    except TimeoutError:
        return None
""",
)

RIGHT["e2_ok2"] = (
    "10.2",
    "precio_en_hilo",
    r"""
import asyncio
from asyncio_avanzado.proyecto import fetch_price

async def precio_en_hilo(ejecutor, direccion, codigo, plazo):
    fut = asyncio.get_running_loop().run_in_executor(
        ejecutor, lambda: fetch_price(direccion, codigo, timeout=plazo * 0.9))
    try:
        return await asyncio.wait_for(fut, plazo)
    except (asyncio.TimeoutError, TimeoutError):
        return None
""",
)

RIGHT["e3_ok1"] = (
    "10.3",
    "precio_nativo",
    r"""
import asyncio

async def precio_nativo(direccion, codigo, plazo):
    writer = None
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            writer.write(f"PRECIO {codigo}\n".encode())
            await writer.drain()
            linea = await reader.readline()
    except TimeoutError:
        return None
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
    if not linea:
        raise ConnectionError("cerró sin responder")
    ok, cod, cent = linea.decode().split()
    return int(cent)
""",
)

RIGHT["e3_ok2"] = (
    "10.3",
    "precio_nativo",
    r"""
import asyncio

async def _pedir(direccion, codigo):
    reader, writer = await asyncio.open_connection(direccion[0], direccion[1])
    try:
        writer.write(b"PRECIO " + codigo.encode() + b"\n")
        await writer.drain()
        datos = b""
        while not datos.endswith(b"\n"):
            trozo = await reader.read(64)
            if not trozo:
                raise ConnectionError("el servicio cortó")
            datos += trozo
        return int(datos.split()[2])
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass

async def precio_nativo(direccion, codigo, plazo):
    try:
        return await asyncio.wait_for(_pedir(direccion, codigo), timeout=plazo)
    except asyncio.TimeoutError:
        return None
""",
)

RIGHT["e4_ok1"] = (
    "10.4",
    "simulacion",
    r"""
import asyncio
from asyncio_avanzado.proyecto import simulate_price

async def simulacion(pool, codigo, precio, rondas):
    return await asyncio.get_running_loop().run_in_executor(
        pool, simulate_price, codigo, precio, rondas
    )
""",
)

RIGHT["e4_ok2"] = (
    "10.4",
    "simulacion",
    r"""
import asyncio
from asyncio_avanzado.proyecto.cpu import simulate_price

async def simulacion(pool, codigo, precio, rondas):
    futuro = pool.submit(simulate_price, codigo, precio, rondas)
    return await asyncio.wrap_future(futuro)
""",
)

RIGHT["e5_ok1"] = (
    "10.5",
    "apagar",
    r"""
import asyncio

async def apagar(runner, db, hilos, procesos):
    await runner.cleanup()
    await db.close()
    hilos.shutdown(wait=False)
    await asyncio.to_thread(procesos.shutdown)
""",
)

RIGHT["e5_ok2"] = (
    "10.5",
    "apagar",
    r"""
import asyncio

async def apagar(runner, db, hilos, procesos):
    try:
        await runner.cleanup()
    finally:
        try:
            await asyncio.wait_for(db.close(), 10)
        finally:
            hilos.shutdown(wait=False, cancel_futures=True)
            bucle = asyncio.get_running_loop()
            await bucle.run_in_executor(None, lambda: procesos.shutdown(wait=True))
""",
)

RIGHT["e5_ok3_shutdown_cleanup"] = (
    "10.5",
    "apagar",
    r"""
import asyncio

async def apagar(runner, db, hilos, procesos):
    await runner.shutdown()
    await runner.cleanup()
    await db.close()
    hilos.shutdown(wait=False, cancel_futures=True)
    await asyncio.get_running_loop().run_in_executor(None, procesos.shutdown)
""",
)

RIGHT["e6_ok1"] = (
    "10.6",
    "crear_servicio",
    r"""
import asyncio
from aiohttp import web

async def precio_nativo(direccion, codigo, plazo):
    writer = None
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            writer.write(f"PRECIO {codigo}\n".encode())
            await writer.drain()
            linea = await reader.readline()
    except TimeoutError:
        return None
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
    if not linea.endswith(b"\n"):
        raise ConnectionError("cerró sin responder")
    ok, cod, cent = linea.decode().split()
    return int(cent)

async def crear_servicio(buscar, heredado):
    async def articulo(request):
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "el identificador no es un número"}, status=400)
        art = await buscar(ident)
        if art is None:
            return web.json_response({"error": "no existe ese artículo"}, status=404)
        try:
            precio = await precio_nativo(heredado, art["codigo"], 0.5)
        except (ConnectionError, ValueError):
            return web.json_response({"error": "el servicio de precios cortó"}, status=502)
        if precio is None:
            return web.json_response(
                {"error": "el servicio de precios no respondió a tiempo"}, status=504
            )
        return web.json_response({**art, "precio": precio})
    app = web.Application()
    app.router.add_get("/articulos/{id}", articulo)
    return app
""",
)

RIGHT["e6_ok2"] = (
    "10.6",
    "crear_servicio",
    r"""
import asyncio
from aiohttp import web
from asyncio_avanzado.proyecto import parse_reply, request_line, LegacyError

async def precio_nativo(direccion, codigo, plazo):
    try:
        async with asyncio.timeout(plazo):
            r, w = await asyncio.open_connection(*direccion)
            try:
                w.write(request_line(codigo))
                await w.drain()
                return parse_reply(codigo, await r.readuntil(b"\n"))
            except asyncio.IncompleteReadError as e:
                raise ConnectionError("corte") from e
            finally:
                w.close()
                try:
                    await w.wait_closed()
                except OSError:
                    pass
    except TimeoutError:
        return None

class Fallo(Exception):
    def __init__(self, status, texto):
        super().__init__(texto); self.status = status; self.texto = texto

@web.middleware
async def json_errores(request, handler):
    try:
        return await handler(request)
    except Fallo as f:
        return web.json_response({"error": f.texto}, status=f.status)
    except web.HTTPException as e:
        return web.json_response({"error": e.reason}, status=e.status)

async def crear_servicio(buscar, heredado):
    async def articulo(request):
        crudo = request.match_info["id"]
        if not crudo.isdecimal():
            raise Fallo(400, f"«{crudo}» no es un identificador numérico")
        datos = await buscar(int(crudo))
        if not datos:
            raise Fallo(404, "artículo inexistente")
        try:
            precio = await precio_nativo(heredado, datos["codigo"], 0.5)
        except (ConnectionError, LegacyError):
            raise Fallo(502, "el servicio de precios falló")
        if precio is None:
            raise Fallo(504, "el servicio de precios tardó demasiado")
        return web.json_response(dict(datos, precio=precio))
    app = web.Application(middlewares=[json_errores])
    app.add_routes([web.get("/articulos/{id}", articulo)])
    return app
""",
)

RIGHT["e6_x1_refclient"] = (
    "10.6",
    "crear_servicio",
    r"""
import asyncio
from aiohttp import web
from asyncio_avanzado.proyecto import fetch_price_async

async def precio_nativo(direccion, codigo, plazo):
    writer = None
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            writer.write(f"PRECIO {codigo}\n".encode())
            await writer.drain()
            linea = await reader.readline()
    except TimeoutError:
        return None
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
    if not linea.endswith(b"\n"):
        raise ConnectionError("cerró sin responder")
    ok, cod, cent = linea.decode().split()
    return int(cent)

async def crear_servicio(buscar, heredado):
    async def articulo(request):
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "el identificador no es un número"}, status=400)
        art = await buscar(ident)
        if art is None:
            return web.json_response({"error": "no existe ese artículo"}, status=404)
        try:
            try:
                precio = await fetch_price_async(heredado, art["codigo"], 0.5)
            except TimeoutError:
                precio = None
        except (ConnectionError, ValueError):
            return web.json_response({"error": "el servicio de precios cortó"}, status=502)
        if precio is None:
            return web.json_response(
                {"error": "el servicio de precios no respondió a tiempo"}, status=504
            )
        return web.json_response({**art, "precio": precio})
    app = web.Application()
    app.router.add_get("/articulos/{id}", articulo)
    return app
""",
)

# -- soluciones erróneas (lo que no cubre un Wrong de la lección) -------------------------------

WRONG: dict[str, tuple[str, str, str, str]] = {}
"""nombre: (ejercicio, función, fuente, fragmento que debe nombrar el informe)."""

WRONG["e6_w11_no400"] = (
    "10.6",
    "crear_servicio",
    r"""
import asyncio
from aiohttp import web

async def precio_nativo(direccion, codigo, plazo):
    writer = None
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            writer.write(f"PRECIO {codigo}\n".encode())
            await writer.drain()
            linea = await reader.readline()
    except TimeoutError:
        return None
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
    if not linea.endswith(b"\n"):
        raise ConnectionError("cerró sin responder")
    ok, cod, cent = linea.decode().split()
    return int(cent)

async def crear_servicio(buscar, heredado):
    async def articulo(request):
        ident = int(request.match_info["id"])
        art = await buscar(ident)
        if art is None:
            return web.json_response({"error": "no existe ese artículo"}, status=404)
        try:
            precio = await precio_nativo(heredado, art["codigo"], 0.5)
        except (ConnectionError, ValueError):
            return web.json_response({"error": "el servicio de precios cortó"}, status=502)
        if precio is None:
            return web.json_response(
                {"error": "el servicio de precios no respondió a tiempo"}, status=504
            )
        return web.json_response({**art, "precio": precio})
    app = web.Application()
    app.router.add_get("/articulos/{id}", articulo)
    return app
""",
    "se esperaba 400",
)

WRONG["e6_w3_no502"] = (
    "10.6",
    "crear_servicio",
    r"""
import asyncio
from aiohttp import web

async def precio_nativo(direccion, codigo, plazo):
    writer = None
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            writer.write(f"PRECIO {codigo}\n".encode())
            await writer.drain()
            linea = await reader.readline()
    except TimeoutError:
        return None
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
    if not linea.endswith(b"\n"):
        raise ConnectionError("cerró sin responder")
    ok, cod, cent = linea.decode().split()
    return int(cent)

async def crear_servicio(buscar, heredado):
    async def articulo(request):
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "el identificador no es un número"}, status=400)
        art = await buscar(ident)
        if art is None:
            return web.json_response({"error": "no existe ese artículo"}, status=404)
        try:
            precio = await precio_nativo(heredado, art["codigo"], 0.5)
        except ZeroDivisionError:
            return web.json_response({"error": "el servicio de precios cortó"}, status=502)
        if precio is None:
            return web.json_response(
                {"error": "el servicio de precios no respondió a tiempo"}, status=504
            )
        return web.json_response({**art, "precio": precio})
    app = web.Application()
    app.router.add_get("/articulos/{id}", articulo)
    return app
""",
    "se esperaba 502",
)

WRONG["e6_w5_texterrors"] = (
    "10.6",
    "crear_servicio",
    r"""
import asyncio
from aiohttp import web

async def precio_nativo(direccion, codigo, plazo):
    writer = None
    try:
        async with asyncio.timeout(plazo):
            reader, writer = await asyncio.open_connection(*direccion)
            writer.write(f"PRECIO {codigo}\n".encode())
            await writer.drain()
            linea = await reader.readline()
    except TimeoutError:
        return None
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
    if not linea.endswith(b"\n"):
        raise ConnectionError("cerró sin responder")
    ok, cod, cent = linea.decode().split()
    return int(cent)

async def crear_servicio(buscar, heredado):
    async def articulo(request):
        try:
            ident = int(request.match_info["id"])
        except ValueError:
            return web.json_response({"error": "el identificador no es un número"}, status=400)
        art = await buscar(ident)
        if art is None:
            return web.json_response({"error": "no existe ese artículo"}, status=404)
        try:
            precio = await precio_nativo(heredado, art["codigo"], 0.5)
        except (ConnectionError, ValueError):
            raise web.HTTPBadGateway()
        if precio is None:
            raise web.HTTPGatewayTimeout()
        return web.json_response({**art, "precio": precio})
    app = web.Application()
    app.router.add_get("/articulos/{id}", articulo)
    return app
""",
    "no en JSON",
)

WRONG["e4_w8_lambda"] = (
    "10.4",
    "simulacion",
    r"""
import asyncio
from asyncio_avanzado.proyecto import simulate_price

async def simulacion(pool, codigo, precio, rondas):
    return await asyncio.get_running_loop().run_in_executor(
        pool, lambda: simulate_price(codigo, precio, rondas)
    )
""",
    "pickle",
)

WRONG["e5_w9_dbterminate"] = (
    "10.5",
    "apagar",
    r"""
import asyncio

async def apagar(runner, db, hilos, procesos):
    db.terminate()
    await runner.cleanup()
    hilos.shutdown(wait=False)
    await asyncio.to_thread(procesos.shutdown)
""",
    "cerraste la base de datos antes",
)


def _load(name: str, source: str, function: str):
    module = types.ModuleType(f"alternativa_{name}")
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102
    return getattr(module, function)


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_another_right_answer_passes(name, postgres):
    key, function, source = RIGHT[name]
    result = asyncio.run(check(key, _load(name, source, function)))
    assert result.passed, repr(result)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_answer_fails_naming_the_mistake(name, postgres):
    key, function, source, fragment = WRONG[name]
    result = asyncio.run(check(key, _load(name, source, function)))
    assert not result.passed, f"{name} aprobó y está mal"
    assert any(fragment in problem for problem in result.problems), repr(result)
