"""Los errores típicos de los ejercicios 00 a 04 suspenden, con la máquina ocupada.

Es la ronda que la CI debe pasar: un veredicto que dependiera de la máquina fallaría aquí
antes que en una máquina tranquila. `python benchmarks/exercise_rounds.py` repite todo en las
tres máquinas (tranquila, ocupada, un núcleo). Dos archivos para que pytest-xdist los reparta.
"""

import pytest
from exercise_cases import assert_mistake_is_rejected, case_id, cases


@pytest.mark.parametrize("case", cases("00", "04.9"), ids=case_id)
def test_typical_mistake_fails_on_a_busy_machine(case, busy_cores):
    assert_mistake_is_rejected(*case)
