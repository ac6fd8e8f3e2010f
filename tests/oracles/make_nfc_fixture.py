#!/usr/bin/python3
"""Writes tests/ToolTune.Tests/Fixtures/tokenizers/nfc.jsonl: random strings rich in composable characters with
Python unicodedata's NFC and NFD (same Unicode version as NfcData.g.cs). Run: python3 make_nfc_fixture.py"""
import json, random, unicodedata as u
rng = random.Random(5)
marks = [chr(c) for c in range(0x300, 0x370)] + ["\u0323", "\u0327", "\u031b", "\u0345", "\u05b0", "\u093c", "\u09be", "\u0b3e", "\u3099", "\u309a", "\u0f71", "\u0f72"]
bases = list("aeiouAEIOUcnsyzwkKLlgGhHrRtTjJ") + ["\u03b1", "\u03c9", "\u0391", "\u0415", "\u0438", "\u0915", "\u09c7", "\u0b47", "\u304b", "\u30cf", "\u00c5", "\u212b", "\u1e9b", "\u0f40", "\u0958", "\U0001d15e", "\U000110a5"]
jamo = [chr(c) for c in range(0x1100, 0x1113)] + [chr(c) for c in range(0x1161, 0x1176)] + [chr(c) for c in range(0x11a8, 0x11c3)] + ["\uac00", "\ud4db", "\uac01"]
pre = [chr(c) for c in range(0xc0, 0x180)] + [chr(c) for c in range(0x1e00, 0x1f00, 7)] + [chr(c) for c in range(0x1f00, 0x2000, 5)]
other = [" ", "x", "1", "😀", "\U00020000", "\u00e9", "\u0344", "\u0340", "\u2126"]
pools = [marks, bases, jamo, pre, other]
with open("../ToolTune.Tests/Fixtures/tokenizers/nfc.jsonl", "w", encoding="utf-8") as f:
    for i in range(3000):
        s = "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 10)))
        f.write(json.dumps({"text": s, "nfc": u.normalize("NFC", s), "nfd": u.normalize("NFD", s)}, ensure_ascii=False) + "\n")
print("ok")
