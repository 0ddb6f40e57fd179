"""Errors a decoder raises for a payload it cannot read."""


class PayloadError(ValueError):
    """The request body cannot be decoded; the message says what is wrong with it."""
