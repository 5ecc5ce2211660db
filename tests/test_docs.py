"""The docs stay honest: every `.qx` example in docs/*.md compiles, or fails as it says.

Fenced code blocks are sorted by their info string:

    ```qx            a complete spec: must compile with `qpurun.loads`
    ```qx-error      a complete spec that must raise a QxError; a line
                     `# expect: <kind>` (e.g. `# expect: unit error`) also
                     pins the kind of the first error reported
    ```qx-fragment   part of a spec, shown for reading: skipped by design
    ```python equivalent
                     the Pulser script a spec replaces: its `build()` must
                     return the sequence and jobs the ```qx block just
                     before it compiles to

Anything else (```text, plain ```python, ```sh) is not checked here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import qpurun
from conftest import assert_close
from qpurun.language.errors import QxError

DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
EXPECT = re.compile(r"^#\s*expect:\s*(.+?)\s*$", re.MULTILINE)
KNOWN_TAGS = {"qx", "qx-error", "qx-fragment"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    info: str
    text: str

    @property
    def tag(self) -> str:
        return self.info.split()[0] if self.info.split() else ""

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def blocks(tag: str | None = None) -> list[Block]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            block = Block(path, line, match.group(1).strip(), match.group(2))
            if tag is None or block.tag == tag:
                found.append(block)
    return found


SPECS = blocks("qx")
ERRORS = blocks("qx-error")


def equivalents() -> list[tuple[Block, Block]]:
    """Each ```python equivalent block, with the ```qx block before it in the same file."""
    pairs = []
    spec: Block | None = None
    for block in blocks():
        if block.tag == "qx":
            spec = block
        elif block.info == "python equivalent":
            assert spec is not None and spec.path == block.path, f"{block.id}: no ```qx block before it"
            pairs.append((spec, block))
    return pairs


EQUIVALENTS = equivalents()


def test_the_docs_have_examples() -> None:
    assert len(SPECS) >= 5
    assert len(ERRORS) >= 3
    assert len(EQUIVALENTS) >= 3


def test_every_qx_block_is_tagged_knowingly() -> None:
    """A typo such as ```qxx or ```qx_error would silently skip a block."""
    for block in blocks():
        if block.tag.startswith("qx"):
            assert block.tag in KNOWN_TAGS, f"{block.id}: unknown tag ```{block.tag}"


@pytest.mark.parametrize("block", SPECS, ids=[b.id for b in SPECS])
def test_spec_compiles(block: Block) -> None:
    try:
        experiment = qpurun.loads(block.text, filename=block.id)
    except QxError as error:
        pytest.fail(f"{block.id}: the example does not compile:\n{error}")
    assert experiment.jobs


@pytest.mark.parametrize("block", ERRORS, ids=[b.id for b in ERRORS])
def test_error_example_fails(block: Block) -> None:
    with pytest.raises(QxError) as raised:
        qpurun.loads(block.text, filename=block.id)
    expected = EXPECT.search(block.text)
    if expected is not None:
        assert raised.value.errors[0].kind == expected.group(1), str(raised.value)


def _module(block: Block) -> ModuleType:
    module = ModuleType(f"docs_{block.path.stem}_{block.line}")
    exec(compile(block.text, block.id, "exec"), module.__dict__)
    return module


@pytest.mark.parametrize(("spec", "script"), EQUIVALENTS, ids=[s.id for _, s in EQUIVALENTS])
def test_pulser_equivalent_builds_the_same(spec: Block, script: Block) -> None:
    """The side-by-side Pulser code is what the spec beside it really compiles to."""
    reference_sequence, reference_jobs = _module(script).build()
    experiment = qpurun.loads(spec.text, filename=spec.id)
    ours: list[dict[str, Any]] = experiment.job_params
    assert len(ours) == len(reference_jobs)
    for job, expected in zip(ours, reference_jobs, strict=True):
        assert job["runs"] == expected["runs"]
        assert_close(job.get("variables", {}), expected.get("variables", {}))
        built = experiment.sequence.build(**job.get("variables", {}))
        reference = reference_sequence.build(**expected.get("variables", {}))
        assert_close(json.loads(built.to_abstract_repr()), json.loads(reference.to_abstract_repr()))


LINK = re.compile(r"\]\(([^)\s]+)\)")
OWN_PAGES = ("language.md", "tutorial.md", "decisions.md")


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCE.sub("", text)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", OWN_PAGES)
def test_links_between_the_pages_resolve(page: str) -> None:
    """A link to another page or a section of one points at something that exists."""
    for target in LINK.findall((DOCS / page).read_text(encoding="utf-8")):
        if "://" in target:
            continue
        name, _, anchor = target.partition("#")
        linked = DOCS / (name or page)
        if name and name not in OWN_PAGES and not linked.exists():
            continue  # a page another part of the project writes (running.md)
        assert linked.exists(), f"{page}: broken link {target}"
        if anchor:
            assert anchor in _anchors(linked.read_text(encoding="utf-8")), f"{page}: no section for {target}"
