"""`qpurun lsp`: the language server, over stdio, on pygls.

Diagnostics are `qpurun check`'s own findings (message, range, severity; the
hint on a line of its own in the message), published a short debounce after
each edit for the text as it is in the editor, saved or not. Building every
job against the device, the slow part of a large sweep, runs when the file is
saved, in a worker thread; a result is published only if the document has not
changed since. Everything else (hover, completion, definition, references,
rename, formatting, the outline) reads the latest analysis.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from qpurun import __version__
from qpurun.language.errors import QxError, QxWarning, Span
from qpurun.lsp.analysis import Analysis, Completion, analyse, completions, hover, symbols

DEBOUNCE_SECONDS = 0.3
"""How long typing must pause before the document is checked again."""

_SYMBOL_KINDS = {
    "VarDecl": types.SymbolKind.Variable,
    "Let": types.SymbolKind.Constant,
    "WaveformDecl": types.SymbolKind.Function,
    "PulseDecl": types.SymbolKind.Function,
    "Channel": types.SymbolKind.Interface,
    "DetuningMap": types.SymbolKind.Field,
    "Register": types.SymbolKind.Namespace,
    "Layout": types.SymbolKind.Struct,
    "Device": types.SymbolKind.Module,
    "Sequence": types.SymbolKind.Module,
    "Sweep": types.SymbolKind.Array,
    "Jobs": types.SymbolKind.Array,
}
_COMPLETION_KINDS = {
    "keyword": types.CompletionItemKind.Keyword,
    "name": types.CompletionItemKind.Variable,
    "device": types.CompletionItemKind.Module,
    "function": types.CompletionItemKind.Function,
    "channel_id": types.CompletionItemKind.EnumMember,
    "unit": types.CompletionItemKind.Unit,
    "property": types.CompletionItemKind.Property,
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")


def path_of(uri: str) -> str:
    """A `file://` URI's path; other URIs (an unsaved buffer) are kept as names."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def uri_of(path: str) -> str:
    from pathlib import Path

    return Path(path).resolve().as_uri() if not path.startswith(("untitled:", "<")) else path


def lsp_range(span: Span | None) -> types.Range:
    """A 1-based, end-exclusive span as the protocol's 0-based range."""
    if span is None:
        return types.Range(types.Position(0, 0), types.Position(0, 1))
    return types.Range(
        types.Position(span.line - 1, span.column - 1), types.Position(span.end_line - 1, span.end_column - 1)
    )


def diagnostic(problem: QxError | QxWarning) -> types.Diagnostic:
    """One finding as `qpurun check` prints it: the message, with the hint on its own line."""
    span = problem.span
    source = problem.source
    if span is not None and source is not None and source.template is not None:
        # A rendered template: point at the template's line, as `check` does.
        line = source.origin(span.line)
        span = Span(line, span.column, line, span.end_column if span.end_line == span.line else span.column + 1)
    is_warning = isinstance(problem, QxWarning)
    message = problem.message + (f"\nhint: {problem.hint}" if problem.hint else "")
    return types.Diagnostic(
        range=lsp_range(span),
        message=message,
        severity=types.DiagnosticSeverity.Warning if is_warning else types.DiagnosticSeverity.Error,
        source="qpurun",
        code=problem.kind if isinstance(problem, QxError) else None,
    )


class QxLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("qpurun", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.target: str | None = None

    def analysis(self, uri: str) -> Analysis:
        if uri not in self.analyses:
            document = self.workspace.get_text_document(uri)
            self.analyses[uri] = analyse(document.source, path_of(uri), target=self.target)
        return self.analyses[uri]

    def publish(self, uri: str, analysis: Analysis, version: int | None) -> None:
        mine = [p for p in analysis.problems if _in_file(p, analysis.path)]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[diagnostic(p) for p in mine], version=version)
        )

    async def refresh(self, uri: str, *, jobs: bool) -> None:
        """Analyse the document's current text off the event loop; publish it if still current."""
        document = self.workspace.get_text_document(uri)
        version, text = document.version, document.source
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, lambda: analyse(text, path_of(uri), target=self.target, jobs=jobs))
        current = self.workspace.get_text_document(uri)
        if current.version != version or current.source != text:
            return  # edited meanwhile: the newer analysis will publish
        self.analyses[uri] = result
        self.publish(uri, result, version)

    def schedule(self, uri: str) -> None:
        loop = asyncio.get_running_loop()
        if uri in self.pending:
            self.pending[uri].cancel()
        self.pending[uri] = loop.call_later(
            DEBOUNCE_SECONDS, lambda: asyncio.ensure_future(self.refresh(uri, jobs=False))
        )


def _in_file(problem: QxError | QxWarning, path: str) -> bool:
    span = problem.span
    if span is not None and span.source is not None:
        return span.source.name == path
    return True


server = QxLanguageServer()


