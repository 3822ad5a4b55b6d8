"""Render the documentation site into _docs/ (`--out DIR` to write elsewhere).

With quarto on PATH this is nbdev's own `nbdev_docs`. Without it (quarto does not install here), every
notebook goes through nbdev's docs processors, the same ones `nbdev_docs` runs before quarto, and then
to HTML with nbconvert:

- nbdev's processors turn the notebook into its docs page: `#| hide` and `#| export` cells go, the H1 and
  its `> summary` become the page's front matter, and a `show_doc(...)` cell is added after every exported
  function and class (patched methods appear as `Class.method`), its output the API reference markdown.
- To fill in those outputs nbdev executes code; here it executes only what the reference needs: exported
  cells, cells that only import, and `show_doc` cells. Lessons are not run (nbdev also runs cells that
  mix imports with other code, and `#| cuda`/`#| slow` ones); their stored outputs are shown as they are.
- The reference also gets each public method defined in a class body (`Class.method`, properties and
  classmethods included): nbdev documents those only where a notebook calls `show_doc(Class.method)`.
- Pages are named as nbdev names them (`10_video.ipynb` -> `video.html`, nbdev's `output-file`), so the
  links in `_modidx.py` (`video.html#video.from_array`) and nbdev's cross-references work between pages;
  headings get quarto's lower-case ids. `index.html` is nbs/index.ipynb, and every page starts with links
  to all pages (nbs/sidebar.yml's order and sections, then the notebooks it does not list).

    python tools/make_docs.py                      # quarto if installed, else the fallback, into _docs/
    python tools/make_docs.py --no-quarto --out /tmp/docs   # the fallback, elsewhere (what the test does)
"""
import argparse
import ast
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# Tracked files nbdev_docs rewrites on its way: README.md (ours comes from tools/make_readme.py),
# nbs/sidebar.yml (written by hand; nbdev regenerates it while settings.ini says custom_sidebar = False),
# nbs/nbdev.yml (from settings.ini) and _modidx.py (nbdev_export's job). The render uses nbdev's versions;
# afterwards they are put back, so `make docs` leaves the working tree as it found it.
_KEEP = ["README.md", "nbs/sidebar.yml", "nbs/nbdev.yml", "prompt_a_video/_modidx.py"]


def quarto_docs(out: Path):
    "nbdev's own path: `nbdev_docs` renders into _docs/ (moved to `out` if that is elsewhere)."
    keep = {p: p.read_bytes() for p in (ROOT / k for k in _KEEP) if p.exists()}
    try:
        subprocess.run([str(Path(sys.executable).parent / "nbdev_docs")], cwd=ROOT, check=True)
    finally:
        for p, b in keep.items():
            if p.read_bytes() != b: p.write_bytes(b)
    if out.resolve() != (ROOT / "_docs").resolve():
        shutil.rmtree(out, ignore_errors=True)
        shutil.move(str(ROOT / "_docs"), str(out))


# ---------------------------------------------------------------------------------------------------------
# The fallback: nbdev's processors, then nbconvert.

def _procs():
    "nbdev's docs processors (`FilterDefaults`), with our method docs and our narrower execution."
    from nbdev.process import Processor
    from nbdev.processors import FilterDefaults, exec_show_docs, add_show_docs, _want_doc
    from nbdev.config import get_config
    from execnb.nbio import mk_cell
    flags = set(get_config().get("tst_flags", "").split())

    class add_method_docs(Processor):
        "After each exported public class, `show_doc` every public method of its body not documented already."
        def begin(self):
            cells = self.nb.cells
            shown = {n for c in cells for n in _shown(c)}
            for cell in reversed([c for c in cells if _want_doc(c)]):
                for cls in [o for o in (cell.parsed_() or []) if isinstance(o, ast.ClassDef)]:
                    if cls.name.startswith("_"): continue
                    meths = [f.name for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                             and not f.name.startswith("_") and f"{cls.name}.{f.name}" not in shown]
                    meths = list(dict.fromkeys(meths))  # a property's setter repeats its name
                    if not meths: continue
                    # after the class's own show_doc (explicit ones sit anywhere in the notebook)
                    at = next((i for i, c in enumerate(cells) if cls.name in _shown(c)),
                              next(i for i, c in enumerate(cells) if c is cell))
                    for m in reversed(meths):
                        cells.insert(at + 1, mk_cell(f"show_doc(_pav_member({cls.name}, {m!r}), "
                                                     f"name={cls.name + '.' + m!r}, title_level=4)"))

    class exec_reference(exec_show_docs):
        "nbdev's `exec_show_docs`, running only exported cells, pure imports and `show_doc` cells."
        def begin(self):
            super().begin()
            self.k.run_cell(_MEMBER)
        def __call__(self, cell):
            if _wanted(cell, flags): super().__call__(cell)
        def end(self):
            super().end()
            # free the notebook's objects and stop its history thread now, not all of them at exit
            if hasattr(self, "k"): getattr(self.k, "_atexit_once", lambda: None)()

    def procs(self):
        ps = list(FilterDefaults.procs(self))
        ps.insert(ps.index(add_show_docs) + 1, add_method_docs)
        return [exec_reference if p is exec_show_docs else p for p in ps]
    return type("DocsFilter", (FilterDefaults,), {"procs": procs})()


