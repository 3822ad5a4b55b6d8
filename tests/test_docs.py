"""`make docs` without quarto: render the site into a temporary folder with tools/make_docs.py, then check
that every notebook has its page under its title and that every public name of `_modidx.py` (methods
included, patched or not) has its entry in the API reference of its page, under the anchor nbdev links to.

What is expected is read at test time (notebooks, `_modidx.py`), so notebooks can change freely.
"""
import json
import re
import runpy
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"


class _Page(HTMLParser):
    "The <title> and the headings (id, text) of a page."
    def __init__(self, text):
        super().__init__()
        self.title, self.headings, self._in = "", [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "title" or re.fullmatch(r"h[1-6]", tag):
            self._in = [tag, dict(attrs).get("id", ""), ""]

    def handle_endtag(self, tag):
        if self._in and tag == self._in[0]:
            tag, id_, text = self._in
            text = text.replace("¶", "").strip()  # nbconvert's anchor link
            if tag == "title": self.title = text
            else: self.headings.append((tag, id_, text))
            self._in = None

    def handle_data(self, data):
        if self._in: self._in[2] += data


def _plain(md):
    "Heading markdown as it reads: no `code` or *emphasis* marks."
    return re.sub(r"[`*_]", "", md).strip()


def _notebooks():
    "The notebooks nbdev renders: those with no `_` or `.` leading a part of their path."
    return sorted(p for p in NBS.rglob("*.ipynb")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(NBS).parts))


def _h1(nb):
    for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            src = "".join(cell["source"])
            m = re.match(r"\s*#\s+(.+)", src)
            return m.group(1).strip() if m else None


def _public_symbols():
    "(qualified name, name as shown, page, anchor) for every public symbol in `_modidx.py`."
    d = runpy.run_path(str(ROOT / "prompt_a_video" / "_modidx.py"))["d"]
    res = []
    for mod, syms in d["syms"].items():
        for qual, (url, _src) in syms.items():
            name = qual[len(mod) + 1:]
            # a private class's public method (`_Rotary.forward`) is private too
            if any(part.startswith("_") for part in name.split(".")): continue
            page, _, anchor = url.partition("#")
            res.append((qual, name, page, anchor))
    return res


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "make_docs.py"), "--no-quarto", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"make_docs.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return out


_pages = {}


def _page(site, name):
    if (site, name) not in _pages:
        p = site / name
        _pages[site, name] = _Page(p.read_text(encoding="utf-8")) if p.exists() else None
    return _pages[site, name]


def test_every_notebook_has_its_page(site):
    from nbdev.doclinks import _nbpath2html  # nbdev's page name for a notebook: 10_video.ipynb -> video.html
    nbs = _notebooks()
    assert nbs, "no notebooks found"
    problems = []
    for nb in nbs:
        name = _nbpath2html(nb.relative_to(NBS)).as_posix()
        page, h1 = _page(site, name), _h1(nb)
        if h1 is None: problems.append(f"{nb.name}: no H1 title in its first markdown cell"); continue
        if page is None: problems.append(f"{nb.name}: no page {name}"); continue
        first_h1 = next((text for tag, _, text in page.headings if tag == "h1"), None)
        if _plain(page.title) != _plain(h1): problems.append(f"{name}: <title> {page.title!r}, notebook H1 {h1!r}")
        if first_h1 is None or _plain(first_h1) != _plain(h1):
            problems.append(f"{name}: first <h1> {first_h1!r}, notebook H1 {h1!r}")
    assert not problems, "\n".join(problems)
    print(f"{len(nbs)} pages checked")


def test_index_links_every_page(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"#:]+\.html)"', index))
    from nbdev.doclinks import _nbpath2html
    missing = [n for n in (_nbpath2html(nb.relative_to(NBS)).as_posix() for nb in _notebooks()) if n not in links]
    assert not missing, f"index.html does not link to {missing}"


def test_every_public_name_is_in_the_reference(site):
    syms = _public_symbols()
    assert syms, "no public symbols in _modidx.py"
    problems = []
    for qual, name, page_name, anchor in syms:
        page = _page(site, page_name)
        if page is None: problems.append(f"{qual}: its page {page_name} was not rendered"); continue
        # show_doc's entry: a heading reading exactly `name` (`Class.method` for methods), with nbdev's anchor
        ids = [id_ for _, id_, text in page.headings if text == name]
        if not ids: problems.append(f"{qual}: no reference entry `{name}` in {page_name}")
        elif anchor and anchor not in ids: problems.append(f"{qual}: entry `{name}` in {page_name} has id {ids}, "
                                                           f"_modidx links to #{anchor}")
    assert not problems, f"{len(problems)} of {len(syms)} public names missing:\n" + "\n".join(problems)
    print(f"{len(syms)} public names checked")


def test_every_public_parameter_has_a_docment():
    "Each public function, method and dataclass field documents its parameters where they are declared."
    import subprocess, sys
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "check_docments.py"), "--strict"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_exported_cells_keep_their_shape():
    "Exported cells stay short and hold one definition each (median at most 12 lines, none over 60, no method attached by assignment)."
    import subprocess, sys
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "cell_stats.py"), "--check", "--list", "5"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]
