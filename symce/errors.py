"""Errors symce raises where Python's own would read badly."""


class UnknownName(KeyError):
    """A name missing from a registry (specs, identities, derivations) or from a spec (its inputs and
    parameters). A KeyError, so ``except KeyError`` still catches it, but printed as its message:
    KeyError's own ``str`` is the repr of its argument, which wraps the message in quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
