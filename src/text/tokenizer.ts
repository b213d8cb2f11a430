import { Tokenizer } from "@huggingface/tokenizers";

/** Special tokens in tokenizer_config.json are strings or `{content: ...}` objects. */
type TokenSetting = string | { content?: string } | null | undefined;

export interface TokenizerFiles {
  tokenizerJson: unknown;
  tokenizerConfig: Record<string, unknown>;
}

/** A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json), with the few things tasks need. */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  readonly config: Record<string, unknown>;
  readonly vocabSize: number;

  constructor(files: TokenizerFiles) {
    this.tokenizer = new Tokenizer(files.tokenizerJson as object, files.tokenizerConfig);
    this.config = files.tokenizerConfig;
    this.vocabSize = this.tokenizer.get_vocab(true).size;
  }

  encode(text: string, addSpecialTokens = true): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** A special token named in tokenizer_config.json (`bos_token`, `eos_token`, ...). */
  special(name: string): string | undefined {
    const setting = this.config[name] as TokenSetting;
    if (typeof setting === "string") return setting;
    return setting?.content ?? undefined;
  }

  vocabulary(): Map<string, number> {
    return this.tokenizer.get_vocab(true);
  }
}
