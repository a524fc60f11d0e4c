// Key and value completion for SOP YAML, driven by the JSON Schema that the server
// generates from the pydantic model (sop_definitions/sop.schema.json): the editor
// never hard-codes a key of the SOP language.

const KEY_LINE = /^(\s*)(- )?([A-Za-z_][\w-]*)?$/;
const VALUE_LINE = /^(\s*)(- )?([A-Za-z_][\w-]*):\s+([\w./@+-]*)$/;
const BLOCK_LINE = /^(\s*)(- )?(?:([A-Za-z_][\w-]*)\s*:(?:\s|$))?/;

function deref(schema, node) {
  let seen = 0;
  while (node && node.$ref && seen++ < 20) {
    node = (schema.$defs || {})[node.$ref.split("/").pop()];
  }
  return node;
}

// A node's alternatives (anyOf / oneOf / allOf), flattened and dereferenced.
function variants(schema, node, depth = 0) {
  node = deref(schema, node);
  if (!node || depth > 10) return [];
  const alternatives = node.anyOf || node.oneOf || node.allOf;
  if (alternatives) return alternatives.flatMap((alt) => variants(schema, alt, depth + 1));
  return [node];
}

// The schema nodes at a path of keys and "[]" (a list item) from the document root.
export function resolve(schema, path) {
  let nodes = [schema];
  for (const segment of path) {
    const next = [];
    for (const node of nodes.flatMap((n) => variants(schema, n))) {
      if (segment === "[]") {
        if (node.items) next.push(node.items);
      } else if (node.properties && node.properties[segment]) {
        next.push(node.properties[segment]);
      } else if (node.additionalProperties && typeof node.additionalProperties === "object") {
        next.push(node.additionalProperties);
      }
    }
    nodes = next;
  }
  return nodes.flatMap((n) => variants(schema, n));
}

// The path of the mapping a key at column `col` of line `lineNo` belongs to, read
// from the indentation of the lines above (block YAML, as SOP files are written).
export function parentPath(lines, lineNo, col, startsItem) {
  const path = [];
  let column = col;
  if (startsItem) {
    path.unshift("[]");
    column = col - 2;
  }
  for (let n = lineNo - 1; n >= 0 && column > 0; n--) {
    const text = lines[n];
    const trimmed = text.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const match = BLOCK_LINE.exec(text);
    const indent = match[1].length;
    const dash = Boolean(match[2]);
    const keyColumn = indent + (dash ? 2 : 0);
    if (keyColumn < column && match[3]) {
      path.unshift(match[3]);
      column = keyColumn;
    } else if (keyColumn < column && !dash) {
      break; // a plain text at a lower indent: not block YAML we can follow
    }
    if (dash && keyColumn === column) {
      path.unshift("[]");
      column = indent;
    }
  }
  return path;
}

// Keys already written in the mapping around line `lineNo` at column `col`.
function siblingKeys(lines, lineNo, col) {
  const found = new Set();
  const scan = (from, step) => {
    for (let n = from; n >= 0 && n < lines.length; n += step) {
      const text = lines[n];
      if (!text.trim() || text.trim().startsWith("#")) continue;
      const match = BLOCK_LINE.exec(text);
      const keyColumn = match[1].length + (match[2] ? 2 : 0);
      if (keyColumn < col) return;
      if (keyColumn === col && match[3]) found.add(match[3]);
      // A new list item at this column starts another mapping.
      if (match[2] && keyColumn === col && step > 0) return;
      if (match[2] && keyColumn === col && step < 0) {
        found.add(match[3]);
        return;
      }
    }
  };
  scan(lineNo - 1, -1);
  scan(lineNo + 1, 1);
  return found;
}

function typeOf(schema, node) {
  const kinds = variants(schema, node).map((v) => v.type || (v.enum ? "enum" : "")).filter(Boolean);
  return [...new Set(kinds)].join(" | ");
}

function describe(schema, node) {
  const first = deref(schema, node) || {};
  const text = first.description || variants(schema, node).map((v) => v.description).find(Boolean) || "";
  const example = (first.examples || [])[0];
  return example === undefined ? text : `${text}\nExample: ${JSON.stringify(example)}`;
}

// Returns a CodeMirror completion source; `loadSchema` returns a promise of the schema.
export function schemaCompletionSource(loadSchema) {
  return async (context) => {
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, context.pos - line.from);
    const lines = context.state.doc.toString().split("\n");
    const lineIndex = line.number - 1;
    const keyMatch = KEY_LINE.exec(before);
    if (keyMatch) {
      const typed = keyMatch[3] || "";
      if (!typed && !context.explicit) return null;
      const schema = await loadSchema();
      const col = keyMatch[1].length + (keyMatch[2] ? 2 : 0);
      const path = parentPath(lines, lineIndex, col, Boolean(keyMatch[2]));
      const present = keyMatch[2] ? new Set() : siblingKeys(lines, lineIndex, col);
      const options = [];
      const seen = new Set();
      for (const node of resolve(schema, path)) {
        for (const [key, property] of Object.entries(node.properties || {})) {
          if (seen.has(key) || present.has(key)) continue;
          seen.add(key);
          const required = (node.required || []).includes(key);
          options.push({
            label: key,
            type: "property",
            detail: (required ? "required · " : "") + typeOf(schema, property),
            info: describe(schema, property),
            apply: `${key}: `,
            boost: required ? 1 : 0,
          });
        }
      }
      if (!options.length) return null;
      return { from: context.pos - typed.length, options, validFor: /^[\w-]*$/ };
    }
    const valueMatch = VALUE_LINE.exec(before);
    if (valueMatch) {
      const schema = await loadSchema();
      const col = valueMatch[1].length + (valueMatch[2] ? 2 : 0);
      const path = parentPath(lines, lineIndex, col, Boolean(valueMatch[2]));
      const values = new Set();
      for (const node of resolve(schema, [...path, valueMatch[3]])) {
        for (const value of node.enum || []) values.add(String(value));
        if (node.const !== undefined) values.add(String(node.const));
        if (node.type === "boolean") ["true", "false"].forEach((v) => values.add(v));
      }
      if (!values.size) return null;
      const typed = valueMatch[4];
      return {
        from: context.pos - typed.length,
        options: [...values].map((value) => ({ label: value, type: "enum" })),
        validFor: /^[\w./@+-]*$/,
      };
    }
    return null;
  };
}
