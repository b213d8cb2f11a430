// Renders /openapi.json: operations by tag, each request body as a table of its fields.

const element = (tag, text, className) => {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
};

/** A JSON Schema in one line: `string | null`, `array of number`, `"text"`, ... */
function typeOf(schema, doc) {
  if (!schema || typeof schema !== "object") return "any";
  if (schema.$ref) return schema.$ref.split("/").at(-1);
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return union.map((s) => typeOf(s, doc)).join(" | ");
  const types = [schema.type ?? "any"].flat();
  return types
    .map((type) => {
      if (type === "array") return `array of ${typeOf(schema.items, doc)}`;
      if (type === "object" && schema.properties) return "object";
      return type;
    })
    .join(" | ");
}

/** The schema and, for a union (`x | null`), its members: where limits and nested fields are. */
const variants = (schema) => [schema, ...(schema.anyOf ?? schema.oneOf ?? [])];

function limits(schema) {
  const notes = [];
  for (const variant of variants(schema)) {
    for (const [key, label] of [
      ["minimum", "≥"],
      ["maximum", "≤"],
      ["minLength", "min length"],
      ["maxLength", "max length"],
      ["minItems", "min items"],
      ["maxItems", "max items"],
    ]) {
      const value = variant[key];
      // zod states the safe-integer range of every integer; it says nothing to a reader.
      if (value !== undefined && Math.abs(value) < 2 ** 53 - 1) notes.push(`${label} ${value}`);
    }
  }
  return notes.join(", ");
}

/** A table of an object schema's fields; nested objects (and arrays of them) get their own rows. */
function fieldRows(schema, doc, prefix = "") {
  const resolved = schema.$ref ? doc.components.schemas[schema.$ref.split("/").at(-1)] : schema;
  const required = new Set(resolved.required ?? []);
  return Object.entries(resolved.properties ?? {}).flatMap(([name, field]) => {
    const row = element("tr");
    row.append(
      element("td", `${prefix}${name}${required.has(name) ? "" : "?"}`),
      element("td", typeOf(field, doc)),
      element("td", limits(field)),
    );
    for (const variant of variants(field)) {
      if (variant.type === "object" && variant.properties) {
        return [row, ...fieldRows(variant, doc, `${prefix}${name}.`)];
      }
      if (variant.type === "array" && variant.items?.properties) {
        return [row, ...fieldRows(variant.items, doc, `${prefix}${name}[].`)];
      }
    }
    return [row];
  });
}

function schemaTable(schema, doc) {
  const table = element("table");
  const head = element("tr");
  head.append(element("th", "field"), element("th", "type"), element("th", "limits"));
  table.append(head, ...fieldRows(schema, doc));
  return table;
}

function operationView(path, method, operation, doc) {
  const box = element("details", undefined, "operation");
  box.id = operation.operationId;
  const summary = element("summary");
  summary.append(element("span", method, `method ${method}`), element("code", path), ` ${operation.summary}`);
  box.append(summary);
  if (operation.security?.length === 0) box.append(element("p", "No API key needed.", "meta"));
  const body = operation.requestBody?.content["application/json"]?.schema;
  if (body?.oneOf) {
    box.append(element("p", body.description ?? "One of:"));
    for (const choice of body.oneOf) box.append(element("h4", typeOf(choice, doc)), schemaTable(choice, doc));
  } else if (body) {
    box.append(element("h4", `Body: ${typeOf(body, doc)}`), schemaTable(body, doc));
  }
  const answers = Object.keys(operation.responses["200"]?.content ?? {});
  box.append(element("p", `Answers ${answers.join(" or ")}; errors in OpenAI's shape.`, "meta"));
  const curl = `curl ${location.origin}${path}${body ? " -d '{…}'" : ""}`;
  box.append(element("pre", curl));
  return box;
}

async function render() {
  const response = await fetch("/openapi.json");
  const doc = await response.json();
  document.title = `${doc.info.title} API`;
  document.getElementById("title").textContent = `${doc.info.title} API`;
  document.getElementById("description").textContent = doc.info.description;
  const byTag = new Map();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const tag = operation.tags?.[0] ?? "Other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operationView(path, method, operation, doc));
    }
  }
  const main = document.getElementById("operations");
  for (const [tag, views] of byTag) main.append(element("h2", tag), ...views);
  document.getElementById("status").textContent = `OpenAPI ${doc.openapi}`;
}

render().catch((error) => {
  document.getElementById("status").textContent = `Could not load /openapi.json: ${error.message}`;
});
