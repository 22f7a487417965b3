"""The documentation's own checks: the API pages list every public name, and the build hooks
that typeset the mathematics and reject unrendered TeX do what they say.

Cheap: nothing here compiles a JAX program or builds the site (the CI docs step,
`mkdocs build --strict`, does that).
"""

import importlib
import importlib.util
import inspect
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API_PAGES = sorted((ROOT / "docs" / "api").glob("*.md"))
MODULES = ["jaxgrad", "jaxgrad.linalg", "jaxgrad.integrate", "jaxgrad.optimize"]
DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)


def public_names(module_name):
    module = importlib.import_module(module_name)
    return {
        f"{module_name}.{name}"
        for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
    }


def documented_names():
    return {m.group(1) for page in API_PAGES for m in DIRECTIVE.finditer(page.read_text(encoding="utf-8"))}


def resolve(path):
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def test_every_public_name_is_on_an_api_page():
    exported = set().union(*(public_names(m) for m in MODULES))
    missing = sorted(exported - documented_names())
    assert not missing, (
        "public names without a `::: name` entry in docs/api/*.md (add one in the section "
        f"where it belongs): {missing}"
    )


def test_every_api_entry_is_a_public_name():
    exported = set().union(*(public_names(m) for m in MODULES))
    stale = sorted(documented_names() - exported)
    assert not stale, f"docs/api/*.md documents names that are not exported: {stale}"


@pytest.mark.parametrize("path", sorted(set().union(*(public_names(m) for m in MODULES))))
def test_public_functions_have_summary_and_example(path):
    obj = resolve(path)
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{path} has no docstring"
    if inspect.isfunction(obj):  # result types and status enums document fields, not calls
        assert "Example" in doc and ">>>" in doc, f"{path}: docstring has no runnable example"


# ----------------------------------------------------------------- the build hooks
def load_hook(name):
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", ROOT / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_rendered_flags_raw_tex_and_network_loads():
    check = load_hook("check_rendered")
    assert check.find_problems("<p>at \\(x\\) and \\[y\\]</p>")
    assert check.find_problems("<p>at $b = $ float(π/2)</p>")
    assert check.find_problems('<td>$</td><td>|x|$ up to</td>')
    assert check.find_problems('<script src="https://cdn.example/mathjax.js"></script>')
    assert check.find_problems('<link rel="stylesheet" href="//fonts.example/css">')
    ok = (
        '<p>a <span class="arithmatex"><math><mi>x</mi></math></span> '
        '<a href="https://docs.jax.dev">JAX</a><img src="../figure.png"></p>'
        "<pre><code>echo $HOME \\(kept\\)</code></pre><script>var a = document$;</script>"
    )
    assert check.find_problems(ok) == []


def test_math_hook_typesets_and_reports_what_it_cannot():
    pytest.importorskip("latex2mathml")
    math = load_hook("typeset_math")
    page = (
        '<p><span class="arithmatex">\\(\\lvert x\\rvert &lt; 1\\)</span></p>'
        '<div class="arithmatex">\\[\\begin{aligned} a &amp;= b \\\\ c &amp;= d \\end{aligned}\\]</div>'
    )
    out = math.typeset_page(page)
    assert out.count("<math") == 2 and "\\(" not in out and "\\[" not in out
    assert 'display="block"' in out and "&#x0003C;" in out  # the &lt; of the HTML, unescaped
    assert math.typeset(r"\frac{a}{b}", display=False)[1] == []
    assert math.typeset(r"\notacommand x", display=False)[1] != []
