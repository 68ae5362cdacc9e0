"""Errors of the domain, grouped by what the caller should do about them."""

from __future__ import annotations


class BotBoxError(Exception):
    """Base of every error BotBox raises on purpose."""


class ConfigError(BotBoxError):
    """A bot, strategy or fleet definition is invalid.

    ``where`` names the file and the object ("bots.yaml: bot 'eth-scalper'") and ``field`` the
    offending field, so the message tells the operator exactly what to fix.
    """

    def __init__(self, where: str, message: str, field: str | None = None) -> None:
        self.where = where
        self.field = field
        self.detail = message
        prefix = f"{where}: " if where else ""
        text = f"{field} {message}" if field else message
        super().__init__(prefix + text)


class ConfigErrors(BotBoxError):
    """Several configuration errors found in one pass (loading reports them all at once)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
