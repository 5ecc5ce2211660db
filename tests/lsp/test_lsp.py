"""`qpurun lsp` driven as an editor drives it: a real LSP client over stdio (pygls's LanguageClient)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient

import qpurun
from qpurun.language.errors import QxError
from qpurun.language.printer import format_text

ROOT = Path(__file__).resolve().parents[2]

LIBRARY = """\
let omega = 2 rad/us
"""

MAIN = """\
device AnalogDevice
include "lib.qx"
register { q0 = (0, 0) um }
channel ryd = rydberg_global
var t: int
sequence {
  add pulse(amplitude = constant(t, omega), detuning = 0) on ryd
}
runs 100
sweep {
  t = [100, 200]
}
"""

MISTAKES = MAIN.replace("on ryd", "on rdy").replace("constant(t, omega)", "constant(t, 3 us)")


class Editor:
    """A client session: open documents, wait for what the server publishes."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = {}
        self.changed = asyncio.Event()

    async def diagnostics(self, uri: str, *, after: int = 0, timeout: float = 60) -> list[types.Diagnostic]:
        """The first diagnostics published for `uri` after the first `after` publications."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.published.get(uri, [])) <= after:
            self.changed.clear()
            remaining = deadline - loop.time()
            assert remaining > 0, f"no diagnostics for {uri}"
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                continue
        return list(self.published[uri][after].diagnostics)

    def open(self, path: Path, text: str) -> str:
        uri = path.resolve().as_uri()
        item = types.TextDocumentItem(uri=uri, language_id="qx", version=1, text=text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        return uri

    def change(self, uri: str, text: str, version: int) -> None:
        document = types.VersionedTextDocumentIdentifier(uri=uri, version=version)
        change = types.TextDocumentContentChangeWholeDocument(text=text)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(text_document=document, content_changes=[change])
        )


def session(scenario: Callable[[Editor], Awaitable[None]]) -> None:
    async def run() -> None:
        client = LanguageClient("qpurun-tests", "1")
        editor = Editor(client)

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            editor.published.setdefault(params.uri, []).append(params)
            editor.changed.set()

        await client.start_io(sys.executable, "-m", "qpurun", "lsp")
        await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
        client.initialized(types.InitializedParams())
        try:
            await scenario(editor)
        finally:
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()

    asyncio.run(run())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "lib.qx").write_text(LIBRARY)
    (tmp_path / "main.qx").write_text(MAIN)
    return tmp_path


def _check_findings(path: Path, text: str) -> list[tuple[str, int, int, int, int]]:
    """What `qpurun check` reports: message, 0-based start and end as the protocol counts."""
    try:
        qpurun.loads(text, filename=str(path))
    except QxError as error:
        return [
            (
                e.message + (f"\nhint: {e.hint}" if e.hint else ""),
                e.span.line - 1,
                e.span.column - 1,
                e.span.end_line - 1,
                e.span.end_column - 1,
            )
            for e in error.errors
            if e.span is not None
        ]
    return []


def _as_tuples(diagnostics: list[types.Diagnostic]) -> list[tuple[str, int, int, int, int]]:
    return [
        (d.message, d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character)
        for d in diagnostics
    ]


def test_diagnostics_are_checks_and_follow_the_edits(project: Path) -> None:
    path = project / "main.qx"
    expected = _check_findings(path, MISTAKES)
    assert len(expected) == 2  # the unit slip and the misspelt channel

    async def scenario(editor: Editor) -> None:
        uri = editor.open(path, MISTAKES)  # unsaved text: the file on disk is still MAIN
        found = await editor.diagnostics(uri)
        assert _as_tuples(found) == expected
        assert {d.severity for d in found} == {types.DiagnosticSeverity.Error}
        assert {d.code for d in found} == {"unit error", "name error"}
        editor.change(uri, MAIN, 2)
        assert await editor.diagnostics(uri, after=1) == []

    session(scenario)


def test_every_job_is_built_on_save(project: Path) -> None:
    """Job-building (the slow part of a large sweep) runs when the file is saved, as check does."""
    path = project / "main.qx"
    text = MAIN.replace("t = [100, 200]", "t = [4, 200]")
    path.write_text(text)
    expected = _check_findings(path, text)
    assert [m.split(":")[0] for m, *_ in expected] == ["job 0 (t = 4) does not build"]

    async def scenario(editor: Editor) -> None:
        uri = editor.open(path, text)
        assert await editor.diagnostics(uri) == []  # as typed: the sequence itself is fine
        editor.client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        assert _as_tuples(await editor.diagnostics(uri, after=1)) == expected

    session(scenario)


def test_a_syntax_error_does_not_hide_the_rest(project: Path) -> None:
    broken = MISTAKES.replace("register { q0 = (0, 0) um }", "register { q0 = (0, 0 um }")

    async def scenario(editor: Editor) -> None:
        uri = editor.open(project / "main.qx", broken)
        messages = [d.message for d in await editor.diagnostics(uri)]
        assert any(m.startswith("expected `)`") or "unexpected" in m for m in messages), messages
        assert any("unknown channel `rdy`" in m for m in messages), messages

    session(scenario)


def _position(text: str, needle: str, occurrence: int = 0, offset: int = 0) -> types.Position:
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    return types.Position(line, index - (text.rfind("\n", 0, index) + 1))


def test_hover_completion_and_symbols(project: Path) -> None:
    text = MAIN.replace("amplitude = constant(t, omega)", "amplitude = constant(t, 2 MHz)").replace(
        "runs 100", "runs device.max_runs"
    )

    async def scenario(editor: Editor) -> None:
        uri = editor.open(project / "main.qx", text)
        await editor.diagnostics(uri)
        document = types.TextDocumentIdentifier(uri=uri)

        async def hover(needle: str, offset: int = 1) -> str:
            result = await editor.client.text_document_hover_async(
                types.HoverParams(text_document=document, position=_position(text, needle, 0, offset))
            )
            assert result is not None, needle
            assert isinstance(result.contents, types.MarkupContent)
            return result.contents.value

        assert "12.5664 rad/us" in await hover("2 MHz")
        channel = await hover("on ryd", 4)
        assert "channel ryd = rydberg_global" in channel and "max_amp = 12.566370614359172 rad/us" in channel
        assert "2 jobs give it: 100, 200" in await hover("var t", 4)
        assert "= 2000 on AnalogDevice" in await hover("max_runs", 2)

        async def labels(line: int, character: int) -> list[str]:
            result = await editor.client.text_document_completion_async(
                types.CompletionParams(text_document=document, position=types.Position(line, character))
            )
            assert isinstance(result, types.CompletionList)
            return [item.label for item in result.items]

        inside = text.splitlines().index("  add pulse(amplitude = constant(t, 2 MHz), detuning = 0) on ryd")
        assert {"add", "delay", "measure"} <= set(await labels(inside, 2))
        assert {"AnalogDevice", "MockDevice"} <= set(await labels(0, len("device ")))
        assert {"t", "ryd", "omega", "blackman"} <= set(await labels(inside, len("  add pulse(amplitude = ")))

        symbols = await editor.client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=document)
        )
        assert symbols is not None
        assert [s.name for s in symbols] == ["device AnalogDevice", "register", "ryd", "t", "sequence", "sweep"]

    session(scenario)


def test_definition_references_and_rename_across_an_include(project: Path) -> None:
    library = (project / "lib.qx").resolve().as_uri()

    async def scenario(editor: Editor) -> None:
        uri = editor.open(project / "main.qx", MAIN)
        await editor.diagnostics(uri)
        document = types.TextDocumentIdentifier(uri=uri)
        at = _position(MAIN, "omega", 0, 2)

        found = await editor.client.text_document_definition_async(
            types.DefinitionParams(text_document=document, position=at)
        )
        assert isinstance(found, types.Location)
        assert found.uri == library
        assert (found.range.start.line, found.range.start.character, found.range.end.character) == (0, 4, 9)

        references = await editor.client.text_document_references_async(
            types.ReferenceParams(
                text_document=document, position=at, context=types.ReferenceContext(include_declaration=True)
            )
        )
        assert references is not None
        assert sorted((r.uri, r.range.start.line) for r in references) == sorted([(library, 0), (uri, 6)])

        edit = await editor.client.text_document_rename_async(
            types.RenameParams(text_document=document, position=at, new_name="rabi_frequency")
        )
        assert edit is not None and edit.changes is not None
        assert {u: [e.new_text for e in edits] for u, edits in edit.changes.items()} == {
            library: ["rabi_frequency"],
            uri: ["rabi_frequency"],
        }
        with pytest.raises(JsonRpcException, match="already declared"):
            await editor.client.text_document_rename_async(
                types.RenameParams(text_document=document, position=at, new_name="t")
            )

    session(scenario)


def test_formatting_is_fmt_and_refuses_a_syntax_error(project: Path) -> None:
    messy = MAIN.replace("channel ryd = rydberg_global", "channel   ryd=rydberg_global")

    async def scenario(editor: Editor) -> None:
        uri = editor.open(project / "main.qx", messy)
        await editor.diagnostics(uri)
        options = types.FormattingOptions(tab_size=2, insert_spaces=True)
        edits = await editor.client.text_document_formatting_async(
            types.DocumentFormattingParams(text_document=types.TextDocumentIdentifier(uri=uri), options=options)
        )
        assert edits is not None and len(edits) == 1
        assert edits[0].new_text == format_text(messy)
        editor.change(uri, messy.replace("(0, 0)", "(0, 0"), 2)
        with pytest.raises(JsonRpcException, match="cannot format"):
            await editor.client.text_document_formatting_async(
                types.DocumentFormattingParams(text_document=types.TextDocumentIdentifier(uri=uri), options=options)
            )

    session(scenario)


def test_every_example_spec_opens_clean(tmp_path: Path) -> None:
    """What `qpurun check` accepts, the server does too (templates rendered with their defaults)."""
    specs = sorted((ROOT / "specs").glob("*.qx"))

    async def scenario(editor: Editor) -> None:
        uris = [editor.open(path, path.read_text()) for path in specs]
        for uri in uris:
            assert await editor.diagnostics(uri) == [], uri
        rabi = ROOT / "specs" / "rabi.qx"
        text = rabi.read_text()
        document = types.TextDocumentIdentifier(uri=rabi.resolve().as_uri())
        symbols = await editor.client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=document)
        )
        assert symbols is not None
        assert [s.name for s in symbols] == [
            "device AnalogDevice",
            "layout",
            "register",
            "ryd",
            "t",
            "rabi",
            "sequence",
            "sweep",
        ]
        use = _position(text, "add rabi", 0, 4)
        found = await editor.client.text_document_definition_async(
            types.DefinitionParams(text_document=document, position=use)
        )
        assert isinstance(found, types.Location)
        assert found.range.start == _position(text, "pulse rabi", 0, 6)
        hovered = await editor.client.text_document_hover_async(
            types.HoverParams(text_document=document, position=_position(text, "add rabi on ryd", 0, 13))
        )
        assert hovered is not None and isinstance(hovered.contents, types.MarkupContent)
        assert "channel `rydberg_global` on AnalogDevice" in hovered.contents.value

    session(scenario)


def test_template_diagnostics_point_at_the_template_lines(tmp_path: Path) -> None:
    from qpurun.lsp.analysis import analyse
    from qpurun.lsp.server import diagnostic

    template = (
        "{% set n = 2 %}\ndevice AnalogDevice\nregister {\n"
        "{% for i in range(n) %}\n  q{{ i }} = ({{ 10 * i }}, 0) um\n{% endfor %}\n}\n"
        "channel ryd = rydberg_global\nsequence {\n  delay 100 ns on rdy\n}\nruns 10\n"
    )
    path = tmp_path / "chain.qx"
    with pytest.raises(QxError) as caught:
        qpurun.loads(template, filename=str(path))
    (expected,) = caught.value.errors
    (found,) = [diagnostic(p) for p in analyse(template, str(path)).problems]
    assert expected.line == 10
    assert (found.range.start.line, found.range.start.character) == (expected.line - 1, expected.span.column - 1)
    assert found.message.startswith(expected.message)
