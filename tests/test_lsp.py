"""lanes lsp: a real client (pygls's own) over stdio: diagnostics as `lanes check` gives
them (code, line, column) in both forms, as the text changes; completion of fields and
ids, go to definition, hover over a pattern. And the pieces behind it, directly."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
import subprocess
import sys
import textwrap

from helpers import lanes_cli
import pytest

pytest.importorskip("pygls")

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from lanes.lsp_complete import complete  # noqa: E402
from lanes.lsp_model import analyse_text, definition, hover  # noqa: E402

YAML_DOC = textwrap.dedent("""\
    workflow: w
    domains:
      api: {writes: ["src/api/**"]}
      tests: {writes: ["tests/**"], reads: ["src/**"]}
    agents:
      backend: {domain: api, skills: [python]}
      tester: {domain: tests, skills: [pytest]}
    tasks:
      build: {agent: backend, run: make}
      check: {agent: tester, needs: [build], run: pytest}
      docs:
        agent: backend
        needs: [build, check, nosuch]
        run: mkdocs build
    gates:
      g: {needs: [check], run: "true"}
    """)

LANES_DOC = textwrap.dedent("""\
    workflow w
    domain api { writes "src/api/**" }
    agent backend { domain api; skills python }
    task build by backend { run "make" }
    task docs by backnd needs build { run "mkdocs build" }
    """)


def check_json(tmp_path: Path, name: str, text: str) -> list[tuple[str, int, int]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    done = lanes_cli("check", path, "--format", "json")
    return [(d["code"], d["line"], d["column"]) for d in json.loads(done.stdout)["diagnostics"]]


def at(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """1-based line and column of the first `needle` in `text` (plus offset characters)."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# -- the pieces ---------------------------------------------------------------------------------

def test_the_text_is_checked_as_lanes_check_checks_the_file(tmp_path):
    for name, text in (("w.yaml", YAML_DOC), ("w.lanes", LANES_DOC)):
        got = [(d.code, d.span.line, d.span.column) for d in analyse_text(str(tmp_path / name), text).diagnostics]
        assert got == check_json(tmp_path, name, text) and got


def test_definition_of_each_kind_of_reference(tmp_path):
    a = analyse_text(str(tmp_path / "w.yaml"), YAML_DOC)
    backend_decl = at(YAML_DOC, "backend:")
    for needle, target in (("agent: backend", backend_decl), ("domain: api", at(YAML_DOC, "api:")),
                           ("needs: [build", at(YAML_DOC, "build:")), ("needs: [check", at(YAML_DOC, "check:"))):
        line, column = at(YAML_DOC, needle, len(needle) - 2)
        span = definition(a, line, column)
        assert span is not None and (span.line, span.column) == target, needle
    assert definition(a, *at(YAML_DOC, "nosuch")) is None
    b = analyse_text(str(tmp_path / "w.lanes"), LANES_DOC)
    span = definition(b, *at(LANES_DOC, "by backend", 4))
    assert span is not None and (span.line, span.column) == at(LANES_DOC, "backend {")


def test_hover_lists_the_tasks_whose_domains_overlap(tmp_path):
    a = analyse_text(str(tmp_path / "w.yaml"), YAML_DOC)
    found = hover(a, *at(YAML_DOC, "src/api/**", 3))
    assert found is not None
    markdown, span = found
    assert (span.line, span.column) == at(YAML_DOC, '"src/api/**"')
    assert "overlaps the domains of 3 tasks" in markdown
    assert "task `check` reads `src/**` (both match `src/api/" in markdown
    assert "task `build` writes `src/api/**`" in markdown and "task `docs`" in markdown
    assert hover(a, *at(YAML_DOC, "mkdocs")) is None


def labels(items):
    return [i.label for i in items]


def test_completion_in_yaml(tmp_path):
    a = analyse_text(str(tmp_path / "w.yaml"), YAML_DOC)
    lines = YAML_DOC.split("\n")

    def at_end_of(line_text: str, extra: str = "") -> list[str]:
        """What is offered after `extra` is typed at the end of that line."""
        assert line_text in lines
        doc = YAML_DOC.replace(line_text + "\n", line_text + extra + "\n", 1)
        line, column = at(doc, line_text + extra, len(line_text + extra))
        return labels(complete(a, doc, line, column, "yaml"))

    doc = YAML_DOC.replace("  build: {agent: backend, run: make}", "  build: {agent: backend, ")
    line, column = at(doc, "{agent: backend, ", len("{agent: backend, "))
    assert labels(complete(a, doc, line, column, "yaml"))[:3] == ["for_each", "agent", "requires"]
    assert at_end_of("    agent: backend", "") == ["backend", "tester"]
    assert set(at_end_of("    run: mkdocs build", "\n    ")) >= {"needs", "rollback", "estimate"}
    assert at_end_of("  g: {needs: [check], run: \"true\"}", "\n  ") == []          # a gate's id: free
    assert "on_fail" in at_end_of("  g: {needs: [check], run: \"true\"}", "\n  g2: {")
    doc = YAML_DOC.replace("needs: [build, check, nosuch]", "needs: [build, ")
    line, column = at(doc, "needs: [build, ", len("needs: [build, "))
    assert labels(complete(a, doc, line, column, "yaml")) == ["build", "check", "docs", "g"]
    doc = YAML_DOC.replace("  api: {writes", "  api: {wr")
    line, column = at(doc, "{wr", 3)
    assert labels(complete(a, doc, line, column, "yaml")) == ["writes", "reads"]
    assert "workflow" in labels(complete(a, YAML_DOC + "wor", len(lines), 4, "yaml"))