@server.feature(types.INITIALIZE)
def initialize(ls: QxLanguageServer, params: types.InitializeParams) -> None:
    options = params.initialization_options
    if isinstance(options, dict) and isinstance(options.get("backend"), str):
        ls.target = options["backend"]


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: QxLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    await ls.refresh(params.text_document.uri, jobs=False)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: QxLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
async def did_save(ls: QxLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    await ls.refresh(params.text_document.uri, jobs=True)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: QxLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.analyses.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: QxLanguageServer, params: types.HoverParams) -> types.Hover | None:
    analysis = ls.analysis(params.text_document.uri)
    found = hover(analysis, params.position.line + 1, params.position.character + 1)
    if found is None:
        return None
    text, span = found
    return types.Hover(types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=lsp_range(span))


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", " "]))
def on_completion(ls: QxLanguageServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    document = ls.workspace.get_text_document(uri)
    lines = document.source.split("\n")
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    found = completions(ls.analysis(uri), line[: params.position.character], params.position.line + 1)
    return types.CompletionList(is_incomplete=False, items=[_item(c) for c in found])


def _item(completion: Completion) -> types.CompletionItem:
    return types.CompletionItem(
        label=completion.label,
        kind=_COMPLETION_KINDS[completion.kind],
        detail=completion.detail or None,
        insert_text=completion.insert,
        insert_text_format=types.InsertTextFormat.Snippet if completion.insert else None,
    )


def _location(path: str, span: Span) -> types.Location:
    return types.Location(uri=uri_of(path), range=lsp_range(span))


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def on_definition(ls: QxLanguageServer, params: types.DefinitionParams) -> types.Location | None:
    analysis = ls.analysis(params.text_document.uri)
    occurrence = analysis.at(params.position.line + 1, params.position.character + 1)
    declaration = analysis.declaration_of(occurrence) if occurrence is not None else None
    if declaration is None:
        return None
    return _location(declaration.file, declaration.span)


@server.feature(types.TEXT_DOCUMENT_REFERENCES)
def on_references(ls: QxLanguageServer, params: types.ReferenceParams) -> list[types.Location]:
    analysis = ls.analysis(params.text_document.uri)
    occurrence = analysis.at(params.position.line + 1, params.position.character + 1)
    if occurrence is None:
        return []
    found = analysis.references(occurrence)
    if not params.context.include_declaration:
        found = [o for o in found if not o.declaration]
    return [_location(o.file, o.span) for o in found]


@server.feature(types.TEXT_DOCUMENT_RENAME)
def on_rename(ls: QxLanguageServer, params: types.RenameParams) -> types.WorkspaceEdit:
    analysis = ls.analysis(params.text_document.uri)
    occurrence = analysis.at(params.position.line + 1, params.position.character + 1)
    if occurrence is None or analysis.declaration_of(occurrence) is None:
        raise ValueError("only a declared name can be renamed")
    new = params.new_name
    if not _NAME.match(new):
        raise ValueError(f"`{new}` is not a name: a letter or `_`, then letters, digits, `_`")
    if (occurrence.namespace, new) in analysis.declarations:
        raise ValueError(f"`{new}` is already declared")
    changes: dict[str, list[types.TextEdit]] = {}
    for each in analysis.references(occurrence):
        changes.setdefault(uri_of(each.file), []).append(types.TextEdit(range=lsp_range(each.span), new_text=new))
    return types.WorkspaceEdit(changes=changes)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def on_formatting(ls: QxLanguageServer, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
    from qpurun.language.printer import format_text
    from qpurun.language.templates import is_template

    document = ls.workspace.get_text_document(params.text_document.uri)
    text = document.source
    if is_template(text):
        raise ValueError("a Jinja template has no one canonical layout: qpurun fmt leaves it as it is")
    try:
        formatted = format_text(text, filename=path_of(params.text_document.uri))
    except QxError as error:
        first = error.errors[0]
        raise ValueError(f"cannot format: line {first.line}: {first.message}") from None
    if formatted == text:
        return []
    lines = text.split("\n")
    whole = types.Range(types.Position(0, 0), types.Position(len(lines), 0))
    return [types.TextEdit(range=whole, new_text=formatted)]


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def on_symbols(ls: QxLanguageServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    analysis = ls.analysis(params.text_document.uri)
    result = []
    for name, kind, statement, name_span in symbols(analysis):
        whole = lsp_range(statement.span)
        result.append(
            types.DocumentSymbol(
                name=name,
                kind=_SYMBOL_KINDS[kind],
                range=whole,
                selection_range=lsp_range(name_span) if name_span is not None else whole,
            )
        )
    return result


def main() -> None:
    """Serve one editor over stdin and stdout until it says exit."""
    import gc

    # A large spec's analysis makes hundreds of thousands of objects; Python's default collector
    # thresholds rescan Pulser's module objects and the last analysis again and again (up to +80%
    # on a 2,000-line spec). Freeze what the imports made, and collect the young generation less often.
    analyse("device MockDevice\nregister { q0 = (0, 0) um }\nsequence {\n}\nruns 1\n", "<warm-up>")
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    server.start_io()
