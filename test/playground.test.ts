import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { parseEntries, pushKnowledgeBase } from "../cli/lib/kb.js";
import { MODELS_DIR } from "../host/paths.js";
import { startWorker, type TestWorker } from "../host/worker.js";

/**
 * The playground and docs pages in headless Chromium (Debian's), against the built worker with its
 * static assets: chat streams tokens in, translation, embeddings and knowledge-base search answer.
 * CI installs Chromium; elsewhere the test is skipped, saying why, when it is absent.
 */
const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOTS = join(import.meta.dirname, "..", "test-results");
const missing = existsSync(CHROMIUM)
  ? false
  : process.env.CI
    ? false
    : `${CHROMIUM} is not installed (apt-get install chromium); .ci/run installs it`;

describe("playground in headless Chromium", { skip: missing }, () => {
  let worker: TestWorker;
  let browser: BrowserContext;
  let profile: string;
  let page: Page;
  const failures: string[] = [];

  before(async () => {
    worker = await startWorker({ assets: true });
    await worker.push(join(MODELS_DIR, "shop-assistant"), "shop-assistant");
    await worker.push(join(MODELS_DIR, "phrase-translator"), "phrase-translator");
    await worker.push(join(MODELS_DIR, "intent-bert"), "intent-bert");
    await worker.push(join(MODELS_DIR, "glove-static"), "glove-static");
    const faq = await readFile(join(MODELS_DIR, "..", "kb", "shop-faq.jsonl"), "utf8");
    const entries = parseEntries(faq, "question");
    await pushKnowledgeBase(worker.bucket, { id: "shop-faq", model: "intent-bert", entries, quiet: true });
    profile = await mkdtemp(join(tmpdir(), "edge-chromium-"));
    // A new empty profile: Playwright passes it as --user-data-dir.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage();
    // Any request to another origin would mean the page is not self-contained.
    page.on("request", (request) => {
      if (new URL(request.url()).origin !== worker.url.origin) failures.push(`request to ${request.url()}`);
    });
    page.on("response", (response) => {
      if (response.status() >= 400) failures.push(`${response.status()} for ${response.url()}`);
    });
    page.on("pageerror", (error) => failures.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") failures.push(`console: ${message.text()}`);
    });
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await worker?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  test("chat streams a reply token by token, in English and in Chinese", async () => {
    await page.goto(new URL("/", worker.url).href);
    await page.locator("#chat-model option[value='shop-assistant']").waitFor({ state: "attached" });
    for (const [question, script] of [
      ["Where is my order A1234567?", /A1234567/],
      ["我的订单 A7654321 到哪里了？", /[\u4e00-\u9fff]/],
    ] as const) {
      const replies = page.locator("#chat-log li.assistant");
      const before = await replies.count();
      await page.fill("#chat-input", question);
      // Record every text the reply shows while it streams.
      await page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { seen: string[] }).seen = seen;
        new MutationObserver(() => {
          const last = document.querySelector("#chat-log li.assistant:last-child");
          if (last?.textContent) seen.push(last.textContent);
        }).observe(document.getElementById("chat-log") as HTMLElement, {
          subtree: true,
          childList: true,
          characterData: true,
        });
      });
      await page.click("#chat-send");
      await page.locator("#chat-log li.streaming").waitFor({ state: "detached" });
      assert.equal(await replies.count(), before + 1);
      const reply = (await replies.last().textContent()) ?? "";
      assert.match(reply, script);
      const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
      assert.ok(new Set(seen).size > 3, `the reply grew in steps (${new Set(seen).size} states seen)`);
      assert.ok(
        seen.every((text) => reply.startsWith(text)),
        "every state was a prefix of the reply",
      );
      assert.match((await page.textContent("#chat-usage")) ?? "", /completion tokens/);
    }
    await page.screenshot({ path: join(SCREENSHOTS, "playground-chat.png"), fullPage: true });
  });

  test("translation into Chinese", async () => {
    await page.click("#tab-translate");
    await page.selectOption("#translate-target", "zho");
    await page.fill("#translate-input", "3 items in your basket");
    await page.click("#translate-send");
    await page.waitForFunction(() => document.getElementById("translate-output")?.textContent !== "");
    assert.match((await page.textContent("#translate-output")) ?? "", /[\u4e00-\u9fff]/);
    await page.screenshot({ path: join(SCREENSHOTS, "playground-translate.png"), fullPage: true });
  });

  test("embeddings: a similarity table of the texts", async () => {
    await page.click("#tab-embeddings");
    await page.selectOption("#embeddings-model", "intent-bert");
    await page.click("#embeddings-send");
    await page.locator("#embeddings-table td").first().waitFor();
    const cells = await page.locator("#embeddings-table td").allTextContents();
    assert.equal(cells.length, 16);
    assert.equal(cells[0], "1.000", "a text is identical to itself");
  });

  test("knowledge-base search lists answers with scores", async () => {
    await page.click("#tab-kb");
    await page.fill("#kb-query", "how long until my money comes back?");
    await page.click("#kb-send");
    await page.locator("#kb-results li").first().waitFor();
    assert.equal(await page.locator("#kb-results li").count(), 3);
    assert.match((await page.locator("#kb-results li").first().textContent()) ?? "", /\d\.\d{3}/);
    await page.screenshot({ path: join(SCREENSHOTS, "playground-kb.png"), fullPage: true });
  });

  test("the docs page renders every operation of /openapi.json", async () => {
    await page.goto(new URL("/docs", worker.url).href);
    await page.locator("details.operation").first().waitFor();
    const doc = (await (await worker.fetch("/openapi.json")).json()) as { paths: Record<string, object> };
    const operations = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
    assert.equal(await page.locator("details.operation").count(), operations);
    await page.locator("[id='postV1ChatCompletions'] summary").click();
    assert.match((await page.locator("[id='postV1ChatCompletions']").textContent()) ?? "", /messages/);
    await page.screenshot({ path: join(SCREENSHOTS, "docs.png"), fullPage: true });
  });

  test("no request left the worker's origin and the pages logged no error", () => {
    assert.deepEqual(failures, []);
  });
});
