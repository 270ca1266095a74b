"""Phoneme inventory: ARPAbet (CMU, 39 phones, no stress digits) plus ``SIL``.

espeak-ng speaks in its own ASCII mnemonics (``'aI``, ``tS``, ``@L``...); pocketsphinx aligns
in ARPAbet. Both are converted here to one ARPAbet sequence so visemes, metrics and the
learned predictor see one vocabulary.
"""

from __future__ import annotations

ARPABET = ("AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G",
           "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH",
           "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH")
SIL = "SIL"
PHONES = (SIL, *ARPABET)
VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY",
                    "UH", "UW"})
BILABIALS = frozenset({"P", "B", "M"})
LABIODENTALS = frozenset({"F", "V"})
ROUNDED = frozenset({"OW", "UW", "UH", "W", "OY", "AO"})

# espeak-ng English mnemonics (stress marks removed) -> ARPAbet phones. Diphthongs with an
# r-colouring become two phones sharing the segment's duration.
_ESPEAK = {
    "p": ("P",), "b": ("B",), "t": ("T",), "t#": ("T",), "t2": ("T",), "d": ("D",), "d#": ("D",),
    "k": ("K",), "g": ("G",), "f": ("F",), "v": ("V",), "T": ("TH",), "D": ("DH",),
    "s": ("S",), "z": ("Z",), "S": ("SH",), "Z": ("ZH",), "h": ("HH",), "x": ("HH",),
    "tS": ("CH",), "dZ": ("JH",), "m": ("M",), "n": ("N",), "n-": ("N",), "N": ("NG",),
    "l": ("L",), "l/": ("L",), "@L": ("AH", "L"), "r": ("R",), "r-": ("R",), "w": ("W",),
    "j": ("Y",), "?": ("T",),
    "@": ("AH",), "@-": ("AH",), "@2": ("AH",), "@5": ("AH",), "3": ("ER",), "3:": ("ER",),
    "a": ("AE",), "a#": ("AH",), "aa": ("AE",), "A:": ("AA",), "A@": ("AA", "R"), "0": ("AA",),
    "aI": ("AY",), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"), "aU": ("AW",),
    "O:": ("AO",), "O2": ("AO",), "O@": ("AO", "R"), "o@": ("AO", "R"), "OI": ("OY",),
    "E": ("EH",), "e@": ("EH", "R"), "eI": ("EY",),
    "I": ("IH",), "I#": ("IH",), "I2": ("IH",), "i": ("IY",), "i:": ("IY",),
    "i@": ("IY", "ER"), "i@3": ("IY", "ER"), "oU": ("OW",),
    "U": ("UH",), "U@": ("UH", "R"), "u:": ("UW",), "V": ("AH",),
}


def espeak_to_arpabet(name: str) -> tuple[str, ...]:
    """ARPAbet phones for one espeak-ng phoneme mnemonic (``()`` for markers it has no sound
    for; pauses ``_``, ``_:``, ``_!`` become ``("SIL",)``)."""
    name = name.strip().strip("\x00")
    if not name or name == ";":
        return ()
    if name.startswith("_"):
        return (SIL,)
    base = name.lstrip("',%=")
    if base in _ESPEAK:
        return _ESPEAK[base]
    # Unknown mnemonic (another language): guess from its first letter, keeping it audible.
    for length in (2, 1):
        if base[:length] in _ESPEAK:
            return _ESPEAK[base[:length]]
    return ("AH",)


def normalize(phone: str) -> str:
    """Canonical ARPAbet name: upper case, stress digits removed, ``sil``/``+NSN+`` -> ``SIL``."""
    p = phone.strip().upper().rstrip("012")
    if p in ARPABET:
        return p
    return SIL


def split_segment(start: float, end: float, phones: tuple[str, ...]) -> list[tuple[float, float, str]]:
    """Share ``[start, end)`` evenly among ``phones``."""
    if not phones:
        return []
    step = (end - start) / len(phones)
    return [(start + i * step, start + (i + 1) * step, p) for i, p in enumerate(phones)]


def merge_silences(segments: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Join adjacent ``SIL`` segments and drop empty ones."""
    out: list[tuple[float, float, str]] = []
    for a, b, p in segments:
        if b <= a:
            continue
        if out and p == SIL and out[-1][2] == SIL:
            out[-1] = (out[-1][0], b, SIL)
        else:
            out.append((a, b, p))
    return out
