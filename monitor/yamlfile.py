"""YAML with positions and bounds: the one module that imports PyYAML.

``compose`` reads a document into PyYAML's node tree, whose marks give the loaders their
``file:line:column`` messages, and refuses what would make a small file expensive: nesting
deeper than ``MAX_DEPTH`` (Python's recursion limit would end it with a traceback) and
aliases that expand to more than ``MAX_NODES`` nodes (a 1 KB "billion laughs" document).
``construct`` turns a composed tree into plain Python values with the safe loader's types.
"""

from __future__ import annotations

from typing import Any

import yaml

from monitor.errors import ConfigError

__all__ = [
    "BOOL_TAG",
    "NULL_TAG",
    "STR_TAG",
    "MappingNode",
    "Node",
    "ScalarNode",
    "SequenceNode",
    "YamlError",
    "compose",
    "construct",
]

Node = yaml.Node
MappingNode = yaml.MappingNode
SequenceNode = yaml.SequenceNode
ScalarNode = yaml.ScalarNode

STR_TAG = "tag:yaml.org,2002:str"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"

#: Deeper nesting than any configuration or rule file needs.
MAX_DEPTH = 64
#: Nodes a document may stand for once its aliases are expanded.
MAX_NODES = 200_000


class YamlError(ConfigError):
    """A file is not YAML we accept; names the file, line and column."""

    def __init__(self, path: str, line: int, column: int, problem: str) -> None:
        self.path, self.line, self.column, self.problem = path, line, column, problem
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: YAML error: {self.problem}"


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _error(error: yaml.YAMLError, path: str) -> YamlError:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        if mark is not None:
            return YamlError(path, mark.line + 1, mark.column + 1, problem)
        return YamlError(path, 1, 1, problem)
    return YamlError(path, 1, 1, str(error))


def _expanded_size(root: Node) -> int:
    """How many nodes the tree stands for with every alias expanded (shared nodes count
    once per use), computed without expanding."""
    sizes: dict[int, int] = {}

    def size(node: Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, SequenceNode):
            total += sum(size(item) for item in node.value)
        sizes[id(node)] = total
        return total

    return size(root)


def compose(text: str, path: str) -> Node | None:
    """The document's node tree (None for an empty document). Raises YamlError."""
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        raise _error(e, path) from e
    finally:
        loader.dispose()
    if root is not None and _expanded_size(root) > MAX_NODES:
        mark = root.start_mark
        raise YamlError(
            path,
            mark.line + 1,
            mark.column + 1,
            f"its aliases expand to more than {MAX_NODES:,} values",
        )
    return root


def construct(node: Node | None, path: str) -> Any:
    """Plain Python values for a composed tree (the safe loader's types)."""
    if node is None:
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise _error(e, path) from e
    finally:
        loader.dispose()
