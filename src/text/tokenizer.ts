import { Tokenizer } from "@huggingface/tokenizers";

/** Special tokens in tokenizer_config.json are strings or `{content: ...}` objects. */
type TokenSetting = string | { content?: string } | null | undefined;

export interface TokenizerFiles {
  tokenizerJson: unknown;
  tokenizerConfig: Record<string, unknown>;
}

interface DecoderConfig {
  type?: string;
  decoders?: DecoderConfig[];
}

const TOKEN_LOCAL_DECODERS = new Set(["ByteLevel", "Metaspace", "ByteFallback", "Fuse", "Strip", "Replace"]);

function tokenLocal(decoder: DecoderConfig): boolean {
  if (decoder.type === "Sequence") return (decoder.decoders ?? []).every(tokenLocal);
  return TOKEN_LOCAL_DECODERS.has(decoder.type ?? "");
}

/** A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json), with the few things tasks need. */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  readonly config: Record<string, unknown>;
  readonly vocabSize: number;
  /**
   * The most characters one token can cover (byte-level tokens spell bytes, which are at least as
   * many), where that bounds the count: BPE without fused unknowns. Word-level models and WordPiece
   * turn a whole unknown word into one token, so only the words bound their count.
   */
  private readonly longestToken: number | undefined;
  /**
   * Whether decoding a list equals decoding its parts and joining them, as long as each part
   * starts a token after a whole character and carries the token before it: true of decoders that
   * work token by token (byte-level, Metaspace, byte fallback). WordPiece's joins, an end-of-word
   * suffix and `clean_up_tokenization_spaces` (which the library applies unless told otherwise)
   * rewrite text across several tokens, so a streamed decode of those decodes the whole list.
   */
  readonly decodesLocally: boolean;

  constructor(files: TokenizerFiles) {
    this.tokenizer = new Tokenizer(files.tokenizerJson as object, files.tokenizerConfig);
    this.config = files.tokenizerConfig;
    const vocabulary = this.tokenizer.get_vocab(true);
    this.vocabSize = vocabulary.size;
    const json = files.tokenizerJson as {
      model?: { type?: string; fuse_unk?: boolean; end_of_word_suffix?: string | null };
      decoder?: DecoderConfig | null;
    };
    const model = json.model;
    let longest = 1;
    for (const token of vocabulary.keys()) longest = Math.max(longest, token.length);
    this.longestToken = model?.type === "BPE" && model.fuse_unk !== true ? longest : undefined;
    this.decodesLocally =
      files.tokenizerConfig.clean_up_tokenization_spaces === false &&
      !model?.end_of_word_suffix &&
      !!json.decoder &&
      tokenLocal(json.decoder);
  }

  /**
   * A count the text's tokens cannot be below, found without tokenizing, so a huge input can be
   * refused before the tokenizer spends seconds on it: every word is at least one token, and under
   * BPE every token covers at most the longest vocabulary entry (whitespace may be dropped). Halved,
   * because a normalizer may fold characters together.
   */
  minimumTokens(text: string): number {
    let visible = 0;
    let words = 0;
    let inWord = false;
    for (const char of text) {
      const space = char.trim() === "";
      if (!space) visible++;
      if (!space && !inWord) words++;
      inWord = !space;
    }
    const byLength = this.longestToken === undefined ? 0 : visible / this.longestToken;
    return Math.floor(Math.max(words, byLength) / 2);
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

  token(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
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
