"""Los errores típicos de los ejercicios 09 en adelante suspenden, con la máquina ocupada.

Como tests/test_mistakes_a.py y tests/test_mistakes_b.py: un tercer archivo para que
pytest-xdist reparta el trabajo.
"""

import pytest
from exercise_cases import assert_mistake_is_rejected, case_id, cases


@pytest.mark.parametrize("case", cases("09", "99"), ids=case_id)
def test_typical_mistake_fails_on_a_busy_machine(case, postgres, busy_cores):
    assert_mistake_is_rejected(*case)
