"""El arranque de los núcleos de nbval sobrevive a la carrera por los puertos (conftest.py)."""

import asyncio
import socket

import nbval.kernel
import pytest
from jupyter_client.manager import KernelManager
from jupyter_core.utils import ensure_event_loop


def test_a_kernel_whose_port_was_taken_is_started_again(monkeypatch):
    # La carrera, provocada: después de que jupyter_client elige y suelta los puertos, otro
    # proceso escucha en uno de ellos. La primera vez el núcleo muere; el segundo intento
    # elige puertos nuevos.
    write = KernelManager.write_connection_file
    thieves = []

    def write_and_steal(self, **kwargs):
        write(self, **kwargs)
        if not thieves:
            thief = socket.create_server(("127.0.0.1", self.shell_port))
            thieves.append((thief, self.shell_port))

    monkeypatch.setattr(KernelManager, "write_connection_file", write_and_steal)
    with pytest.warns(UserWarning, match="intento 1 de 3"):
        km, kc = nbval.kernel.start_new_kernel(kernel_name=nbval.kernel.CURRENT_ENV_KERNEL_NAME)
    try:
        assert km.is_alive()
        assert km.shell_port != thieves[0][1]
        assert kc.kernel_info(reply=True, timeout=30)["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        thieves[0][0].close()
        # jupyter_client espera al núcleo en un bucle de asyncio que jupyter_core crea para el
        # hilo y conserva; se cierra para dejar el proceso como estaba.
        ensure_event_loop().close()
        asyncio.set_event_loop(None)
