"""MkDocs hook: fail the build when a finished page would show raw TeX or need the network.

Runs on the final HTML of every page (after `typeset_math.py` has typeset the formulas) and
reports, as a warning that fails `mkdocs build --strict`:

- TeX that was not typeset: `\\(`, `\\)`, `\\[`, `\\]`, `\\begin{` or any `$` in the text a
  reader sees. Text inside `<code>`, `<pre>`, `<script>`, `<style>` and `<math>` is not
  looked at, so `$` in a code sample is fine. Write a literal dollar sign in prose as
  code (`` `$` ``); an unmatched `$` is almost always a formula that the Markdown
  extension did not recognise (a space before the closing `$`, or a `|` that split a
  table cell);
- a script, stylesheet, image, font or frame loaded from another host (`http://`,
  `https://` or `//` in `src`, or in the `href` of a `<link>` that loads something): the
  site must work offline. Links (`<a href>`) to other sites are fine.

`find_problems(html)` is importable, so the tests check the checker itself.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger("check_rendered")

# Elements whose text is not prose: code, scripts, and the typeset formulas themselves.
_SKIP = {"code", "pre", "script", "style", "math", "textarea", "kbd"}
# Void elements never get an end tag, so they must not enter the open-element stack.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_TEX = re.compile(r"\\[()\[\]]|\\begin\{|\$")
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
# <link rel=...> values that make the browser fetch the target while the page loads.
_LOADING_RELS = {"stylesheet", "icon", "preload", "modulepreload", "manifest", "prefetch", "preconnect",
                 "dns-prefetch", "apple-touch-icon"}


class _Scanner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        src = attrs.get("src") or ""
        if src and _REMOTE.match(src):
            self.problems.append(f"<{tag}> loads {src} from the network")
        if tag == "link":
            rels = set((attrs.get("rel") or "").lower().split())
            href = attrs.get("href") or ""
            if rels & _LOADING_RELS and _REMOTE.match(href):
                self.problems.append(f"<link rel={attrs.get('rel')}> loads {href} from the network")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in self.stack:  # tolerate unclosed inner elements, as browsers do
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if _SKIP.intersection(self.stack):
            return
        for m in _TEX.finditer(data):
            lo, hi = max(0, m.start() - 40), min(len(data), m.end() + 40)
            snippet = " ".join(data[lo:hi].split())
            self.problems.append(f"unrendered TeX {m.group(0)!r} in: ...{snippet}...")


def find_problems(html: str) -> list[str]:
    """Raw TeX delimiters, stray `$` and network loads in a page's HTML, as messages."""
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.problems


def on_post_page(output, page, config, **kwargs):
    for problem in find_problems(output):
        log.warning("%s: %s", page.file.src_uri, problem)
    return output
