"""A PNG of an animation's main curves over the waveform and phonemes (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkrig.errors import InputError

_GROUPS = {
    "mouth": ("jawOpen", "mouthClose", "mouthPucker", "mouthFunnel", "mouthRollLower", "mouthStretchLeft"),
    "emotion": ("mouthSmileLeft", "mouthFrownLeft", "browInnerUp", "browDownLeft", "cheekSquintLeft",
                "noseSneerLeft", "eyeWideLeft"),
    "eyes": ("eyeBlinkLeft", "eyeLookOutLeft", "eyeLookInLeft", "eyeLookUpLeft", "eyeLookDownLeft"),
}


def plot_curves(anim, path: str | Path) -> None:
    """Write waveform + phonemes, mouth, emotion, eye and head-pose curves to a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib (pip install talkrig[plot])") from None
    from talkrig.io.files import atomic_path

    t = anim.times
    fig, axes = plt.subplots(5, 1, figsize=(12, 11), sharex=True)
    ta = np.arange(len(anim.audio)) / anim.sample_rate
    axes[0].plot(ta, anim.audio, lw=0.4, color="0.4")
    for a, b, p in anim.phonemes:
        if p != "SIL":
            axes[0].text((a + b) / 2, 0.9 * max(np.abs(anim.audio).max(), 1e-3), p, fontsize=6,
                         ha="center", color="C3" if p in ("P", "B", "M") else "k")
    axes[0].set_ylabel("audio")
    for ax, (title, names) in zip(axes[1:4], _GROUPS.items()):
        for n in names:
            ax.plot(t, anim.channel(n), label=n, lw=1)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(title)
        ax.legend(fontsize=6, loc="upper right", ncol=3)
    for k, n in enumerate(("pitch", "yaw", "roll")):
        axes[4].plot(t, np.degrees(anim.rotation[:, k]), label=n)
    axes[4].set_ylabel("head (deg)")
    axes[4].set_xlabel("time (s)")
    axes[4].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"emotion: {anim.emotion}   timings: {anim.metadata.get('timings', '')}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
