"""Single-photo face reconstruction: detection, dense landmarks, 3DMM fit, lighting, texture.

    from talkrig.recon import reconstruct
    rec = reconstruct("photo.jpg", model="default")
    rec.save("face.npz")
"""

from talkrig.recon.reconstruction import Reconstruction


def reconstruct(image, model="default", **kw) -> Reconstruction:
    """See :func:`talkrig.recon.api.reconstruct`."""
    from talkrig.recon.api import reconstruct as _reconstruct

    return _reconstruct(image, model, **kw)


__all__ = ["Reconstruction", "reconstruct"]
