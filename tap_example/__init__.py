"""tap-example: a Singer tap generated from declarative REST API definitions."""

from tap_example.environment import require_compatible_dependencies

__version__ = "0.1.0"

# Before any module of the tap imports the SDK: a dependency another package replaced ends the
# run with one line saying which and what to do, not with a traceback from deep in an import.
require_compatible_dependencies()
