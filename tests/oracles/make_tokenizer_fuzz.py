#!/usr/bin/python3
"""Writes tokenizer_fuzz.json: seeded random strings built from the character classes byte-level BPE ports get wrong
(apostrophe contractions in mixed case, whitespace runs, \\r\\n, digits incl. non-ASCII, combining marks, astral letters,
emoji with ZWJ/skin tones, special-token fragments). Run: python3 make_tokenizer_fuzz.py"""
import json, random
rng = random.Random(20261121)
pools = [
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    list("0123456789"),
    list("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~"),
    [" ", "  ", "   ", "    ", "\t", "\n", "\r\n", "\r", "\n\n", " \n", "\u00a0", "\u3000", "\u2009", "\u200b"],
    ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D", "'", "’s"],
    list("éèêëñçåøßÅÉÑ") + ["e\u0301", "a\u0308", "o\u0302\u0301", "\u0323\u0307", "\u0301"],
    list("абвгдежзийклмнопрстуфхцчшщыэюяАБВГ") + list("αβγδεζηθΩΣ"),
    list("مرحباالعربية") + list("नमस्तेहिंदी") + list("สวัสดีภาษาไทย"),
    list("中文字日本語漢字カタカナひらがな한국어안녕"),
    ["𝐀", "𝐁", "𝐳", "𠀀", "𠀁", "𝔘", "𐍈", "𒀀", "𝟏", "𝟐"],
    ["😀", "👍", "🏽", "\u200d", "👨\u200d👩\u200d👧", "🇫🇷", "❤️", "🎉", "\ufe0f", "#\ufe0f\u20e3"],
    list("½²³¼١٢٣٤Ⅻⅳ①⁴₅") + ["१२", "৩", "໒", "፩"],
    ["<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<|endoftext|>", "<|eot_id|>", "<think>", "<|im_", "<tool", "|>", "<", ">", "</"],
    [" " * n for n in (5, 8, 12, 16, 31, 32, 40)] + ["\t\t", "\t\t\t\t"],
]
weights = [20, 8, 8, 14, 6, 4, 4, 3, 3, 3, 3, 3, 4, 3]
out = []
for i in range(400):
    n = rng.randint(1, 24)
    s = "".join(rng.choice(pools[rng.choices(range(len(pools)), weights)[0]]) for _ in range(n))
    out.append(s)
json.dump(out, open("tokenizer_fuzz.json", "w", encoding="utf-8"), ensure_ascii=False, indent=0)
print(len(out), "strings")
