"""A small HTML tree on the standard library's parser: enough to read the boards' pages (hidden
form fields, a table by id, "Label: value" cells) without a third-party HTML library."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False, compare=False)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.iter()
            if n.tag == tag and all(n.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str, **attrs: str) -> Node | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else f" {child.text()} ")
        return " ".join("".join(parts).replace("\xa0", " ").split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def hidden_fields(doc: Node) -> dict[str, str]:
    """The form's hidden inputs (ASP.NET's __VIEWSTATE, __EVENTVALIDATION, ...)."""
    return {
        n.attrs["name"]: n.attrs.get("value", "")
        for n in doc.find_all("input")
        if n.attrs.get("type", "").lower() == "hidden" and n.attrs.get("name")
    }


def table_rows(table: Node) -> list[list[Node]]:
    """Each row's cells (th or td), header row included."""
    return [
        [c for c in tr.children if isinstance(c, Node) and c.tag in ("td", "th")]
        for tr in table.find_all("tr")
    ]


def _siblings_after(node: Node) -> list[Node]:
    if node.parent is None:
        return []
    nodes = [c for c in node.parent.children if isinstance(c, Node)]
    return nodes[nodes.index(node) + 1 :]


def label_pairs(doc: Node) -> dict[str, str]:
    """Label → value pairs, labels lower case without their colon, in the shapes the boards'
    pages use: `<strong>Label:</strong> value` (the value is the rest of the nearest enclosing
    element that has one), `<dt>Label</dt><dd>value</dd>`, `<th>Label</th><td>value</td>` and
    two-cell rows `<td>Label:</td><td>value</td>`. The first occurrence of a label wins."""
    pairs: dict[str, str] = {}

    def put(label: str, value: str) -> None:
        key = label.strip().rstrip(":").strip().lower()
        if key and key not in pairs:
            pairs[key] = value.strip()

    for node in doc.iter():
        if node.tag in ("strong", "b"):
            label = node.text()
            if not label.endswith(":"):
                continue
            holder = node.parent
            while holder is not None:
                text = holder.text()
                rest = text.split(label, 1)[1] if label in text else ""
                if rest.strip():
                    put(label, rest)
                    break
                holder = holder.parent
        elif node.tag in ("dt", "th") or (node.tag == "td" and node.text().endswith(":")):
            following = _siblings_after(node)
            if following and following[0].tag in ("dd", "td"):
                put(node.text(), following[0].text())
    return pairs
