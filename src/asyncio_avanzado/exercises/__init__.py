"""Ejercicios autocorregidos de las lecciones: `await check("01.1", mi_funcion)`."""

from . import lesson00, lesson01  # noqa: F401  (registran sus ejercicios al importarse)
from .core import EXERCISES, CheckResult, Exercise, Failure, check, show_solution

__all__ = ["EXERCISES", "CheckResult", "Exercise", "Failure", "check", "show_solution"]
