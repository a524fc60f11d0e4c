// The SOP editor: CodeMirror 6 over the page's <textarea data-sop-editor>.
//
// The textarea stays the form field, and the whole editor when this bundle is absent
// (no npm at set-up) or JavaScript is off. Every edit is copied back into it and
// announced with an "input" event: that is what htmx listens to for the live check
// on the server (the same validator as `sopflow validate`). The problems the check
// lists (#sop-issues, with data-line / data-col) are marked in the gutter.
import { indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { schemaCompletionSource } from "./schema-completion.js";

function schemaLoader(url) {
  let promise = null;
  return () => {
    promise ??= fetch(url, { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : {}));
    return promise;
  };
}

// The end of the token starting at `from` (a key, a value), else the end of the line.
function tokenEnd(line, from) {
  let i = from - line.from;
  while (i < line.text.length && !/[\s,:\]}]/.test(line.text[i])) i++;
  return i > from - line.from ? line.from + i : line.to;
}

function diagnostics(doc) {
  const items = document.querySelectorAll("#sop-issues [data-line]");
  return [...items].map((item) => {
    const line = doc.line(Math.min(Math.max(Number(item.dataset.line) || 1, 1), doc.lines));
    const from = Math.min(line.from + Math.max((Number(item.dataset.col) || 1) - 1, 0), line.to);
    return { from, to: tokenEnd(line, from), severity: "error", message: item.dataset.message };
  });
}

function showIssues(view) {
  view.dispatch(setDiagnostics(view.state, diagnostics(view.state.doc)));
  // Clicking a listed problem moves the cursor to it.
  for (const item of document.querySelectorAll("#sop-issues [data-line]")) {
    item.tabIndex = 0;
    item.classList.add("jump");
    const jump = () => {
      const [first] = diagnostics(view.state.doc).filter(
        (d) => d.message === item.dataset.message,
      );
      if (!first) return;
      view.dispatch({ selection: { anchor: first.from }, scrollIntoView: true });
      view.focus();
    };
    item.onclick = jump;
    item.onkeydown = (event) => event.key === "Enter" && jump();
  }
}

function mount(textarea) {
  // One source for the editor's life: completion keeps results per source (by identity).
  const complete = schemaCompletionSource(schemaLoader(textarea.dataset.schemaUrl));
  const view = new EditorView({
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        basicSetup,
        keymap.of([indentWithTab]),
        EditorState.tabSize.of(2),
        yaml(),
        lintGutter(),
        EditorState.languageData.of(() => [{ autocomplete: complete }]),
        // Through the facet: the view owns its root element's class attribute.
        EditorView.editorAttributes.of({ class: "sop-codemirror" }),
        EditorView.contentAttributes.of({
          "aria-label": "SOP definition (YAML)",
          "aria-describedby": textarea.getAttribute("aria-describedby") || "",
        }),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged) return;
          textarea.value = update.state.doc.toString();
          textarea.dispatchEvent(new Event("input", { bubbles: true }));
        }),
      ],
    }),
  });
  textarea.hidden = true;
  textarea.after(view.dom);
  const label = document.querySelector(`label[for="${textarea.id}"]`);
  if (label) label.addEventListener("click", () => view.focus());
  showIssues(view);
  document.addEventListener("htmx:afterSettle", () => showIssues(view));
  window.sopEditor = view; // for the browser tests and the curious
}

function start() {
  document.querySelectorAll("textarea[data-sop-editor]").forEach(mount);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
