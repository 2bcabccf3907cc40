"""mkdocs hook: renders the ``nwbzarr`` command line's reference from the Typer app itself (and tidies the
Sphinx roles of docstrings in the API pages).

A page holding the line ``<!-- nwbzarr-cli-reference -->`` gets, in its place, one section per command (and
per sub-command of a group): its usage, its help text, and a table of its arguments and options, read from the
command tree ``typer.main.get_command`` builds, so the page follows every command and option as the code
changes. Only attributes that click's parameters and Typer's own (Typer >= 0.20 vendors click) share are used.
"""

from __future__ import annotations

import enum
import re
import sys
import typing
from pathlib import Path
from typing import Any

MARKER = "<!-- nwbzarr-cli-reference -->"
SRC = Path(__file__).resolve().parents[2] / "src"
SPHINX_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc):<code>")
TYPE_NAMES = {str: "text", int: "integer", float: "number", bool: "flag", Path: "path"}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Replace the marker with the generated reference (pages without it pass through)."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference_markdown())


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Drop the Sphinx roles some docstrings use (``:class:`X```): Markdown renders them as text before code."""
    return SPHINX_ROLE.sub("<code>", html)


def cli_reference_markdown() -> str:
    """The reference of the whole ``nwbzarr`` command line as Markdown, built from the Typer app."""
    if str(SRC) not in sys.path:  # the checkout's code, not whatever nwbzarr is installed
        sys.path.insert(0, str(SRC))
    import typer.main

    from nwbzarr.cli import app

    return "\n".join(_sections(typer.main.get_command(app), ["nwbzarr"], level=2))


def _sections(command: Any, path: list[str], level: int) -> list[str]:
    """The section of ``command`` (the root's has no title of its own), then those of its sub-commands."""
    lines = [f"{'#' * level} `{' '.join(path)}`\n"] if len(path) > 1 else []
    subcommands = dict(sorted(getattr(command, "commands", {}).items(), key=lambda kv: _order(command, kv[0])))
    lines.append(f"```text\n{_usage(command, path, bool(subcommands))}\n```\n")
    if command.help:
        lines.append(_plain(command.help) + "\n")
    lines += _parameter_table(command)
    for name, sub in subcommands.items():
        if not getattr(sub, "hidden", False):
            lines += _sections(sub, [*path, name], level + (len(path) > 1))
    return lines


def _order(group: Any, name: str) -> int:
    """Commands in the order the app declares them (``commands`` keeps insertion order)."""
    return list(group.commands).index(name)


def _usage(command: Any, path: list[str], has_subcommands: bool) -> str:
    """``nwbzarr convert [OPTIONS] SOURCE TARGET`` (``COMMAND [ARGS]...`` for a group)."""
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    words = [*path, "[OPTIONS]"]
    for arg in arguments:
        word = (arg.name or "").upper() + ("..." if arg.nargs == -1 else "")
        words.append(word if arg.required else f"[{word}]")
    if has_subcommands:
        words.append("COMMAND [ARGS]...")
    return " ".join(words)


def _parameter_table(command: Any) -> list[str]:
    """A table of the command's arguments and options (plus ``--help``, which every command has)."""
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    rows = ["| argument or option | type | default | description |", "|---|---|---|---|"]
    for param in params:
        rows.append(f"| {_names(param)} | {_cell(_type_name(param))} | {_cell(_default(param))} | "
                    f"{_cell(_plain(getattr(param, 'help', None) or ''))} |")
    rows.append("| `--help` | flag | | Show the command's help and exit. |")
    return ["\n".join(rows) + "\n"]


def _names(param: Any) -> str:
    """``SOURCE`` for an argument; ``--jobs``, ``-j`` (and the ``--no-`` form of a flag pair) for an option."""
    if param.param_type_name == "argument":
        return f"`{(param.name or '').upper()}`"
    return ", ".join(f"`{name}`" for name in [*param.opts, *param.secondary_opts])


def _type_name(param: Any) -> str:
    """The value a parameter takes: ``flag``, ``text``, ``integer``, the choices of an enum, ..."""
    if getattr(param, "is_flag", False):
        return "flag"
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    kind = _annotation_name(annotation) if annotation is not None else _click_type_name(param)
    return kind + (", repeatable" if param.multiple else "")


def _annotation_name(annotation: Any) -> str:
    """The name of a Python annotation as a user types the value (Typer >= 0.20's parameters)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if args:  # list[str], str | None, ...
        return _annotation_name(args[0])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(str(member.value) for member in annotation)
    return TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)).lower())


def _click_type_name(param: Any) -> str:
    """The name of a click parameter type (Typer before 0.20 builds on click itself)."""
    kind = getattr(param, "type", None)
    choices = getattr(kind, "choices", None)
    if choices:
        return " \\| ".join(str(c) for c in choices)
    return {"string": "text"}.get(str(getattr(kind, "name", "text")).lower(), getattr(kind, "name", "text"))


def _default(param: Any) -> str:
    """The default as declared; ``required`` when there is none to fall back on."""
    if param.required:
        return "required"
    value = param.default
    if callable(value) or value is None or value in ((), []):
        return ""
    if getattr(param, "is_flag", False) and param.secondary_opts:
        return f"`{param.opts[0] if value else param.secondary_opts[0]}`"
    if getattr(param, "is_flag", False) and isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, enum.Enum):
        value = value.value
    return f"`{value}`" if value != "" else '`""`'


def _plain(text: str) -> str:
    """Help text as one paragraph per blank-line-separated block, without click's ``\\b`` markers."""
    return "\n\n".join(" ".join(part.split()) for part in text.replace("\b", "").split("\n\n"))


def _cell(text: str) -> str:
    """Text made safe for one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
