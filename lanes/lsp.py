"""The language server (pygls, stdio): the protocol side of lsp_model and lsp_complete.

Each open document is checked as it changes, as `lanes check` would check it saved at
its path, and its diagnostics are published with the same codes and positions
(converted to the protocol's 0-based lines and UTF-16 columns). The last version that
parsed is kept for completion, so ids are offered while the text is broken.
"""
from __future__ import annotations

import asyncio
import os
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import ServerTextPosition, ServerTextRange, TextDocument

import lanes
from lanes.dsl.diagnostics import Diagnostic
from lanes.dsl.loader import form_of
from lanes.dsl.span import Span
from lanes.lsp_complete import complete
from lanes.lsp_model import Analysis, analyse_text, definition, hover, internal_error

_KIND = {"field": types.CompletionItemKind.Field, "agent": types.CompletionItemKind.Class,
         "domain": types.CompletionItemKind.Module, "task": types.CompletionItemKind.Function,
         "gate": types.CompletionItemKind.Event, "skill": types.CompletionItemKind.Keyword}


class LanesServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("lanes", lanes.__version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}      # uri -> the latest version
        self.parsed: dict[str, Analysis] = {}        # uri -> the latest version that parsed


def path_of(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def to_range(doc: TextDocument, span: Span) -> types.Range:
    """A span (1-based, characters) as a protocol range (0-based, the client's units)."""
    def position(line: int, column: int) -> ServerTextPosition:
        return ServerTextPosition(max(line - 1, 0), max(column - 1, 0))
    server_range = ServerTextRange(position(span.line, span.column), position(span.end_line, span.end_column))
    return doc.range_to_client_units(server_range)


def to_diagnostic(doc: TextDocument, d: Diagnostic, uri: str) -> types.Diagnostic:
    span = d.span or Span.point(path_of(uri), 1, 1)
    related = [types.DiagnosticRelatedInformation(types.Location(uri, to_range(doc, r.span)), r.message)
               for r in d.related if r.span is not None and r.span.file == span.file]
    return types.Diagnostic(
        range=to_range(doc, span), message=d.message + (f" (witness: {d.witness})" if d.witness else ""),
        severity=types.DiagnosticSeverity.Error if d.is_error else types.DiagnosticSeverity.Warning,
        code=d.code, source="lanes", related_information=related or None)


def cursor(doc: TextDocument, position: types.Position) -> tuple[int, int]:
    """A protocol position as (line, column) of spans."""
    p = doc.position_from_client_units(position)
    return p.line + 1, p.character + 1


server = LanesServer()


def check(ls: LanesServer, uri: str) -> None:
    doc = ls.workspace.get_text_document(uri)
    path = path_of(uri)
    try:
        result = analyse_text(path, doc.source)
    except Exception as exc:                          # noqa: BLE001 - shown in the editor, not raised
        result = internal_error(path, exc)
    ls.analyses[uri] = result
    if result.workflow is not None:
        ls.parsed[uri] = result
    diagnostics = [to_diagnostic(doc, d, uri) for d in result.diagnostics
                   if d.span is None or d.span.file == path]
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, doc.version))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanesServer, params: types.DidOpenTextDocumentParams) -> None:
    check(ls, params.text_document.uri)


DEBOUNCE_S = 0.2         # typing: check once the keys pause, not at every key


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: LanesServer, params: types.DidChangeTextDocumentParams) -> None:
    uri, version = params.text_document.uri, params.text_document.version
    await asyncio.sleep(DEBOUNCE_S)
    if ls.workspace.get_text_document(uri).version == version:     # else a later change checks
        check(ls, uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: LanesServer, params: types.DidSaveTextDocumentParams) -> None:
    check(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: LanesServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.analyses.pop(uri, None)
    ls.parsed.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))


@server.feature(types.TEXT_DOCUMENT_COMPLETION,
                types.CompletionOptions(trigger_characters=[" ", ":", "[", ",", "{"]))
def completion(ls: LanesServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    line, column = cursor(doc, params.position)
    form = form_of(path_of(uri), doc.source)
    items = complete(ls.parsed.get(uri), doc.source, line, column, form)
    return types.CompletionList(is_incomplete=False, items=[
        types.CompletionItem(i.label, kind=_KIND.get(i.kind), detail=i.kind if i.kind != "field" else "field",
                             documentation=i.detail or None) for i in items])


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def goto_definition(ls: LanesServer, params: types.DefinitionParams) -> types.Location | None:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    analysis = ls.parsed.get(uri)
    if analysis is None or analysis.text != doc.source:
        return None
    span = definition(analysis, *cursor(doc, params.position))
    return types.Location(uri, to_range(doc, span)) if span is not None else None


@server.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: LanesServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    analysis = ls.parsed.get(uri)
    if analysis is None or analysis.text != doc.source:
        return None
    found = hover(analysis, *cursor(doc, params.position))
    if found is None:
        return None
    markdown, span = found
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, markdown), to_range(doc, span))


def serve() -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    server.start_io()
    return 0
