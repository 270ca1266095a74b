"""Reading and writing still images robustly.

Every image inside talkrig is an ``(H, W, 3)`` ``uint8`` RGB numpy array, already rotated
upright by its EXIF orientation. :func:`load_image` turns whatever a user hands us (a path, a
PIL image or an array; grayscale, palette, alpha, 16-bit, CMYK, float) into that form, or raises
a one-line :class:`~talkrig.errors.InputError`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from talkrig.errors import InputError

#: Smallest side we accept: below this no detector finds a face and a fit means nothing.
MIN_SIDE = 32
#: Largest image we decode (pixels); Pillow's bomb guard raised to a real-photo ceiling.
MAX_PIXELS = 250_000_000
#: Background that transparent pixels are composited onto (mid grey reads as "nothing").
ALPHA_BACKGROUND = (255, 255, 255)


def load_image(source, *, name: str | None = None, min_side: int = MIN_SIDE,
               max_side: int | None = None) -> np.ndarray:
    """Load an image as upright RGB ``uint8``.

    Args:
        source: a path (str / Path), a ``PIL.Image.Image``, or a numpy array ``(H, W)``,
            ``(H, W, 1|3|4)`` of dtype uint8, uint16 (full 16-bit range) or float (0..1).
        name: how to call the image in error messages (defaults to the path).
        min_side: reject images whose shorter side is below this.
        max_side: downscale (Lanczos) so the longer side is at most this; a JPEG file is
            then decoded at a reduced scale directly, so a huge photo never sits in memory at
            full size.
    Returns:
        ``(H, W, 3)`` uint8 C-contiguous array.
    Raises:
        InputError: missing / unreadable / not an image / too small / too large.
    """
    if isinstance(source, (str, Path)):
        img = _open_path(Path(source), max_side)
        label = name or str(source)
        arr = pil_to_rgb(img, label)
    elif isinstance(source, Image.Image):
        label = name or "image"
        arr = pil_to_rgb(source, label)
    elif isinstance(source, np.ndarray) or hasattr(source, "__array__"):
        label = name or "image array"
        arr = array_to_rgb(np.asarray(source), label)
    else:
        raise InputError(f"cannot use a {type(source).__name__} as an image")
    h, w = arr.shape[:2]
    if min(h, w) < min_side:
        raise InputError(f"{label}: image is too small ({w}x{h}); need at least {min_side} px per side")
    if max_side is not None and max(h, w) > max_side:
        f = max_side / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        arr = np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS))
    return np.ascontiguousarray(arr)


def _open_path(path: Path, max_side: int | None = None) -> Image.Image:
    if not path.exists():
        raise InputError(f"image not found: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    old = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
            if max_side is not None and img.format == "JPEG" and max(img.size) > max_side:
                # decode at the smallest 1/2, 1/4 or 1/8 scale whose longer side stays at least
                # half of max_side (then Lanczos-resized if still above it)
                f = max_side / 2 / max(img.size)
                img.draft("RGB", (int(img.size[0] * f) + 1, int(img.size[1] * f) + 1))
            img.load()
        return img
    except Image.DecompressionBombError:
        raise InputError(f"{path}: image is too large (over {MAX_PIXELS // 1_000_000} megapixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, UnidentifiedImageError):
            detail = "not an image file Pillow can read"
        raise InputError(f"cannot read image {path}: {detail}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old


def pil_to_rgb(img: Image.Image, label: str = "image") -> np.ndarray:
    """Upright RGB uint8 from any PIL image (EXIF rotation applied, alpha composited)."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the photo unusable
        pass
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return array_to_rgb(np.asarray(img), label)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, ALPHA_BACKGROUND + (255,))
        img = Image.alpha_composite(bg, img)
    if img.mode != "RGB":
        img = img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    return np.asarray(img, dtype=np.uint8)


def array_to_rgb(arr: np.ndarray, label: str = "image array") -> np.ndarray:
    """RGB uint8 from an array of any common layout and dtype (see :func:`load_image`)."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = arr[..., None].repeat(3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InputError(f"{label}: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {arr.shape}")
    arr = _to_unit_float(arr, label) if arr.dtype != np.uint8 else arr
    if arr.shape[2] == 4:
        a = (arr[..., 3:].astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 1.0))
        rgb = arr[..., :3].astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 1.0)
        bg = np.asarray(ALPHA_BACKGROUND, np.float32) / 255.0
        arr = rgb * a + bg * (1 - a)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    return arr


def _to_unit_float(arr: np.ndarray, label: str) -> np.ndarray:
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        # uint16 photos use the full 16-bit range; other integer arrays are 8-bit values
        top = 65535.0 if arr.dtype == np.uint16 or arr.max(initial=0) > 255 else 255.0
        return np.clip(arr.astype(np.float32) / top, 0.0, 1.0)
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            raise InputError(f"{label}: image contains NaN or infinite values")
        if out.max(initial=0) > 1.0 + 1e-3:  # float data in 0..255
            out = out / 255.0
        return np.clip(out, 0.0, 1.0)
    raise InputError(f"{label}: unsupported pixel type {arr.dtype}")


def save_image(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB/RGBA/gray uint8 array atomically (format from the suffix)."""
    from talkrig.io.files import atomic_path

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr.astype(np.float32) * (255.0 if arr.max(initial=0) <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))


def resize_max_side(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side`` (area filter).

    Returns:
        ``(resized, scale)`` where ``scale`` multiplies resized pixel coordinates to get
        original ones (1.0 when nothing was done).
    """
    h, w = image.shape[:2]
    s = max(h, w) / float(max_side)
    if s <= 1.0:
        return image, 1.0
    nw, nh = max(1, round(w / s)), max(1, round(h / s))
    out = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BOX))
    return out, w / nw
