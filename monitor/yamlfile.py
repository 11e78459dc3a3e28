"""YAML with positions and bounds: the one module that imports PyYAML.

``compose`` reads a document into PyYAML's node tree, whose marks give the loaders their
``file:line:column`` messages, and refuses what would make a small file expensive: nesting
deeper than ``MAX_DEPTH`` (Python's recursion limit would end it with a traceback) and
aliases that expand to more than ``MAX_NODES`` nodes (a 1 KB "billion laughs" document).
``construct`` turns a composed tree into plain Python values with the safe loader's types.
``decode`` reads a file's bytes as UTF-8. Whatever a file holds (bytes that are not UTF-8,
control characters, a date that does not exist, a number of 5,000 digits), the answer is a
YamlError naming its line and column, never another exception.
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
    "decode",
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


def _error(error: yaml.YAMLError, path: str, text: str = "") -> YamlError:
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        # A character YAML refuses (NUL, other control characters): the reader names its
        # index, over several lines; one line with its line and column instead.
        index = error.position
        line = text.count("\n", 0, index) + 1
        column = index - (text.rfind("\n", 0, index) + 1) + 1
        return YamlError(
            path, line, column, f"character U+{error.character:04X} is not allowed in YAML"
        )
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


def decode(data: bytes, path: str) -> str:
    """A file's bytes as text (YAML files are UTF-8). Raises YamlError naming the line and
    column of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, start) + 1
        column = len(data[start : e.start].decode("utf-8", "replace")) + 1
        raise YamlError(
            path, line, column, f"not UTF-8 text (byte 0x{data[e.start]:02x}); save it as UTF-8"
        ) from e


def compose(text: str, path: str) -> Node | None:
    """The document's node tree (None for an empty document). Raises YamlError."""
    try:
        loader = _BoundedLoader(text)  # refuses control characters at once
    except yaml.YAMLError as e:
        raise _error(e, path, text) from e
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        raise _error(e, path, text) from e
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
    except Exception as e:  # PyYAML's constructors raise what they meet: ValueError for a
        # date 2025-13-45 or an int of 5,000 digits, AttributeError for "!!timestamp x"...
        raise _unbuildable(node, path, e) from e
    finally:
        loader.dispose()


def _unbuildable(root: Node, path: str, error: Exception) -> YamlError:
    """The first scalar that the safe loader resolves to a type but cannot build."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ScalarNode):
            try:
                yaml.SafeLoader("").construct_object(node)
            except Exception as e:
                mark, shown = node.start_mark, node.value[:20] + ("..." * (len(node.value) > 20))
                reason = f"not a valid {node.tag.rsplit(':', 1)[-1]}"
                if isinstance(e, ValueError):  # the others say nothing a user could act on
                    reason = f"{reason}: {str(e).split(';')[0]}".splitlines()[0]
                return YamlError(path, mark.line + 1, mark.column + 1, f"{shown!r}: {reason}")
        elif isinstance(node, MappingNode):
            stack.extend(item for pair in reversed(node.value) for item in reversed(pair))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
    mark = root.start_mark
    return YamlError(path, mark.line + 1, mark.column + 1, f"{error}".splitlines()[0])
