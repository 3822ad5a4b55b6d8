"""Statistics of the exported cells of the notebooks: their size, how many definitions each holds, how methods are taught.

Run: python tools/cell_stats.py [--list N] [--check]
  --list N   also print the N largest exported cells and the N holding the most definitions
  --check    exit 1 unless: median at most 12 lines, none over 60, at most one definition per cell,
             and no method attached by assignment (`Cls.name = f`)

A cell's lines: its source lines minus `#|` directives and blank lines.
A definition: a top-level `def`, `class`, or an assignment to a name (a constant, a table); a bare
expression, an import or an `if` holding no definition is not one. A `@patch` method is one definition.
"""
import ast
import json
import statistics
import sys
from pathlib import Path

NBS = Path(__file__).resolve().parent.parent / "nbs"


def directives(src):
    "The `#|` directives of a cell, by name."
    return {l[3:].strip().split(":")[0].split()[0] for l in src.splitlines()
            if l.startswith("#|") and l[3:].strip()}


def exported_cells():
    "Yield (notebook, cell index, source) for every exported code cell."
    for nb in sorted(NBS.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for i, c in enumerate(cells):
            src = "".join(c["source"])
            if c["cell_type"] == "code" and directives(src) & {"export", "exports"}:
                yield nb.name, i, src


def code_lines(src):
    return [l for l in src.splitlines() if l.strip() and not l.startswith("#|")]


def definitions(tree):
    "Top-level definitions of a parsed cell, as (kind, name)."
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            patched = any((isinstance(d, ast.Name) and d.id == "patch") or
                          (isinstance(d, ast.Call) and getattr(d.func, "id", None) == "patch")
                          for d in node.decorator_list)
            out.append(("patch" if patched else "def", node.name))
        elif isinstance(node, ast.ClassDef):
            out.append(("class", node.name))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    out.append(("name", t.id))
                elif isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id[:1].isupper():
                    out.append(("assigned method", f"{t.value.id}.{t.attr}"))
        elif isinstance(node, ast.If):
            sub = ast.Module(body=node.body + node.orelse, type_ignores=[])
            out += definitions(sub)
    return out


def stats():
    rows = []
    for nb, i, src in exported_cells():
        try:
            tree = ast.parse("\n".join(l for l in src.splitlines() if not l.startswith("#|")))
        except SyntaxError:
            continue
        rows.append(dict(nb=nb, cell=i, lines=len(code_lines(src)), defs=definitions(tree)))
    return rows


def summary(rows):
    sizes = [r["lines"] for r in rows]
    ndefs = [len(r["defs"]) for r in rows]
    patch_cells = [r for r in rows if any(k == "patch" for k, _ in r["defs"])]
    return {
        "exported cells": len(rows),
        "median lines": statistics.median(sizes),
        "max lines": max(sizes),
        "cells over 40 lines": sum(s > 40 for s in sizes),
        "cells over 60 lines": sum(s > 60 for s in sizes),
        "definitions per cell (mean)": round(sum(ndefs) / len(rows), 2),
        "cells with 2+ definitions": sum(n >= 2 for n in ndefs),
        "cells with 3+ definitions": sum(n >= 3 for n in ndefs),
        "@patch methods": sum(k == "patch" for r in rows for k, _ in r["defs"]),
        "cells with @patch": len(patch_cells),
        "cells with several @patch": sum(sum(k == "patch" for k, _ in r["defs"]) > 1 for r in patch_cells),
        "methods attached by assignment": sum(k == "assigned method" for r in rows for k, _ in r["defs"]),
    }


if __name__ == "__main__":
    rows = stats()
    s = summary(rows)
    w = max(map(len, s))
    for k, v in s.items():
        print(f"{k:<{w}}  {v}")
    if "--list" in sys.argv:
        n = int(sys.argv[sys.argv.index("--list") + 1])
        print("\nlargest cells:")
        for r in sorted(rows, key=lambda r: -r["lines"])[:n]:
            print(f"  {r['lines']:4d}  {r['nb']}#{r['cell']}  {', '.join(n for _, n in r['defs'])[:100]}")
        print("\nmost definitions:")
        for r in sorted(rows, key=lambda r: -len(r["defs"]))[:n]:
            print(f"  {len(r['defs']):4d}  {r['nb']}#{r['cell']}  {', '.join(n for _, n in r['defs'])[:100]}")
    if "--check" in sys.argv:
        ok = (s["median lines"] <= 12 and s["cells over 60 lines"] == 0 and s["cells with 2+ definitions"] == 0
              and s["methods attached by assignment"] == 0)
        print("check:", "passed" if ok else "FAILED")
        sys.exit(0 if ok else 1)
