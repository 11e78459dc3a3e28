"""monitor: watches news feeds for topics described in YAML rules."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # The version is read on first use: importlib.metadata costs a parser process (which
    # imports this package and little else) about 5 MB.
    if name != "__version__":
        raise AttributeError(f"module 'monitor' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("monitor")  # pyproject.toml is the one place it is written
    except PackageNotFoundError:  # run from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
