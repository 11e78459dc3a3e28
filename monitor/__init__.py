"""monitor: watches news feeds for topics described in YAML rules."""

__version__ = "0.1.0"
