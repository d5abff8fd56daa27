#!/usr/bin/env python3
"""Writes the image fixtures of Tests/DatasetsTests (run by hand; needs Pillow and NumPy).

    /root/tkvenv/bin/python tools/make_image_fixtures.py

Small synthetic images (gradients, a checkerboard of sharp edges, seeded noise) in each JPEG/PNG flavour the
decoder handles, the pixels PIL decodes from them (`Image.open(f).convert("RGB")`, EXIF-transposed for the
orientation set), and PIL's `Image.resize` of one source image with BILINEAR and BICUBIC, shrinking and enlarging.
Expected pixels are raw RGB bytes (`.rgb`, rows top to bottom) or, for the resize outputs, PNGs written by PIL;
float resize outputs are raw little-endian float32 (`.f32`). `manifest.json` lists every case with its size.
"""
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, ImageOps

OUT = Path(__file__).resolve().parent.parent / "Tests" / "DatasetsTests" / "Fixtures" / "images"


def synth(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([x * 255 / (w - 1), y * 255 / (h - 1), 128 + 100 * np.sin(x / 3.0 + y / 5.0)], -1)
    checker = ((x // 6 + y // 6) % 2 == 0)[..., None]
    img = np.where(checker, img * 0.6, img) + rng.normal(0, 12, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(array, color_type, bit_depth, interlace=False):
    """A PNG written by hand (PIL cannot write 16-bit RGB or interlaced PNGs). `array` is [H, W] or [H, W, C]."""
    h, w = array.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"

    def scanlines(a):
        a = a.astype(dtype)
        return b"".join(b"\x00" + a[y].tobytes() for y in range(a.shape[0]))

    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        data = b"".join(scanlines(array[y0::dy, x0::dx]) for x0, y0, dx, dy in passes
                        if array[y0::dy, x0::dx].size)
    else:
        data = scanlines(array)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(data, 9))
            + png_chunk(b"IEND", b""))


def pil_rgb(data, transpose=False):
    im = Image.open(io.BytesIO(data))
    if transpose:
        im = ImageOps.exif_transpose(im)
    return np.asarray(im.convert("RGB"))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    cases = []

    def add_decode(name, data, expected, note):
        (OUT / name).write_bytes(data)
        (OUT / (name + ".rgb")).write_bytes(np.ascontiguousarray(expected).tobytes())
        h, w = expected.shape[:2]
        cases.append({"kind": "decode", "file": name, "expected": name + ".rgb", "width": w, "height": h,
                      "note": note})

    def save(im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        return b.getvalue()

    # --- JPEG ---------------------------------------------------------------------------------------------------
    rgb = synth(32, 24, 1)
    im = Image.fromarray(rgb)
    data = save(im, "JPEG", quality=90)
    add_decode("ycc.jpg", data, pil_rgb(data), "baseline YCbCr 4:2:0, quality 90")
    # Reduced-size decode: asked for 16×12, PIL's draft() sets libjpeg's scale to 1/4 on this 64×48 JPEG, the
    # scale DecodeOptions.target picks too (2/8).
    big = Image.fromarray(synth(64, 48, 7))
    data = save(big, "JPEG", quality=90)
    (OUT / "draft.jpg").write_bytes(data)
    d = Image.open(io.BytesIO(data))
    d.draft("RGB", (16, 12))
    drafted = np.asarray(d.convert("RGB"))
    assert drafted.shape == (12, 16, 3), drafted.shape
    (OUT / "draft.jpg.16x12.rgb").write_bytes(drafted.tobytes())
    cases.append({"kind": "draft", "file": "draft.jpg", "expected": "draft.jpg.16x12.rgb", "width": 16,
                  "height": 12, "note": "DCT-scaled decode (scale 1/4), PIL Image.draft"})

    grey = synth(32, 24, 2)[..., 1]
    data = save(Image.fromarray(grey, "L"), "JPEG", quality=90)
    add_decode("grey.jpg", data, pil_rgb(data), "greyscale JPEG (1 component)")
    data = save(im.convert("CMYK"), "JPEG", quality=90)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    add_decode("cmyk.jpg", data, pil_rgb(data), "Adobe CMYK JPEG written by PIL")
    data = save(im, "JPEG", quality=85, progressive=True, subsampling=0)
    add_decode("progressive.jpg", data, pil_rgb(data), "progressive, 4:4:4")
    small = Image.fromarray(synth(12, 8, 3))
    for k in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = k
        data = save(small, "JPEG", quality=95, exif=exif.tobytes())
        add_decode(f"orient{k}.jpg", data, pil_rgb(data, transpose=True), f"EXIF orientation {k}, 12x8 stored")

    # --- PNG ----------------------------------------------------------------------------------------------------
    base = synth(24, 16, 4)
    data = save(Image.fromarray(base), "PNG")
    add_decode("rgb.png", data, base, "8-bit RGB")
    g8 = base[..., 0]
    data = save(Image.fromarray(g8, "L"), "PNG")
    add_decode("grey.png", data, np.repeat(g8[..., None], 3, -1), "8-bit greyscale")
    pal = Image.fromarray(base).quantize(colors=16)
    pal.info["transparency"] = 3
    data = save(pal, "PNG", transparency=3)
    assert b"tRNS" in data
    add_decode("palette.png", data, pil_rgb(data), "16-colour palette with tRNS (transparency dropped)")
    alpha = np.tile(np.linspace(0, 255, 24).astype(np.uint8), (16, 1))
    rgba = np.concatenate([base, alpha[..., None]], -1)
    data = save(Image.fromarray(rgba, "RGBA"), "PNG")
    add_decode("rgba.png", data, pil_rgb(data), "RGBA (alpha dropped like PIL convert('RGB'))")
    assert (pil_rgb(data) == base).all()
    la = np.stack([g8, alpha], -1)
    data = save(Image.fromarray(la, "LA"), "PNG")
    add_decode("grey_alpha.png", data, pil_rgb(data), "grey + alpha")
    rng = np.random.default_rng(5)
    rgb16 = (base.astype(np.uint16) << 8) | rng.integers(0, 256, base.shape, dtype=np.uint16)
    data = raw_png(rgb16, 2, 16)
    assert (pil_rgb(data) == (rgb16 >> 8)).all(), "PIL keeps the high byte of 16-bit RGB"
    add_decode("rgb16.png", data, (rgb16 >> 8).astype(np.uint8), "16-bit RGB (high byte, as PIL)")
    g16 = rgb16[..., 0]
    data = raw_png(g16, 0, 16)
    add_decode("grey16.png", data, np.repeat((g16 >> 8).astype(np.uint8)[..., None], 3, -1),
               "16-bit grey: high byte (PIL's I;16 -> RGB clips instead; not reproduced)")
    g1 = (g8 > 128).astype(np.uint8)
    data = save(Image.fromarray(g1 * 255, "L").convert("1"), "PNG")
    add_decode("bilevel.png", data, pil_rgb(data), "1-bit greyscale")
    data = raw_png(base, 2, 8, interlace=True)
    add_decode("interlaced.png", data, base, "Adam7-interlaced 8-bit RGB")
    assert (pil_rgb(data) == base).all()

    # --- Resize -------------------------------------------------------------------------------------------------
    src = synth(32, 24, 6)
    (OUT / "resize_src.rgb").write_bytes(src.tobytes())
    src_im = Image.fromarray(src)
    filters = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
    for fname, f in filters.items():
        for w, h in [(13, 9), (5, 4), (45, 34), (32, 10), (19, 24), (77, 7)]:
            out = src_im.resize((w, h), f)
            name = f"resize_{fname}_{w}x{h}.png"
            (OUT / name).write_bytes(save(out, "PNG", optimize=True))
            cases.append({"kind": "resize", "file": "resize_src.rgb", "source_width": 32, "source_height": 24,
                          "filter": fname, "expected": name, "width": w, "height": h,
                          "note": f"PIL Image.resize({w}x{h}, {fname.upper()})"})
    chan = Image.fromarray(src[:15, :20, 0].astype(np.float32) / 7.0, "F")
    (OUT / "resize_src_f.f32").write_bytes(np.asarray(chan, dtype="<f4").tobytes())
    for fname, f in filters.items():
        for w, h in [(9, 7), (29, 22)]:
            out = np.asarray(chan.resize((w, h), f), dtype="<f4")
            name = f"resize_f_{fname}_{w}x{h}.f32"
            (OUT / name).write_bytes(out.tobytes())
            cases.append({"kind": "resize_float", "file": "resize_src_f.f32", "source_width": 20,
                          "source_height": 15, "filter": fname, "expected": name, "width": w, "height": h,
                          "note": f"PIL mode F Image.resize({w}x{h}, {fname.upper()})"})

    lines = ",\n".join(json.dumps(c) for c in cases)
    (OUT / "manifest.json").write_text(
        f'{{"pillow": "{PIL.__version__}", "numpy": "{np.__version__}", "cases": [\n{lines}\n]}}\n')
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
