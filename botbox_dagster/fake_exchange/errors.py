"""Binance error answers raised by the fake's routes."""

from __future__ import annotations


class BinanceError(Exception):
    """An error answer: HTTP ``status`` with body ``{"code": code, "msg": msg}``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg


def bad(code: int, msg: str) -> BinanceError:
    """A 400 answer with Binance ``code`` and ``msg``."""
    return BinanceError(400, code, msg)


def insufficient_balance() -> BinanceError:
    """Binance's answer when the account cannot pay for an order."""
    return bad(-2010, "Account has insufficient balance for requested action.")


def mandatory(name: str) -> BinanceError:
    """Binance's missing-parameter error."""
    return bad(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
