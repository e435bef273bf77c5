"""A deterministic local fake of the five APIs in the wire contract, for tests and the demo.

It shares nothing with the tap but the wire contract, so it can catch the tap's mistakes.
"""

from .apis import API_NAMES
from .server import SandboxServer

__all__ = ["API_NAMES", "SandboxServer"]
