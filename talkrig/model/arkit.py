"""Apple ARKit's 52 blendshape names: talkrig's canonical expression vocabulary.

Models whose expression shapes carry other names (ICT's ``_L``/``_R`` suffixes) are mapped
to these at load time with :func:`canonical_name`.
"""

ARKIT_52: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

_ARKIT_LOWER = {n.lower(): n for n in ARKIT_52}


def canonical_name(name: str) -> str | None:
    """Map a model's expression name to its ARKit name, or None when it has none.

    Accepts ARKit names in any case and ICT-style ``eyeBlink_L`` / ``mouthSmile_R``.
    """
    key = name.strip()
    for suffix, side in (("_L", "Left"), ("_R", "Right"), ("_l", "Left"), ("_r", "Right")):
        if key.endswith(suffix):
            key = key[: -len(suffix)] + side
            break
    return _ARKIT_LOWER.get(key.lower())
