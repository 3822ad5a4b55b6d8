"""The `pav` option sets are frozen: every parser's option strings (and positional names) match tests/data/cli_options.json.

A lost or renamed option fails here. After adding an option on purpose, regenerate the file with
`python tests/test_cli_options.py --write`. The CLI is built from dataclasses: at most the top-level options are
written by hand with `add_argument`.
"""
import argparse
import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "cli_options.json"
CLI = Path(__file__).resolve().parents[1] / "prompt_a_video" / "cli.py"


def _options(p: argparse.ArgumentParser) -> list[str]:
    "Option strings of every action of `p`, plus the dest of each positional, sorted."
    out = set()
    for a in p._actions:
        out.update(a.option_strings)
        if not a.option_strings: out.add(a.dest)
    return sorted(out)


def option_sets() -> dict:
    "{'': top-level options, COMMAND: its options, ...} of the current `pav` parser."
    from prompt_a_video.cli import build_parser
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return {"": _options(p), **{name: _options(sp) for name, sp in sub.choices.items()}}


def test_option_sets_are_unchanged():
    want, got = json.loads(DATA.read_text()), option_sets()
    assert sorted(got) == sorted(want), "commands changed"
    for cmd in want:
        lost, new = sorted(set(want[cmd]) - set(got[cmd])), sorted(set(got[cmd]) - set(want[cmd]))
        assert not lost and not new, f"pav {cmd}: lost {lost}, new {new}"


def test_options_are_not_written_by_hand():
    assert len(re.findall(r"\badd_argument\(", CLI.read_text())) <= 5


if __name__ == "__main__" and "--write" in sys.argv:
    DATA.write_text(json.dumps(option_sets(), indent=1) + "\n")
