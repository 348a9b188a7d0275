"""symce: the mathematics of classification losses, proven and compiled."""
__version__ = "0.1.0"


def __getattr__(name):
    # symce.verify(...) and symce.compile(...) without importing the verifier (and its dependencies) at `import symce`
    if name == "verify":
        import symce.verify  # a callable package: symce.verify(fn, spec=...)
        return symce.verify
    if name == "compile":
        import symce.compile  # a callable package: symce.compile(spec)
        return symce.compile
    raise AttributeError(f"module 'symce' has no attribute {name!r}")
