// The playground: plain DOM and fetch against this worker's own API, nothing loaded from elsewhere.

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "edge-inference.api-key";

function headers() {
  const key = $("api-key").value.trim();
  return { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

/** POSTs JSON and returns the parsed answer; an API error becomes an Error with its message. */
async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: headers(), body: JSON.stringify(body) });
  return answer(response);
}

async function answer(response) {
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

/** Runs a form's request with its button disabled, reporting failures in the status line. */
function onSubmit(form, button, run) {
  $(form).addEventListener("submit", async (event) => {
    event.preventDefault();
    $(button).disabled = true;
    setStatus("");
    try {
      await run();
    } catch (error) {
      setStatus(error.message, true);
    } finally {
      $(button).disabled = false;
    }
  });
}

// Tabs
for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll('[role="tab"]')) {
      other.setAttribute("aria-selected", String(other === tab));
      $(other.getAttribute("aria-controls")).hidden = other !== tab;
    }
  });
}
for (const sample of document.querySelectorAll(".sample")) {
  sample.addEventListener("click", () => {
    $(sample.dataset.target).value = sample.textContent;
  });
}

// Models, by the task each select wants
const languageNames = new Intl.DisplayNames(["en"], { type: "language" });
let models = [];

async function loadModels() {
  try {
    models = (await answer(await fetch("/v1/models", { headers: headers() }))).data;
  } catch (error) {
    setStatus(`Could not list the models: ${error.message}`, true);
    return;
  }
  for (const select of document.querySelectorAll("select[data-task]")) {
    const tasks = select.dataset.task.split(" ");
    select.replaceChildren(
      ...models.filter((m) => tasks.includes(m.task)).map((m) => new Option(m.id, m.id)),
    );
  }
  fillLanguages();
  setStatus(`${models.length} models`);
}

function fillLanguages() {
  const model = models.find((m) => m.id === $("translate-model").value);
  $("translate-target").replaceChildren(
    ...(model?.languages ?? []).map((code) => new Option(languageNames.of(code) ?? code, code)),
  );
}
$("translate-model").addEventListener("change", fillLanguages);

$("api-key").value = localStorage.getItem(KEY_STORAGE) ?? "";
$("api-key").addEventListener("change", () => {
  localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  loadModels();
});

// Chat: the conversation is kept here and sent whole; the reply streams in token by token.
let conversation = [];

function addTurn(role, text) {
  const item = document.createElement("li");
  item.className = role;
  item.textContent = text;
  $("chat-log").append(item);
  return item;
}

/** Server-sent events from a fetch response, one parsed `data:` payload at a time. */
async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const data = buffer
        .slice(0, end)
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6))
        .join("\n");
      buffer = buffer.slice(end + 2);
      if (data === "[DONE]") return;
      if (data) yield JSON.parse(data);
      end = buffer.indexOf("\n\n");
    }
  }
}

onSubmit("chat-form", "chat-send", async () => {
  const text = $("chat-input").value.trim();
  if (!text) return;
  addTurn("user", text);
  $("chat-input").value = "";
  conversation.push({ role: "user", content: text });
  const reply = addTurn("assistant", "");
  reply.classList.add("streaming");
  const started = performance.now();
  let firstToken;
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({
      model: $("chat-model").value,
      messages: conversation,
      max_tokens: Number($("chat-max").value),
      temperature: Number($("chat-temperature").value),
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok) {
    reply.remove();
    conversation.pop();
    await answer(response);
  }
  let usage;
  try {
    for await (const chunk of events(response)) {
      if (chunk.error) throw new Error(chunk.error.message);
      const piece = chunk.choices[0]?.delta?.content ?? "";
      if (piece && firstToken === undefined) firstToken = performance.now() - started;
      reply.textContent += piece;
      usage = chunk.usage ?? usage;
    }
  } finally {
    reply.classList.remove("streaming");
  }
  conversation.push({ role: "assistant", content: reply.textContent });
  const seconds = (performance.now() - started) / 1000;
  $("chat-usage").textContent = usage
    ? `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens in ${seconds.toFixed(2)} s; first token after ${Math.round(firstToken ?? 0)} ms`
    : "";
});

$("chat-reset").addEventListener("click", () => {
  conversation = [];
  $("chat-log").replaceChildren();
  $("chat-usage").textContent = "";
});

// Translation
onSubmit("translate-form", "translate-send", async () => {
  const result = await post("/v1/translate", {
    model: $("translate-model").value,
    text: $("translate-input").value,
    target_lang: $("translate-target").value,
    num_beams: Number($("translate-beams").value),
  });
  $("translate-output").textContent = result.translations.map((t) => t.text).join("\n");
  $("translate-usage").textContent =
    `${result.usage.prompt_tokens} source + ${result.usage.completion_tokens} target tokens`;
});

// Embeddings: every pair's cosine similarity (not every model normalises its vectors).
onSubmit("embeddings-form", "embeddings-send", async () => {
  const texts = $("embeddings-input")
    .value.split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const result = await post("/v1/embeddings", { model: $("embeddings-model").value, input: texts });
  const vectors = result.data.map((d) => d.embedding);
  const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
  const cosine = (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b) || 1);
  const cell = (tag, text) => {
    const element = document.createElement(tag);
    element.textContent = text;
    return element;
  };
  const head = document.createElement("tr");
  head.append(cell("th", ""), ...texts.map((t) => cell("th", t)));
  const rows = texts.map((text, i) => {
    const row = document.createElement("tr");
    row.append(cell("th", text), ...vectors.map((v) => cell("td", cosine(vectors[i], v).toFixed(3))));
    return row;
  });
  $("embeddings-table").replaceChildren(head, ...rows);
  $("embeddings-usage").textContent =
    `${vectors[0]?.length ?? 0} dimensions, ${result.usage.prompt_tokens} tokens`;
});

// Knowledge-base search
onSubmit("kb-form", "kb-send", async () => {
  const result = await post(`/v1/kb/${encodeURIComponent($("kb-id").value.trim())}/search`, {
    query: $("kb-query").value,
    top_k: Number($("kb-top").value),
  });
  $("kb-results").replaceChildren(
    ...result.results.map((hit) => {
      const item = document.createElement("li");
      const question = document.createElement("strong");
      question.textContent = hit.question ?? hit.id;
      const score = document.createElement("span");
      score.className = "meta";
      score.textContent = ` ${hit.score.toFixed(3)}`;
      const text = document.createElement("p");
      text.textContent = hit.answer ?? "";
      item.append(question, score, text);
      return item;
    }),
  );
});

loadModels();
