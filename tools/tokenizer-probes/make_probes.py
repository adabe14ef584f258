"""Extra CLIP tokenizer cases for the tests: random prompts tokenised the way openai's simple_tokenizer does it.

The behaviour reproduced is openai/CLIP's `simple_tokenizer.py` with ftfy absent (as the reference's cases.json was
made): html.unescape twice, strip, `\\s+` -> ' ' (the `regex` module's \\s), strip, str.lower, then the CLIP pattern
and the byte-level BPE with '</w>' on each word's last symbol. The script first checks itself against every case of
the reference cases.json and stops if one differs.

Usage: python3 make_probes.py TOKENIZER_DIR CASES_JSON OUT_JSON [SEED] [COUNT]   (needs the `regex` package)
"""
import html
import json
import random
import sys

import regex

PATTERN = regex.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
                        regex.IGNORECASE)
SPECIAL = ("<|startoftext|>", "<|endoftext|>")


def byte_symbols():
    """bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest take U+0100 on in byte order."""
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


class OpenAiStyleTokenizer:
    def __init__(self, folder):
        with open(f"{folder}/vocab.json", encoding="utf-8") as f:
            self.vocab = json.load(f)
        with open(f"{folder}/merges.txt", encoding="utf-8") as f:
            lines = f.read().split("\n")[1:49152 - 256 - 2 + 1]
        self.rank = {tuple(line.split()): i for i, line in enumerate(lines)}
        self.symbols = byte_symbols()
        self.memo = {}

    def clean(self, text):
        text = html.unescape(html.unescape(text)).strip()
        return regex.sub(r"\s+", " ", text).strip().lower()

    def merge(self, word):
        if word in SPECIAL:
            return [word]
        if word in self.memo:
            return self.memo[word]
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            ranked = [(self.rank.get(pair, float("inf")), pair) for pair in zip(parts, parts[1:])]
            best_rank, best = min(ranked, key=lambda r: r[0])
            if best_rank == float("inf"):
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self.memo[word] = parts
        return parts

    def encode(self, text):
        cleaned = self.clean(text)
        tokens = []
        for word in PATTERN.findall(cleaned):
            mapped = word if word in SPECIAL else "".join(self.symbols[b] for b in word.encode("utf-8"))
            tokens.extend(self.merge(mapped))
        return cleaned, tokens, [self.vocab[t] for t in tokens]


PIECES = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 3 + list(" ,.!?;:'\"()[]{}<>|/\\-_=+*&^%$#@~`") + [
    " ", "  ", "\t", "\n", "\r\n", "\x1c", "\x1f", "\x85", "\xa0", "\u2003", "\u3000", "\u2028",
    "𝐀", "𝐛", "𝟏", "𠀀", "🐱", "🌈", "✨", "😀", "é", "e\u0301", "ß", "İ", "Σ", "ΣΑΣ", "ΟΔΟΣ", "Ωmega", "Москва", "ΐ", "ǅ", "Ⅻ",
    "東京", "タワー", "한국어", "ﬁ", "’", "‘", "“", "”", "…", "½", "²", "٣", "<|endoftext|>", "<|startoftext|>", "<|ENDOFTEXT|>",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x41;", "&nbsp;",
    "&eacute;", "&amp;amp;", "&amp", "&ampx", "&#128;", "&#x110000;", "&#0;", "&#13;", "&#10;", "&NotEqualTilde;", "&notit;",
    "&notin", "&#39", "&#x41", "&#1;", "&#65536;", "&#xD800;", "&#xFFFE;", "&#x9F;", "&#x81;", "&#99999999999999999999;", "&lt",
    "&LT;", "&amp;lt;", "&#38;amp;", "&CounterClockwiseContourIntegral;", "&bogus;", "&", "&#", "&#x", "&;",
    "ǈ", "ῼ", "ﬀ", "\u00ad", "\u200b", "\u200d", "ʰ", "ᾈ", " photo", " of", " a", " cat", " masterpiece", " highly detailed"]


def main():
    folder, cases_path, out_path = sys.argv[1:4]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    tokenizer = OpenAiStyleTokenizer(folder)
    with open(cases_path, encoding="utf-8") as f:
        reference = json.load(f)
    for case in reference["cases"] + reference["divergent_informational"]:
        cleaned, tokens, ids = tokenizer.encode(case["prompt"])
        assert (cleaned, tokens, ids) == (case["normalized"], case["bpe_tokens"], case["ids"]), case["prompt"]

    rng = random.Random(seed)
    prompts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 25))) for _ in range(count)]
    prompts += ["ΟΔΟΣ ΣΑΣ.", "ΑΣ'Σ", "Σ", "aΣ", "aΣb", "aΣ\u0301", "A.Σ.", "ΣⅫ", "word" * 40, "a" * 16, "İstanbul",
                "a!<|endoftext|>b", "!'s", "<|endoftext|><|startoftext|>"]
    out = []
    for prompt in prompts:
        cleaned, tokens, ids = tokenizer.encode(prompt)
        out.append({"prompt": prompt, "normalized": cleaned, "bpe_tokens": tokens, "ids": ids})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"format": 1, "generator": "tools/tokenizer-probes/make_probes.py", "seed": seed, "cases": out}, f, ensure_ascii=True)
    print(f"{len(out)} cases written to {out_path}")


if __name__ == "__main__":
    main()
