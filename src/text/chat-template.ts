import { Template } from "@huggingface/jinja";
import { ApiError } from "../errors.js";
import type { TextTokenizer } from "./tokenizer.js";

export interface ChatMessage {
  role: string;
  content: string;
}

/** A model's chat template (tokenizer_config.json `chat_template`), rendered as transformers does. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    source: string,
    private readonly tokenizer: TextTokenizer,
  ) {
    this.template = new Template(source);
  }

  static fromTokenizer(tokenizer: TextTokenizer): ChatTemplate | undefined {
    const source = tokenizer.config.chat_template;
    if (typeof source === "string") return new ChatTemplate(source, tokenizer);
    if (Array.isArray(source)) {
      const named = source.find((entry) => entry?.name === "default") ?? source[0];
      if (typeof named?.template === "string") return new ChatTemplate(named.template, tokenizer);
    }
    return undefined;
  }

  render(messages: ChatMessage[], addGenerationPrompt = true): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.tokenizer.special("bos_token") ?? "",
        eos_token: this.tokenizer.special("eos_token") ?? "",
        pad_token: this.tokenizer.special("pad_token") ?? "",
        unk_token: this.tokenizer.special("unk_token") ?? "",
      });
    } catch (error) {
      // Templates refuse what they do not know with raise_exception(), which the renderer provides.
      const reason = error instanceof Error ? error.message : String(error);
      throw new ApiError(
        400,
        `The model's chat template rejected the messages: ${reason}`,
        "invalid_messages",
        "messages",
      );
    }
  }
}
