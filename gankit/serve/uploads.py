"""Uploaded images, checked before they are decoded: a size limit in bytes, the type read from the content
(never from the file name), a pixel limit read from the header (a decompression bomb is refused before its
pixels are allocated), and a damaged or truncated file refused with its reason."""

import io

from fastapi import HTTPException

from ..style.images import as_tensor, to_rgb_array

MAX_BYTES = 8 * 2**20
MAX_PIXELS = 4096 * 4096
MAX_SIDE = 512               # what the network sees: larger uploads are scaled down to this longer side
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")


def decode_image(data: bytes, what: str, max_side: int = MAX_SIDE):
    """Uploaded bytes -> [1, 3, H, W] in [0, 1], or an HTTP 4xx naming what is wrong."""
    from PIL import Image

    if not data:
        raise HTTPException(400, f"{what}: the upload is empty")
    if len(data) > MAX_BYTES:
        raise HTTPException(413, f"{what}: {len(data)} bytes is more than the limit of {MAX_BYTES} bytes")
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as e:
        raise HTTPException(413, f"{what}: too many pixels ({str(e)[:80]})") from None
    except Exception:
        raise HTTPException(415, f"{what}: not an image (its content is none of {', '.join(FORMATS)})") from None
    if img.format not in FORMATS:
        raise HTTPException(415, f"{what}: {img.format} images are not taken; send one of {', '.join(FORMATS)}")
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise HTTPException(413, f"{what}: {width}x{height} pixels is more than the limit of {MAX_PIXELS} pixels")
    try:
        img.load()
        array = to_rgb_array(img)
    except Exception as e:  # Pillow raises many types for damaged files
        reason = (str(e).splitlines() or [type(e).__name__])[0]
        raise HTTPException(400, f"{what}: damaged or truncated image ({reason[:100]})") from None
    return as_tensor(array, max_side, what)
