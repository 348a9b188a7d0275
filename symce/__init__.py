"""symce: the mathematics of classification losses, proven and compiled."""
__version__ = "0.1.0"
