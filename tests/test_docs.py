"""The documentation stays true to the repository: its links resolve, and the commands it shows still parse.

README.md, BENCHMARKS.md and docs/**/*.md are checked. Command lines are checked in README.md and in the pages
under docs/ except docs/benchmarks/, whose lab notes record the commands as they were run on their date.
"""

import importlib
import re
import shlex
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]
COMMAND_DOCS = [p for p in DOCS if p.name != "BENCHMARKS.md" and "benchmarks" not in p.relative_to(ROOT).parts]

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are not links."""
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading).strip().lower()
    kept = "".join(c for c in heading if c in " -" or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    anchors = set()
    for line in text.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = _slug(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(path: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(_prose(path.read_text(encoding="utf-8")))]


def _broken_links(path: Path) -> list[str]:
    broken = []
    for target in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ... are not checked
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {_rel(dest)}")
    return broken


@pytest.mark.parametrize("page", DOCS, ids=_rel)
def test_every_relative_link_and_image_resolves_to_a_file_and_heading(page):
    assert _broken_links(page) == []


def test_link_check_reports_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "there.md").write_text("# A heading, with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#a-heading-with-code) ![gone](figures/none.png) [bad](there.md#nope)\n"
        "`[not a link](nowhere.md)` [web](https://example.org/x)\n"
    )
    broken = _broken_links(page)
    assert len(broken) == 2
    assert "figures/none.png" in broken[0] and "#nope" in broken[1]


def test_every_docs_page_is_reachable_from_the_docs_index():
    index = ROOT / "docs" / "README.md"
    linked = {(index.parent / t.partition("#")[0]).resolve() for t in _links(index)}
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md")} - {index.resolve()}
    assert sorted(_rel(p) for p in pages - linked) == []


def _command_lines(path: Path) -> list[str]:
    """Each `vaelab ...` line of the page's shell code blocks, continuation lines joined; for a torchrun line,
    the `vaelab ...` command that follows `-m`."""
    lines = []
    for lang, body in FENCE.findall(path.read_text(encoding="utf-8")):
        if lang not in ("", "sh", "bash", "shell", "console"):
            continue
        joined = re.sub(r"\s*\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("vaelab "):
                lines.append(line)
            elif line.startswith("torchrun ") and " -m vaelab " in line:
                lines.append("vaelab " + line.split(" -m vaelab ", 1)[1])
    return lines


def _parse_error(line: str) -> str | None:
    """What `vaelab` would refuse in this line before running anything, or None; mirrors vaelab.cli.main."""
    from vaelab.cli import _join_negative_values, build_parser

    parser = build_parser()
    argv = shlex.split(line, comments=True)[1:]
    argv = _join_negative_values(argv, parser)
    if any(a == "" for a in argv):
        return "an empty value"
    try:
        _, unknown = parser.parse_known_args(argv)
    except SystemExit as exit_:
        return f"argparse exited with {exit_.code}"
    if unknown:
        return f"unrecognized arguments: {' '.join(unknown)}"
    return None


COMMANDS = [(p, line) for p in COMMAND_DOCS for line in _command_lines(p)]


def test_readme_shows_commands_to_check():
    assert len([1 for p, _ in COMMANDS if p.name == "README.md" and p.parent == ROOT]) >= 5


@pytest.mark.parametrize("page,line", COMMANDS, ids=[f"{_rel(p)}: {line[:60]}" for p, line in COMMANDS])
def test_every_command_line_shown_in_the_docs_parses(page, line, capsys):
    error = _parse_error(line)
    assert error is None, f"{_rel(page)}: `{line}` is refused: {error}\n{capsys.readouterr().err}"


def test_command_check_refuses_a_misspelt_option_and_a_missing_command():
    assert _parse_error("vaelab morph a.png b.png --frames 8") is None
    assert "unrecognized" in _parse_error("vaelab morph a.png b.png --frame-count 8")
    assert _parse_error("vaelab no-such-command") is not None


def test_continuation_lines_are_joined_into_one_command(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("```sh\nvaelab attribute --attr class=Bag \\\n      --strengths -2:2:9   # a comment\n```\n")
    assert _command_lines(page) == ["vaelab attribute --attr class=Bag --strengths -2:2:9   # a comment"]
    assert _parse_error(_command_lines(page)[0]) is None


def _python_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of each `from vaelab... import ...` in the page's Python code blocks."""
    found = []
    for lang, body in FENCE.findall(path.read_text(encoding="utf-8")):
        if lang != "python":
            continue
        body = re.sub(r"\(\s*([^)]*?)\s*\)", lambda m: m.group(1).replace("\n", " "), body)
        for m in re.finditer(r"^from (vaelab[\w.]*) import ([^#\n]+)", body, re.MULTILINE):
            found.append((m.group(1), [n.strip() for n in m.group(2).split(",") if n.strip()]))
    return found


IMPORTS = [(p, mod, names) for p in DOCS for mod, names in _python_imports(p)]


@pytest.mark.parametrize("page,module,names", IMPORTS, ids=[f"{_rel(p)}: {m}" for p, m, _ in IMPORTS])
def test_every_python_import_shown_in_the_docs_exists(page, module, names):
    mod = importlib.import_module(module)
    assert [n for n in names if not hasattr(mod, n)] == []
