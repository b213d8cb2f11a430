import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { MODELS_DIR } from "../../host/paths.js";
import { startWorker, type TestWorker } from "../../host/worker.js";
import { readJsonl, readRecipeJson, recipeFile } from "../helpers/recipes.js";

/** The shop-assistant model card's held-out figures, reproduced through the worker. */
type Dtype = "fp32" | "int8";
interface Heldout {
  id: string;
  lang: "en" | "zh";
  messages: { role: string; content: string }[];
  intent: string;
  order: string | null;
}
type LangMetrics = { conversations: number; intent_correct: number; order_copy_accuracy: number };
type Metrics = Record<Dtype, Record<"en" | "zh", LangMetrics>>;

const metrics = await readRecipeJson<Metrics>("shop-assistant", "metrics.json");
const heldout = await readJsonl<Heldout>(recipeFile("shop-assistant", "heldout.jsonl"));
const replies = await readRecipeJson<{
  order_pattern: string;
  templates: { intent: string; lang: string; template: string }[];
}>("shopdata", "reply_templates.json");
const orderPattern = new RegExp(replies.order_pattern, "g");

/** shopdata.match_reply: (intent, order) when the reply is exactly a template with its slot filled. */
function matchReply(text: string, lang: string): { intent: string; order: string | null } | undefined {
  const reply = text.trim();
  for (const { intent, lang: own, template } of replies.templates) {
    if (own !== lang) continue;
    if (template.includes("{order}")) {
      const [head = "", tail = ""] = template.split("{order}");
      if (reply.startsWith(head) && reply.endsWith(tail) && reply.length > head.length + tail.length) {
        const order = reply.slice(head.length, reply.length - tail.length);
        if (new RegExp(`^(?:${replies.order_pattern})$`).test(order)) return { intent, order };
      }
    } else if (reply === template) {
      return { intent, order: null };
    }
  }
  return undefined;
}

describe("shop-assistant held-out conversations through the worker", () => {
  let worker: TestWorker;
  let client: OpenAI;

  before(async () => {
    worker = await startWorker();
    await worker.push(join(MODELS_DIR, "shop-assistant"), "shop-assistant");
    client = new OpenAI({ apiKey: "unused", baseURL: new URL("/v1", worker.url).href, maxRetries: 0 });
  });
  after(() => worker.close());

  for (const dtype of ["int8", "fp32"] as Dtype[]) {
    test(`${dtype}: the held-out conversations reproduce the model card's accuracy`, async () => {
      const model = dtype === "fp32" ? "shop-assistant:fp32" : "shop-assistant";
      for (const lang of ["en", "zh"] as const) {
        const card = metrics[dtype][lang];
        // The card scores the first `conversations` held-out rows of each language.
        const rows = heldout.filter((row) => row.lang === lang).slice(0, card.conversations);
        assert.equal(rows.length, card.conversations);
        let correct = 0;
        let orders = 0;
        let copied = 0;
        for (const row of rows) {
          const completion = await client.chat.completions.create({
            model,
            messages: row.messages as OpenAI.ChatCompletionMessageParam[],
          });
          const reply = completion.choices[0]?.message.content ?? "";
          const ended = completion.choices[0]?.finish_reason === "stop";
          const match = ended ? matchReply(reply, lang) : undefined;
          if (match && match.intent === row.intent && match.order === row.order) correct++;
          if (row.order) {
            orders++;
            const found = reply.match(orderPattern) ?? [];
            if (found.length === 1 && found[0] === row.order) copied++;
          }
        }
        const accuracy = correct / rows.length;
        const copy = copied / Math.max(1, orders);
        assert.ok(
          Math.abs(accuracy - card.intent_correct) <= 0.01,
          `${lang} intent ${accuracy} vs ${card.intent_correct}`,
        );
        assert.ok(
          Math.abs(copy - card.order_copy_accuracy) <= 0.01,
          `${lang} copy ${copy} vs ${card.order_copy_accuracy}`,
        );
      }
    });
  }
});