def test_completion_in_the_grammar_form(tmp_path):
    a = analyse_text(str(tmp_path / "w.lanes"), LANES_DOC)
    doc = LANES_DOC + "task t by "
    n = doc.count("\n") + 1
    assert labels(complete(a, doc, n, len("task t by ") + 1, "lanes")) == ["backend"]
    doc = LANES_DOC + "task t by backend needs build, "
    assert labels(complete(a, doc, n, len("task t by backend needs build, ") + 1, "lanes")) == ["build", "docs"]
    doc = LANES_DOC + "task t by backend { ru"
    assert {"run", "rollback", "retries"} <= set(labels(complete(a, doc, n, len("task t by backend { ru") + 1,
                                                                  "lanes")))
    doc = LANES_DOC + "gate g needs build {\n  on"
    assert "on_fail" in labels(complete(a, doc, n + 1, 5, "lanes"))
    doc = LANES_DOC + "ag"
    assert "agent" in labels(complete(a, doc, n, 3, "lanes"))
    doc = LANES_DOC + 'task t by backend { run "echo '
    assert complete(a, doc, n, len('task t by backend { run "echo ') + 1, "lanes") == []


# -- over stdio ---------------------------------------------------------------------------------

class Client:
    """The pygls client on `lanes lsp`, collecting the diagnostics it publishes."""

    def __init__(self) -> None:
        self.lsp = LanguageClient("lanes-test", "1")
        self.published: asyncio.Queue[types.PublishDiagnosticsParams] = asyncio.Queue()

        @self.lsp.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
            self.published.put_nowait(params)

    async def start(self) -> None:
        await self.lsp.start_io(sys.executable, "-m", "lanes", "lsp")
        result = await self.lsp.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
        assert result.capabilities.completion_provider and result.capabilities.hover_provider
        assert result.capabilities.definition_provider
        self.lsp.initialized(types.InitializedParams())

    async def diagnostics(self, uri: str) -> list[tuple[str, int, int]]:
        while True:
            params = await asyncio.wait_for(self.published.get(), 60)
            if params.uri == uri:
                return [(str(d.code), d.range.start.line + 1, d.range.start.character + 1) for d in params.diagnostics]

    async def stop(self) -> None:
        await self.lsp.shutdown_async(None)
        self.lsp.exit(None)
        await self.lsp.stop()


def pos(text: str, needle: str, offset: int = 0) -> types.Position:
    line, column = at(text, needle, offset)
    return types.Position(line - 1, column - 1)


async def session(tmp_path: Path) -> None:
    client = Client()
    await client.start()
    try:
        uri = (tmp_path / "w.yaml").as_uri()
        doc_id = types.TextDocumentIdentifier(uri)
        client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri, "yaml", 1, YAML_DOC)))
        assert await client.diagnostics(uri) == check_json(tmp_path, "w.yaml", YAML_DOC) == [
            ("E201", *at(YAML_DOC, "nosuch"))]

        fixed = YAML_DOC.replace(", nosuch", "")
        assert check_json(tmp_path, "fixed.yaml", fixed) == []
        client.lsp.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=2, uri=uri), [types.TextDocumentContentChangeWholeDocument(fixed)]))
        assert await client.diagnostics(uri) == []

        typed = fixed.replace("needs: [build, check]", "needs: [build, ")
        client.lsp.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=3, uri=uri), [types.TextDocumentContentChangeWholeDocument(typed)]))
        assert (await client.diagnostics(uri))[0][0] == "E100"              # broken while typing
        items = await client.lsp.text_document_completion_async(types.CompletionParams(
            doc_id, pos(typed, "needs: [build, ", len("needs: [build, "))))
        assert isinstance(items, types.CompletionList)
        assert [i.label for i in items.items] == ["build", "check", "docs", "g"]   # from the last good version

        client.lsp.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=4, uri=uri), [types.TextDocumentContentChangeWholeDocument(fixed)]))
        assert await client.diagnostics(uri) == []
        location = await client.lsp.text_document_definition_async(types.DefinitionParams(
            doc_id, pos(fixed, "agent: tester", 9)))
        assert isinstance(location, types.Location) and location.uri == uri
        assert location.range.start == pos(fixed, "tester:")
        found = await client.lsp.text_document_hover_async(types.HoverParams(doc_id, pos(fixed, "src/api/**", 2)))
        assert found is not None and isinstance(found.contents, types.MarkupContent)
        assert "overlaps the domains of 3 tasks" in found.contents.value

        luri = (tmp_path / "w.lanes").as_uri()
        client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(luri, "lanes", 1, LANES_DOC)))
        assert await client.diagnostics(luri) == check_json(tmp_path, "w.lanes", LANES_DOC) == [
            ("E201", *at(LANES_DOC, "backnd"))]
        wide = 'workflow: w\nagents: {a: {}}\ntasks:\n  t: {description: "\U0001F600\U0001F600", agent: a, run: make, needs: [nosuch]}\n'
        wuri = (tmp_path / "wide.yaml").as_uri()
        client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(wuri, "yaml", 1, wide)))
        (code, line, column), = check_json(tmp_path, "wide.yaml", wide)
        assert await client.diagnostics(wuri) == [(code, line, column + 2)]    # two emoji: four UTF-16 units
    finally:
        await client.stop()


def test_a_session_over_stdio(tmp_path):
    asyncio.run(asyncio.wait_for(session(tmp_path), 120))


def test_without_pygls_a_message_and_exit_2():
    code = "import sys; sys.modules['pygls'] = None; from lanes.cli import main; sys.exit(main(['lsp']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "needs pygls" in done.stderr and "Traceback" not in done.stderr
