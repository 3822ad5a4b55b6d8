"""List public functions and methods of the package whose parameters lack a docment (a trailing comment).

Run: python tools/check_docments.py [--strict]   (--strict exits 1 when any is missing)"""
import importlib, inspect, pkgutil, sys
from fastcore.docments import docments
import prompt_a_video

def public_callables():
    seen = set()
    for m in pkgutil.walk_packages(prompt_a_video.__path__, 'prompt_a_video.'):
        mod = importlib.import_module(m.name)
        names = getattr(mod, '__all__', None) or [n for n in vars(mod) if not n.startswith('_')]
        for n in names:
            o = getattr(mod, n, None)
            if getattr(o, '__module__', '') != mod.__name__: continue
            if inspect.isfunction(o): yield f'{mod.__name__}.{n}', o
            elif inspect.isclass(o):
                if (mod.__name__, n) in seen: continue
                seen.add((mod.__name__, n))
                yield f'{mod.__name__}.{n}', o
                for mn, mv in vars(o).items():
                    if mn.startswith('_'): continue
                    f = mv.__func__ if isinstance(mv, (classmethod, staticmethod)) else mv
                    f = f.fget if isinstance(f, property) else f
                    if inspect.isfunction(f): yield f'{mod.__name__}.{n}.{mn}', f

def missing(f):
    try: sig = inspect.signature(f)
    except (ValueError, TypeError): return []
    try: d = docments(f, full=True)
    except Exception as e: return [f'<{e}>']
    out = []
    for p, v in d.items():
        if p in ('self', 'cls', 'return') or p not in sig.parameters: continue
        if sig.parameters[p].kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL) and v['docment'] is None: continue
        if v['docment'] is None: out.append(p)
    return out

if __name__ == '__main__':
    bad = [(n, m) for n, f in public_callables() if (m := missing(f))]
    for n, m in bad: print(f'{n}: {", ".join(m)}')
    print(f'{len(bad)} public callables with undocumented parameters')
    if '--strict' in sys.argv and bad: sys.exit(1)
