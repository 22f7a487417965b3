"""Build the documentation and take a screenshot of every page in headless Chromium, offline.

For reviewing what a reader sees: the formulas (MathML typeset at build time), the
tables, the figures and the code blocks, exactly as a browser draws them with no network
(the browser is told that every host name fails to resolve, so anything the site tried
to fetch from another host would be missing from the picture).

Setup (Debian or Ubuntu; the browser is a distribution package, not a download):

    apt-get install chromium            # Ubuntu: chromium-browser, or set CHROMIUM=/path/to/chrome
    pip install -e ".[docs]"            # mkdocs and its plugins; Pillow and numpy (for trimming) are optional

Run from the repository root:

    python docs/screenshots.py                    # build into a temp dir, PNGs into build/screenshots/
    python docs/screenshots.py --site site/       # use an already built site
    python docs/screenshots.py --only quadrature  # pages whose path contains a word
    python docs/screenshots.py --width 800        # a narrow (tablet) layout

Each page becomes `<out>/<page path with / replaced by _>.png`, e.g.
`build/screenshots/quadrature.png` and `build/screenshots/api_linalg.png`. Pages are
captured at the given width and a tall window; with Pillow installed, the empty space
above the footer is trimmed, and a page longer than the window is captured again with a
taller one. The script exits non-zero if the build or any screenshot fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    sys.exit(
        "No Chromium found. Install it (Debian: `apt-get install chromium`) or set CHROMIUM=/path/to/browser."
    )


def build_site(dest: Path) -> None:
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(dest)]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def pages(site: Path, only: list[str]) -> list[Path]:
    found = []
    for html in sorted(site.rglob("index.html")):
        rel = page_path(site, html)
        if rel.startswith(("search", "assets")):
            continue
        if only and not any(word in rel for word in only):
            continue
        found.append(html)
    return found


def page_path(site: Path, html: Path) -> str:
    rel = html.parent.relative_to(site).as_posix()
    return "index" if rel in ("", ".") else rel


def shot_name(site: Path, html: Path) -> str:
    return page_path(site, html).replace("/", "_") + ".png"


def capture(browser: str, url: str, out: Path, width: int, height: int) -> None:
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", "--mute-audio", "--no-default-browser-check",
        # The browser's own traffic (updates, sync, spelling dictionaries) stays off, ...
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps",
        # ... and every host name fails to resolve: nothing can come from the network.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--window-size={width},{height}", f"--screenshot={out}", url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{browser} failed on {url}:\n{proc.stderr[-2000:]}")


def trim(out: Path) -> bool:
    """Cut the empty band between a short page and its footer; False if the page is cut off.

    Material keeps its (dark) footer at the bottom of the window, so a page shorter than
    the window shows content, a white band, then the footer. No footer at the bottom
    means that the page went on below the window.
    """
    try:
        import numpy as np
        from PIL import Image
    except ImportError:
        return True
    with Image.open(out) as im:
        im = im.convert("RGB")
        grey = np.asarray(im.convert("L"), dtype=np.int16)
    dark = grey.mean(axis=1) < 128
    blank = grey.min(axis=1) >= 245
    footer_top = len(grey)
    while footer_top > 0 and dark[footer_top - 1]:
        footer_top -= 1
    if footer_top == len(grey):
        return False
    content_end = footer_top
    while content_end > 0 and blank[content_end - 1]:
        content_end -= 1
    if footer_top - content_end > 64:
        keep = min(content_end + 32, footer_top)
        top, foot = im.crop((0, 0, im.width, keep)), im.crop((0, footer_top, im.width, im.height))
        joined = Image.new("RGB", (im.width, top.height + foot.height))
        joined.paste(top, (0, 0))
        joined.paste(foot, (0, top.height))
        joined.save(out)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="an already built site (default: build one now)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots", help="where the PNGs go")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=6000, help="first window height tried (px)")
    parser.add_argument("--max-height", type=int, default=48000)
    parser.add_argument("--only", nargs="*", default=[], help="pages whose path contains one of these words")
    args = parser.parse_args(argv)

    browser = find_browser()
    with tempfile.TemporaryDirectory() as tmp:
        site = args.site
        if site is None:
            site = Path(tmp) / "site"
            build_site(site)
        site = site.resolve()
        args.out.mkdir(parents=True, exist_ok=True)
        todo = pages(site, args.only)
        if not todo:
            print("no pages matched", file=sys.stderr)
            return 1
        for html in todo:
            out = args.out / shot_name(site, html)
            height = args.height
            while True:
                capture(browser, html.as_uri(), out, args.width, height)
                if trim(out) or height >= args.max_height:
                    break
                height = min(2 * height, args.max_height)
            print(f"{out}  ({height}px window)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