# How an inserted method `show_doc` finds its function: a property's getter, a cached_property's or a
# class/static method's function (`show_doc` of a property or a bound method links its source to line None).
_MEMBER = '''
def _pav_member(cls, name):
    import inspect
    o = inspect.getattr_static(cls, name)
    return getattr(o, "fget", None) or getattr(o, "func", None) or getattr(o, "__func__", None) or o
'''


def _shown(cell) -> set:
    "Names a code cell passes to `show_doc` (`Class` or `Class.method`)."
    if cell.cell_type != "code": return set()
    calls = [t.value for t in (cell.parsed_() or []) if isinstance(t, ast.Expr) and isinstance(t.value, ast.Call)
             and getattr(t.value.func, "id", None) == "show_doc" and t.value.args]
    return {ast.unparse(c.args[0]) for c in calls}


def _wanted(cell, flags) -> bool:
    "Does the reference need this cell run? Exported code, cells that only import, `show_doc` cells."
    if cell.cell_type != "code" or not cell.source or "nbdev_export(" in cell.source: return False
    d = getattr(cell, "directives_", None) or {}
    if d.get("eval:", [""])[0].lower() == "false": return False
    if d.keys() & {"export", "exports", "exporti", "exec_doc"}: return True
    if d.keys() & flags: return False  # `#| cuda`, `#| slow`
    trees = cell.parsed_() or []
    if trees and all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees): return True
    return bool(_shown(cell))


def _directives(src):
    "`#| key: value` lines of a code cell -> {key: value}, and the source without them."
    d, rest = {}, []
    for line in src.splitlines():
        m = re.match(r"\s*#\|\s*([\w-]+):?\s*(.*)$", line)
        if m: d[m.group(1)] = m.group(2).strip().strip('"')
        else: rest.append(line)
    return d, "\n".join(rest).strip("\n")


_QUARTO_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)\{([^}]*)\}")  # [txt](url){target="_blank" style=..}


def _to_html_cells(nb):
    "Quarto-isms of the processed notebook into what nbconvert shows: front matter, echo/output options."
    import yaml
    from execnb.nbio import mk_cell
    cells, fm = [], {}
    for c in nb.cells:
        if c.cell_type == "raw" and c.source.startswith("---"):
            fm = yaml.safe_load(c.source.strip().strip("-")) or {}
            head = f"# {fm.get('title', '')}" + (f"\n\n> {fm['description']}" if fm.get("description") else "")
            cells.append(mk_cell(head, "markdown"))
            continue
        if c.cell_type == "code":
            d, c.source = _directives(c.source)
            if str(d.get("include", "")).lower() == "false": continue
            if str(d.get("output", "")).lower() == "false": c.outputs = []
            if str(d.get("echo", "")).lower() == "false" or not c.source.strip():
                c.setdefault("metadata", {})["transient"] = {"remove_source": True}
            for o in c.get("outputs", []):
                md = o.get("data", {}).get("text/markdown")
                if md is not None:
                    md = "".join(md) if isinstance(md, list) else md
                    o["data"]["text/markdown"] = _QUARTO_LINK.sub(r'<a href="\2" \3>\1</a>', md)
        cells.append(c)
    nb.cells = cells
    return fm


