"""Ejercicios autocorregidos de las lecciones: `await check("01.1", mi_funcion)`."""

import importlib
import pkgutil

from .core import EXERCISES, CheckResult, Exercise, Failure, check, show_solution

__all__ = ["EXERCISES", "CheckResult", "Exercise", "Failure", "check", "show_solution"]

# Cada módulo lessonNN registra sus ejercicios al importarse.
for _module in pkgutil.iter_modules(__path__):
    if _module.name.startswith("lesson"):
        importlib.import_module(f"{__name__}.{_module.name}")
