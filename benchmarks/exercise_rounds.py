"""Las comprobaciones de los ejercicios en las máquinas de los alumnos, varias rondas.

Ejecuta cada solución de referencia (debe aprobar) y cada error típico (debe suspender) de
todos los ejercicios, en tres máquinas: tranquila, con dos procesos que gastan CPU al lado, y
fijada a un solo núcleo (como Binder). Cada máquina corre en un intérprete propio. Imprime
una línea por máquina y ronda, y los veredictos equivocados, si los hay. Uso::

    python benchmarks/exercise_rounds.py [--rondas 3] [--maquinas tranquila ocupada un-nucleo]
                                         [--ejercicios 02.1 07.1]

Sale con código 1 si algún veredicto fue el contrario del esperado.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

__all__ = ["main"]

MACHINES = ("tranquila", "ocupada", "un-nucleo")


def _run_round(keys: list[str]) -> list[dict[str, object]]:
    """Comprueba referencias y errores típicos de `keys`; devuelve un veredicto por caso."""
    from asyncio_avanzado.exercises import EXERCISES, check

    async def one(key: str, function: object, expected: bool, name: str) -> dict[str, object]:
        start = time.perf_counter()
        result = await check(key, function)
        return {
            "key": key,
            "name": name,
            "expected_pass": expected,
            "passed": result.passed,
            "seconds": round(time.perf_counter() - start, 2),
            "problems": result.problems,
        }

    async def all_cases() -> list[dict[str, object]]:
        out = []
        for key in keys:
            exercise = EXERCISES[key]
            out.append(await one(key, exercise.solution, True, "referencia"))
            for wrong in exercise.wrong:
                out.append(await one(key, wrong.function, False, wrong.__name__))
        return out

    return asyncio.run(all_cases())


def _child(machine: str, keys: list[str]) -> None:
    if machine == "un-nucleo":
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(json.dumps(_run_round(keys)))


def _in_a_fresh_interpreter(machine: str, keys: list[str]) -> list[dict[str, object]]:
    hogs = []
    if machine == "ocupada":
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--hijo", machine, "--ejercicios", *keys],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Ejecuta las rondas pedidas e imprime los resultados; devuelve el código de salida."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rondas", type=int, default=3)
    parser.add_argument("--maquinas", nargs="+", choices=MACHINES, default=list(MACHINES))
    parser.add_argument("--ejercicios", nargs="+", default=None)
    parser.add_argument("--hijo", choices=MACHINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ejercicios is None:
        from asyncio_avanzado.exercises import EXERCISES

        args.ejercicios = sorted(EXERCISES)
    if args.hijo:
        _child(args.hijo, args.ejercicios)
        return 0
    bad = 0
    for machine in args.maquinas:
        if machine == "un-nucleo" and not hasattr(os, "sched_setaffinity"):
            print(f"{machine:>10}: sin sched_setaffinity en este sistema, se omite")
            continue
        for round_number in range(1, args.rondas + 1):
            start = time.perf_counter()
            cases = _in_a_fresh_interpreter(machine, args.ejercicios)
            wrong_verdicts = [c for c in cases if c["passed"] != c["expected_pass"]]
            refs = [c for c in cases if c["expected_pass"]]
            mistakes = [c for c in cases if not c["expected_pass"]]
            print(
                f"{machine:>10} ronda {round_number}: "
                f"{sum(c['passed'] for c in refs)}/{len(refs)} referencias aprueban, "
                f"{sum(not c['passed'] for c in mistakes)}/{len(mistakes)} errores suspenden "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
            for case in wrong_verdicts:
                verdict = "aprobó" if case["passed"] else "suspendió"
                print(f"    ✘ {case['key']} {case['name']} {verdict}: {case['problems']}")
            bad += len(wrong_verdicts)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
