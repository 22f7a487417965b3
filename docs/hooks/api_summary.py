"""MkDocs hook: a table of every public name of a module, written while the site is built.

A line `<!-- api-summary: jaxgrad.linalg -->` in a page becomes a Markdown table with one
row per public name of that module (what `from jaxgrad.linalg import *` would see:
names without a leading underscore, submodules left out): the name, linked to its
entry on the API pages, and the first line of its docstring. The table is read from
the installed package, so it cannot fall out of date, and a public name that has no
`::: module.name` entry on any page leaves a link that `mkdocs build --strict` rejects.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types

_MARKER = re.compile(r"^<!-- api-summary: (?P<module>[\w.]+) -->$", re.MULTILINE)


def public_names(module_name: str) -> list[str]:
    """The public, non-module names of a module, in alphabetical order."""
    module = importlib.import_module(module_name)
    return sorted(
        name for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
    )


def summary_line(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    first = doc.strip().split("\n\n")[0]
    return " ".join(first.split()).replace("|", "\\|")


def summary_table(module_name: str) -> str:
    module = importlib.import_module(module_name)
    rows = ["| name | what it is |", "| --- | --- |"]
    for name in public_names(module_name):
        obj = getattr(module, name)
        rows.append(f"| [`{name}`][{module_name}.{name}] | {summary_line(obj)} |")
    return "\n".join(rows)


def on_page_markdown(markdown, page, config, files, **kwargs):
    return _MARKER.sub(lambda m: summary_table(m.group("module")), markdown)
