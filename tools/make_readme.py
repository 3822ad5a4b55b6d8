"""Write README.md from nbs/index.ipynb without quarto (`--check`: fail if README.md is out of date).

Markdown cells are copied as they are; code cells become ```python blocks (directive lines such as
`#| eval: false` removed, `#| hide` cells left out) followed by their stored text outputs.
"""
import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"


def _text(src):
    return "".join(src) if isinstance(src, list) else src


def _output_text(out):
    if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
        return ""  # progress-bar widgets
    if out.get("output_type") == "stream":
        # terminal output: CRLF line ends; a bare CR redraws a progress line, keep what was drawn last
        text = _text(out.get("text", "")).replace("\r\n", "\n")
        return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    data = out.get("data", {})
    return _text(data["text/plain"]) if "text/plain" in data and "image/png" not in data else ""


def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    parts = []
    for cell in nb["cells"]:
        src = _text(cell["source"])
        if cell["cell_type"] == "markdown":
            md = src.strip().replace("```{mermaid}", "```mermaid")           # Quarto's fence -> GitHub's
            parts.append(re.sub(r"\]\((\d\d_[\w]+\.ipynb)\)", r"](nbs/\1)", md))   # notebook links from the repository root
            continue
        if cell["cell_type"] != "code":
            continue
        lines = src.splitlines()
        directives = [l[3:].strip() for l in lines if l.startswith("#|")]
        if any(d.startswith(("hide", "include: false", "export", "exporti")) for d in directives):
            continue
        code = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        if not code:
            continue
        parts.append(f"```python\n{code}\n```")
        outs = "".join(_output_text(o) for o in cell.get("outputs", [])).rstrip()
        if outs:
            parts.append(f"    " + outs.replace("\n", "\n    "))
    return HEADER + "\n\n".join(p for p in parts if p) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md differs from the notebook")
    args = ap.parse_args()
    text = render(ROOT / "nbs" / "index.ipynb")
    readme = ROOT / "README.md"
    if args.check:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            print("FAIL: README.md is out of date with nbs/index.ipynb; run `python tools/make_readme.py` and commit",
                  file=sys.stderr)
            return 1
        print("README.md in sync with nbs/index.ipynb")
        return 0
    readme.write_text(text, encoding="utf-8")
    print(f"wrote {readme.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
