"""The examples of docs/getting-started.md run and print what the page says.

Every ```pycon block of the page is a doctest; the blocks run in order in one namespace,
as a reader pasting them into one Python session would run them. The page switches on
float64 itself; the fixture restores the suite's setting afterwards.
"""

import doctest
import re
from pathlib import Path

import jax
import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "getting-started.md"
BLOCK = re.compile(r"^```pycon\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@pytest.fixture
def restore_x64():
    previous = jax.config.jax_enable_x64
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


def page_doctest() -> doctest.DocTest:
    text = PAGE.read_text(encoding="utf-8")
    # Keep each block at its line in the page, so that a failure names the right line.
    pieces, last = [], 0
    for m in BLOCK.finditer(text):
        pieces.append("\n" * text.count("\n", last, m.start(1)))
        pieces.append(m.group(1))
        last = m.end(1)
    source = "".join(pieces)
    return doctest.DocTestParser().get_doctest(source, {}, "getting-started.md", str(PAGE), 0)


def test_page_has_the_three_stories():
    test = page_doctest()
    text = PAGE.read_text(encoding="utf-8")
    assert len(BLOCK.findall(text)) >= 7
    assert len(test.examples) >= 20
    for call in ("jaxgrad.linalg.projector", "jaxgrad.linalg.eigh", "quad(", "minimize("):
        assert call in "".join(e.source for e in test.examples)


def test_getting_started_examples(restore_x64):
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(page_doctest())
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0
