"""Exceptions raised by the alsosee library.

Every error carries a message a newsroom user can act on (which file, line, field or value).
The HTTP service maps them to RFC 9457 problem bodies; the CLI prints them on one line.
"""

from __future__ import annotations


class AlsoseeError(Exception):
    """Base class of every error the library raises on purpose.

    ``cli_message`` is the same message for a command-line user: where ``str()`` names a
    Python keyword (``columns=``), it names the command's flag (``--column``).
    """

    _cli_message: str | None = None

    @property
    def cli_message(self) -> str:
        return self._cli_message or str(self)


class CorpusError(AlsoseeError, ValueError):
    """A corpus file cannot be read or does not have the required shape.

    ``hint`` (how to fix it from Python) and ``cli_hint`` (from the command line) end the
    message after a semicolon.
    """

    def __init__(self, message: str, *, hint: str | None = None,
                 cli_hint: str | None = None) -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        if cli_hint:
            self._cli_message = f"{message}; {cli_hint}"


class InvalidParameterError(AlsoseeError, ValueError):
    """A parameter of a query is out of range or malformed.

    Parameters
    ----------
    field : str
        Name of the offending parameter (as the caller spelled it: ``k``, ``half_life``...).
    message : str
        What is wrong with it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TooLargeError(InvalidParameterError):
    """A value is over a size limit, which the message names (HTTP: a 413 problem)."""


class UnusableValueError(InvalidParameterError):
    """A well-formed value that cannot be used: it names what the corpus or state does not
    have (an unknown section or language, an unknown article id in a pin or block list), the
    article itself in its own pins or blocks, or a time already past (a pin expiry). (HTTP:
    a 400 problem of type ``unusable-value``; a malformed value is ``invalid-parameter``.)"""


class UnknownArticleError(AlsoseeError, KeyError):
    """The article id is not in the model (nor in the live state)."""

    def __init__(self, article_id: str) -> None:
        super().__init__(article_id)
        self.article_id = article_id

    def __str__(self) -> str:  # KeyError's default repr-quotes the argument
        return f"unknown article id: {self.article_id!r}"


class ArtifactError(AlsoseeError):
    """A model directory is missing, incomplete, tampered with or from another version."""


class NotFittedError(AlsoseeError, AttributeError):
    """The model has not been fitted yet."""


class StateError(AlsoseeError):
    """The live-state database cannot be opened, read or written (locked, read-only, corrupt).

    The service answers 503 (or refuses to start); nothing stored is changed. ``retryable``:
    the database server is unreachable (down, restarting), not the data at fault.
    """

    retryable: bool = False


class SchemaVersionError(StateError):
    """The state database is at another schema version than this code: servers and commands
    refuse to start (``alsosee state migrate`` upgrades it; a newer one needs newer code)."""


class MissingExtraError(AlsoseeError, ImportError):
    """A feature needs a library of an optional extra that is not installed; the message
    names the extra to install (``pip install 'alsosee[evaluate]'``)."""

    def __init__(self, feature: str, extra: str, library: str) -> None:
        super().__init__(f"{feature} needs {library}, which is not installed: "
                         f"pip install 'alsosee[{extra}]'")
        self.extra = extra
        self.library = library
