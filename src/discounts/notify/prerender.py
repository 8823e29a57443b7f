"""Rendering an announcement's templates once per chunk, with markers where each recipient's values go.

A template that only *prints* what differs per recipient (``{{ recipient.id }}``,
``{{ recipient.email }}``, ``{{ unsubscribe_url }}``; and, when every recipient gets a code of
their own, ``{{ code.code }}`` and ``{{ code.code_hash }}``) is rendered once with unique markers
in those places; each message then fills the markers in (HTML-escaped in an autoescaped
template, as Jinja would). That is exactly what a full render gives. A template that uses such a
value any other way is rendered in full for every recipient instead (``messages.py``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from jinja2 import nodes
from markupsafe import escape

#: What an announcement's templates see that differs per recipient: (variable, attribute or None).
PER_RECIPIENT = {("recipient", "id"), ("recipient", "email"), ("unsubscribe_url", None)}
#: ... and, when each recipient is sent a code of their own (a batch's distribution), the code itself.
PER_RECIPIENT_CODE = {("code", "code"), ("code", "code_hash")}
#: Template features that reach beyond what this template's own syntax tree shows.
_OPAQUE = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport, nodes.EvalContextModifier)


def only_prints_recipient(ast: nodes.Template, personal_code: bool = False) -> bool:
    """True if the template uses per-recipient values only as ``{{ value }}``, the whole of an output.

    Then rendering it once with markers and filling them in per recipient is exactly a full
    render. Anything else (a condition, a filter, a loop, an assignment, another template
    pulled in) makes the output depend on the values in ways a marker cannot stand for. With
    ``personal_code`` the code's other attributes (its brand, its terms) are still the same for
    everyone and may be used freely; ``code`` itself, whole, may not.
    """
    if any(True for _ in ast.find_all(_OPAQUE)):
        return False
    varying = PER_RECIPIENT | (PER_RECIPIENT_CODE if personal_code else set())
    printed: set[int] = set()
    for output in ast.find_all(nodes.Output):
        for node in output.nodes:
            if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
                if (node.node.name, node.attr) in varying:
                    printed.add(id(node.node))
            elif isinstance(node, nodes.Name) and (node.name, None) in varying:
                printed.add(id(node))
    shared: set[int] = set()
    if personal_code:
        for node in ast.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "code" and ("code", node.attr) not in varying:
                shared.add(id(node.node))
    names = {name for name, _ in varying}
    return all(id(name) in printed | shared for name in ast.find_all(nodes.Name) if name.name in names)


class Markers:
    """Stand-ins for the per-recipient values: unique strings that survive HTML escaping unchanged."""

    def __init__(self) -> None:
        self.nonce = secrets.token_hex(8)
        self.pattern = re.compile("\x00" + self.nonce + ":([a-z_.]+)\x00")

    def __getitem__(self, key: str) -> str:
        return f"\x00{self.nonce}:{key}\x00"


@dataclass(frozen=True, slots=True)
class Prerendered:
    """A template's output with holes: ``literals[0] + value(slots[0]) + literals[1] + ...``."""

    literals: tuple[str, ...]
    slots: tuple[str, ...]
    escaped: bool

    def fill(self, values: dict[str, str]) -> str:
        if not self.slots:
            return self.literals[0]
        out = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            value = values[slot]
            out.append(str(escape(value)) if self.escaped else value)
            out.append(literal)
        return "".join(out)
