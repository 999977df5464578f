"""Plantilla de *script* que se apaga en orden con SIGTERM o Ctrl-C (SIGINT).

    python -m asyncio_avanzado.service --grace 1.0

Arranca un `SlowServer`, imprime su dirección y espera una señal. Al llegar SIGTERM (lo
que envían `kill`, systemd o Docker al parar) o SIGINT (Ctrl-C), deja de aceptar, da a las
peticiones en curso `--grace` segundos, aborta las que queden, imprime el informe y sale
con código 0. Copia la forma de `main()` para tus propios servicios.
"""

import argparse
import asyncio
import signal
import sys
import time

from .lag import format_duration
from .shutdown import SlowServer
from .streamserver import format_address

__all__ = ["main", "run", "watch_signals"]

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def watch_signals(stop: asyncio.Event, received: list[str]) -> None:
    """Hace que SIGTERM y SIGINT pongan `stop` (y anoten su nombre en `received`).

    En Unix, con `loop.add_signal_handler`: el manejador se ejecuta en el bucle, como
    cualquier *callback*. Windows no lo tiene (`NotImplementedError`): allí se usa
    `signal.signal`, cuyo manejador corre entre dos instrucciones del hilo principal y solo
    puede tocar el bucle con `call_soon_threadsafe`. No devuelve nada.
    """
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    for sig in SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except NotImplementedError:  # Windows
            signal.signal(sig, lambda signum, frame: loop.call_soon_threadsafe(on_signal, signum))


async def main(grace: float, port: int = 0) -> int:
    """Sirve hasta recibir SIGTERM o SIGINT y se apaga en orden; devuelve el código de salida."""
    stop = asyncio.Event()
    received: list[str] = []
    watch_signals(stop, received)
    server = await SlowServer(port=port).start()
    print(f"escuchando en {format_address(server.address)}", flush=True)
    try:
        await stop.wait()
        began = time.perf_counter()
        print(f"{received[0]} recibida: apagado ordenado, plazo {grace:g} s", flush=True)
        report = await server.shutdown(grace)
        print(f"informe: {report}", flush=True)
        print(f"main() termina {format_duration(time.perf_counter() - began)} después de la señal")
    finally:
        await server.stop()  # si algo falló antes: cerrar en seco, pero cerrar
    return 0


def run(argv: list[str] | None = None) -> int:
    """Lee los argumentos, ejecuta `main()` con `asyncio.run` y devuelve el código de salida."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, default=1.0, help="plazo del apagado, en s (1.0)")
    parser.add_argument("--port", type=int, default=0, help="puerto (0: uno libre)")
    args = parser.parse_args(argv)
    return asyncio.run(main(args.grace, args.port))


if __name__ == "__main__":
    sys.exit(run())
