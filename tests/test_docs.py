"""The documentation's links hold: every relative link of README.md and docs/ names a file
that exists and, where it names a section (`page.md#section`), a heading of that page.

Anchors follow GitHub's rule for headings: lower case, punctuation other than `-` and `_`
dropped, each space a `-`, and `-1`, `-2`, ... after a repeated one.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
PAGES = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$")
FENCE = re.compile(r"^(```|~~~)")


def prose_lines(text: str) -> list[str]:
    """The page's lines outside fenced code blocks, where `#` starts a comment, not a heading."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """The section anchors GitHub gives the page's headings (read once per page: studies.md
    alone is linked to hundreds of times)."""
    seen: Counter[str] = Counter()
    result = set()
    for line in prose_lines(page.read_text()):
        heading = HEADING.match(line)
        if heading is None:
            continue
        slug = anchor(heading.group(1))
        result.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return frozenset(result)


def relative_links(page: Path) -> list[str]:
    """The page's links to this repository (no scheme such as https: or mailto:)."""
    return [
        target
        for line in prose_lines(page.read_text())
        for target in MARKDOWN_LINK.findall(line)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)
    ]


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in relative_links(page):
        path, _, section = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif section and linked.suffix == ".md" and section not in anchors(linked):
            broken.append(f"{target} (no such section)")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_names_an_existing_file_and_section(page: Path) -> None:
    broken = broken_links(page)
    assert not broken, f"{page.name}: {broken}"


def test_the_readme_leads_into_docs() -> None:
    into_docs = [target for target in relative_links(PAGES[0]) if target.startswith("docs/")]
    assert into_docs, "README.md links to no page of docs/"


def test_a_broken_section_link_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Shorter inputs: `--crop-min-size N`\n\n## Title\n\n"
        "```bash\n# not one\n```\n"
        "[a](#shorter-inputs---crop-min-size-n) [b](#title-1) [c](#title-2) [d](#not-one)\n"
        "[e](x.md)\n"
    )
    assert broken_links(page) == [
        "#title-2 (no such section)",
        "#not-one (no such section)",
        "x.md (no such file)",
    ]