def _nav(pages, current):
    "Links to every page: sidebar.yml's sections first, then the pages it does not list."
    import yaml
    sb, order = ROOT / "nbs" / "sidebar.yml", []
    try:
        contents = yaml.safe_load(sb.read_text())["website"]["sidebar"]["contents"]
    except Exception:
        contents = []
    by_nb = {p["nb"]: p for p in pages}

    def walk(items, section):
        for it in items:
            if isinstance(it, str) and it in by_nb: order.append((section, by_nb.pop(it)))
            elif isinstance(it, dict) and "contents" in it: walk(it["contents"], it.get("section", section))
    walk(contents, "")
    order += [("More", p) for p in by_nb.values()]
    parts, last = ['<nav class="pav-nav"><strong>Pages</strong>'], None
    for section, p in order:
        if section != last:
            parts.append(("</ul>" if last is not None else "")
                         + (f"<em>{html.escape(section)}</em>" if section else "") + "<ul>")
            last = section
        b = (" <b>(this page)</b>" if p["page"] == current else "")
        parts.append(f'<li><a href="{p["page"]}">{html.escape(p["title"])}</a>{b}</li>')
    return "\n".join(parts) + "</ul></nav>\n"


_NAV_CSS = ("<style>.pav-nav{margin:1em 2em;padding:.5em 1em;border:1px solid #ddd;border-radius:4px;"
            "font-size:90%}.pav-nav ul{margin:.2em 0 .5em;columns:2}.pav-nav em{display:block}</style>\n")


def fallback_docs(out: Path, only=()):
    "Every notebook (or those in `only`) through nbdev's processors and nbconvert into `out`."
    os.environ["IN_TEST"] = "1"  # what nbdev's docs processing sets, so notebooks can skip work
    import nbformat
    from nbconvert import HTMLExporter
    from execnb.nbio import read_nb, nb2dict
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    cfg = get_config()
    nbs = sorted(nbglob(cfg.nbs_path, func=Path))  # skips `_`-prefixed and hidden notebooks and folders
    if only: nbs = [p for p in nbs if p.resolve() in {Path(o).resolve() for o in only}]
    site = f"{cfg.doc_host}{cfg.doc_baseurl}".rstrip("/") + "/"
    docs_filter, exporter = _procs(), HTMLExporter(
        template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)
    out.mkdir(parents=True, exist_ok=True)
    here, pages = os.getcwd(), []
    for path in nbs:
        t = time.time()
        nb = read_nb(path)
        os.chdir(path.parent)  # code runs where the notebook lives, as under nbdev_test
        try:
            docs_filter(nb)
        finally:
            os.chdir(here)
        fm = _to_html_cells(nb)
        page = fm.get("output-file") or path.with_suffix(".html").name
        node = nbformat.reads(json.dumps(nb2dict(nb)), as_version=4)
        node.metadata["title"] = str(fm.get("title") or path.stem).replace("`", "")
        body, _ = exporter.from_notebook_node(node)
        pages.append(dict(nb=path.relative_to(cfg.nbs_path).as_posix(), page=page, title=node.metadata["title"],
                          html=body))
        print(f"{path.relative_to(ROOT)} -> {page} ({time.time() - t:.1f}s)", flush=True)
    for p in pages:
        body = p["html"].replace(f'href="{site}', 'href="')  # nbdev's links to the published site -> local
        # quarto's heading ids are lower case, and so are nbdev's anchors (`video.html#video.from_array`)
        body = re.sub(r'(<h[1-6] id="|<a class="anchor-link" href="#)([^"]+)"',
                      lambda m: m.group(1) + m.group(2).lower() + '"', body)
        nav = _NAV_CSS + _nav(pages, p["page"])
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + nav, body, count=1)
        (out / p["page"]).write_text(body, encoding="utf-8")
    if not any(p["page"] == "index.html" for p in pages):  # no nbs/index.ipynb: a bare page of links
        title = html.escape(cfg.title)
        (out / "index.html").write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
                                        f"{_NAV_CSS}</head><body><h1>{title}</h1>{_nav(pages, 'index.html')}"
                                        "</body></html>", encoding="utf-8")
    print(f"wrote {len(pages)} pages into {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "_docs", help="where the site goes (default: _docs)")
    ap.add_argument("notebooks", nargs="*", help="fallback only: render just these notebooks (default: all)")
    ap.add_argument("--no-quarto", action="store_true", help="the nbconvert fallback even where quarto is installed")
    args = ap.parse_args()
    out = args.out.resolve()
    t = time.time()
    if shutil.which("quarto") and not args.no_quarto:
        quarto_docs(out)
    else:
        print("quarto is not installed: rendering with nbdev's processors and nbconvert")
        fallback_docs(out, args.notebooks)
    print(f"docs in {out} ({time.time() - t:.0f}s); open {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
