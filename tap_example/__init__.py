"""tap-example: a Singer tap generated from declarative REST API definitions."""

__version__ = "0.1.0"
