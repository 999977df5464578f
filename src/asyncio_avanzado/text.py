"""Textos en español para los mensajes del curso: números con su palabra en singular o plural."""

__all__ = ["plural"]


def plural(n: int, singular: str, plural: str | None = None) -> str:
    """Devuelve «n palabra» con la palabra en singular si n es 1 y en plural si no.

    Sin `plural`, se forma añadiendo «s» (o «es» tras consonante): ``plural(2, "conexión")``
    devuelve ``"2 conexiones"``; ``plural(1, "trabajo")``, ``"1 trabajo"``. Para frases o
    plurales irregulares, pásalo: ``plural(3, "hilo vivo", "hilos vivos")``.
    """
    if n == 1:
        return f"{n} {singular}"
    if plural is None:
        plural = _regular_plural(singular)
    return f"{n} {plural}"


_UNSTRESS = str.maketrans("áéíóú", "aeiou")


def _regular_plural(word: str) -> str:
    if word[-1] in "aeiouáéó":
        return word + "s"
    if word.endswith("z"):
        return word[:-1] + "ces"
    # «conexión» → «conexiones», «núcleo» no llega aquí: la tilde de una aguda en -n/-s se pierde.
    if word[-1] in "ns" and word[-2] in "áéíóú":
        return word[:-2] + word[-2].translate(_UNSTRESS) + word[-1] + "es"
    return word + "es"
