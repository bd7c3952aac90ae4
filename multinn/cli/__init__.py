"""The `multinn` command line (a click group). TensorFlow is imported only inside commands."""

from multinn.cli.main import main

__all__ = ["main"]
