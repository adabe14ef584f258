"""CLIP's byte-level BPE, enough to turn captions into the token ids the SDK's tokenizer produces.

Reads the model's own tokenizer/vocab.json and merges.txt. Text is cleaned as CLIP does for plain ASCII prompts
(whitespace collapsed, lower case), split with CLIP's pattern, then each word is merged pair by pair in merge-rank
order; ids are framed as Stable Diffusion's pipelines frame them: [BOS] + ids[:75] + [EOS], padded with EOS to 77."""
import json
import os

import regex

BOS, EOS, LENGTH = 49406, 49407, 77
_PATTERN = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                         regex.IGNORECASE)


def _byte_to_unicode():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


class ClipBpe:
    def __init__(self, folder):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.vocab = json.load(f)
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")[1:48895]  # as HF's CLIPTokenizer reads it
        self.ranks = {tuple(line.split()): i for i, line in enumerate(lines) if line}
        self.bytes = _byte_to_unicode()
        self.cache = {}

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, _ = min(pairs)
            if rank == 1 << 30:
                break
            a, b = next((parts[i], parts[i + 1]) for r, i in pairs if r == rank)
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self.cache[word] = parts
        return parts

    def ids(self, text):
        text = " ".join(text.split()).lower()
        out = []
        for word in _PATTERN.findall(text):
            mapped = "".join(self.bytes[b] for b in word.encode("utf-8"))
            out.extend(self.vocab[p] for p in self._bpe(mapped))
        return out

    def frame(self, text):
        ids = [BOS] + self.ids(text)[:LENGTH - 2] + [EOS]
        return ids + [EOS] * (LENGTH - len(ids))
