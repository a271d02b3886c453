"""argparse value types shared by the command-line entry points (livehdr, train, evaluate, bench)."""
from __future__ import annotations

import argparse


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive finite number")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def name_value(text: str) -> tuple[str, float]:
    """NAME=VALUE with a finite number (``--curve-param sdr_white=120``); the range is the curve's to check."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: the value must be finite")
    return name.strip(), number


def parse_size(text: str, minimum: int = 2, maximum: int | None = None, even: bool = False) -> tuple[int, int]:
    """'WIDTHxHEIGHT' -> (width, height), each side in minimum..maximum (and even when asked); the one parser of
    every --size. Raises argparse.ArgumentTypeError with one line (argparse reports it as a bad value)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 320x240") from None
    top = f"..{maximum}" if maximum is not None else " or more"
    if min(w, h) < minimum or (maximum is not None and max(w, h) > maximum) or (even and (w % 2 or h % 2)):
        raise argparse.ArgumentTypeError(f"{text!r}: each side must be {'even and ' if even else ''}{minimum}{top}")
    return w, h
