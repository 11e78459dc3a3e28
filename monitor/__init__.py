"""monitor: watches news feeds for topics described in YAML rules."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("monitor")  # pyproject.toml is the one place it is written
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
