"""MkDocs hook: typeset the TeX of every page as MathML while the site is built.

`pymdownx.arithmatex` (generic mode) finds the mathematics in the Markdown (`$...$`,
`$$...$$`, `\\(...\\)`, `\\[...\\]`) and leaves it as TeX inside
`<span class="arithmatex">` / `<div class="arithmatex">`. This hook replaces each of
those TeX strings by MathML, converted with the pure-Python `latex2mathml` package (the
`docs` extra of pyproject.toml). Browsers draw MathML themselves (Chromium 109+,
Firefox, Safari), so the built site shows its formulas with no script and no network.

A formula that `latex2mathml` does not fully understand is reported as a warning,
which fails `mkdocs build --strict` (the CI docs step): an unknown command comes out of
the converter as text that still starts with a backslash, and that is what is checked.
`check_rendered.py` then checks the finished pages for any TeX the conversion missed.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from latex2mathml.converter import convert
from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger("typeset_math")

# What arithmatex writes in generic mode: \( \) inline in a span, \[ \] display in a div.
_ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*'
    r"(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<display>.*?)\\\])"
    r"\s*</(?P=tag)>",
    re.DOTALL,
)

_MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"


def _leftover_commands(mathml: str) -> list[str]:
    """TeX commands that came through the conversion as literal text."""
    root = ET.fromstring(mathml)
    found = []
    for el in root.iter():
        if el.text and "\\" in el.text:
            found.append(el.text.strip())
    return found


# TeX that latex2mathml spells differently. It has no `aligned` (its rows come out as
# text with raw `&`), but its `align*` is the same table of right/left-aligned columns.
_REWRITES = ((r"\begin{aligned}", r"\begin{align*}"), (r"\end{aligned}", r"\end{align*}"))


# latex2mathml writes `\sinh t` as <mi>sinh</mi><mi>t</mi>, which browsers set as "sinht".
# TeX puts a thin space between a function name and an argument that is not a bracket.
_FUNCTION_NAME = re.compile(
    r"(<mi>(?:arccos|arcsin|arctan|arg|cos|cosh|cot|coth|csc|det|dim|exp|gcd|inf|ker|lg|lim|ln|log"
    r"|max|min|sec|sin|sinh|sup|tan|tanh)</mi>)(?=<(?!mo[ >]|/))"
)


def typeset(tex: str, display: bool) -> tuple[str, list[str]]:
    """MathML for one formula, and the TeX commands it could not convert (empty if none)."""
    tex = tex.strip()
    for old, new in _REWRITES:
        tex = tex.replace(old, new)
    mathml = convert(tex, display="block" if display else "inline")
    mathml = _FUNCTION_NAME.sub(r'\1<mspace width="0.1667em" />', mathml)
    return mathml, _leftover_commands(mathml)


def typeset_page(content: str, where: str = "") -> str:
    """Replace every arithmatex element of a page's HTML by MathML."""

    def replace(m: re.Match) -> str:
        display = m.group("display") is not None
        tex = html.unescape(m.group("display") if display else m.group("inline"))
        try:
            mathml, leftovers = typeset(tex, display)
        except Exception as exc:  # noqa: BLE001 - any converter failure is a build warning
            log.warning("%s: cannot typeset %r: %s", where, tex.strip(), exc)
            return m.group(0)
        if leftovers:
            log.warning("%s: %r: latex2mathml left %s untranslated", where, tex.strip(), leftovers)
        tag = m.group("tag")
        return f'<{tag} class="arithmatex">{mathml}</{tag}>'

    return _ARITHMATEX.sub(replace, content)


def on_page_content(html_content, page, config, files, **kwargs):
    return typeset_page(html_content, page.file.src_uri)
