"""D-hash (difference hash) for reference retrieval, bit for bit equal to ``imagehash.dhash``.

The paper's step 1: gray image -> resize to 9x8 (PIL LANCZOS on 8-bit gray) -> bit = right pixel
brighter than its left neighbour -> 64 bits, row-major, first bit most significant (the order of
``int(str(imagehash.dhash(img)), 16)``). ``imagehash`` itself is only a test dependency.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from MedColorLib.errors import MedColorError

HASH_SIZE = 8
HASH_BITS = HASH_SIZE * HASH_SIZE


def dhash(image: Image.Image | np.ndarray) -> int:
    """64-bit difference hash of a PIL image, a uint8 array, a float array in [0, 1], gray or RGB(A)."""
    gray = to_pil(image).convert("L").resize((HASH_SIZE + 1, HASH_SIZE), Image.LANCZOS)
    pixels = np.asarray(gray)
    bits = (pixels[:, 1:] > pixels[:, :-1]).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes (XOR + popcount)."""
    return bin(int(a) ^ int(b)).count("1")


def hash_to_hex(value: int) -> str:
    """A hash as 16 lowercase hex digits (the form ``str(imagehash.dhash(...))`` prints)."""
    return f"{int(value):0{HASH_BITS // 4}x}"


def hex_to_hash(text: str) -> int:
    """16 hex digits -> hash; MedColorError when the text is not such a hash."""
    if not isinstance(text, str) or len(text) != HASH_BITS // 4:
        raise MedColorError(f"'{text}' is not a 64-bit D-hash (16 hex digits); re-index the library")
    try:
        return int(text, 16)
    except ValueError:
        raise MedColorError(f"'{text}' is not a 64-bit D-hash (16 hex digits); re-index the library") from None


def to_uint8(array: np.ndarray) -> np.ndarray:
    """uint8 as is; bool -> 0/255; float in [0, 1] -> round(x * 255). Anything else is an error."""
    arr = np.asarray(array)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if not np.issubdtype(arr.dtype, np.floating):
        raise MedColorError(
            f"cannot hash a {arr.dtype} image; give uint8 or float in [0, 1] (apply an intensity window first)")
    if arr.size == 0 or not np.isfinite(arr).all():
        raise MedColorError("cannot hash an image with NaN/Inf values or no pixels; clean the image first")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise MedColorError(
            f"float image values span {lo:g}..{hi:g}, not [0, 1]; rescale it (intensity window) before hashing")
    return np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8)


def to_pil(image: Image.Image | np.ndarray) -> Image.Image:
    """A PIL image from a PIL image or a (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array."""
    if isinstance(image, Image.Image):
        return image
    arr = to_uint8(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.size and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        return Image.fromarray(np.ascontiguousarray(arr))  # uint8: L, RGB or RGBA
    raise MedColorError(f"cannot hash an array of shape {arr.shape}; give a 2-D gray or (H, W, 3) RGB image")

