"""Exceptions raised by insurereco, each naming the file, column and problem."""

from __future__ import annotations

__all__ = ["DataNotFoundError", "DataValidationError", "InsurerecoError"]


class InsurerecoError(Exception):
    """Base class for errors the command line reports as one line."""


class DataNotFoundError(InsurerecoError, FileNotFoundError):
    """A data file is missing; the message says which file and where to get it."""


class DataValidationError(InsurerecoError, ValueError):
    """A data file breaks its contract; the message names file, column and problem."""
