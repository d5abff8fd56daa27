// C shims over libjpeg-turbo and libpng for TransferKit's Datasets module.
//
// Both libraries report fatal errors by longjmp-ing out of a callback (libjpeg: `error_exit`; libpng:
// `png_error`), which Swift cannot catch: these functions own the setjmp and turn every failure into a status code
// plus a message, leaving no library state behind.
#ifndef TK_IMAGE_CODEC_H
#define TK_IMAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes of the decoders and the encoder.
enum {
    TKIC_OK = 0,
    /// The data is not a valid image of the format (message says why: libjpeg/libpng's own text, or truncation).
    TKIC_CORRUPT = 1,
    /// The header declares more pixels than `max_pixels` (header_width/header_height are set; nothing was allocated).
    TKIC_TOO_LARGE = 2,
    /// An allocation failed.
    TKIC_NO_MEMORY = 3,
    /// A valid file of a kind these shims do not convert to RGB (e.g. a JPEG with 2 components).
    TKIC_UNSUPPORTED = 4,
};

/// What the caller asks of a decode.
typedef struct {
    /// Largest accepted `header_width × header_height`, checked before any pixel buffer exists; ≤ 0 means no limit.
    int64_t max_pixels;
    /// JPEG only: the smallest decoded size the caller needs (0 = full size). libjpeg's DCT scaling picks the
    /// smallest `scale_num / 8` (1…8) whose output is at least this large in both directions. PNG ignores it.
    int32_t min_width;
    int32_t min_height;
} tkic_decode_options;

/// A decoded image. Free with `tkic_image_release`.
typedef struct {
    /// Decoded size (after JPEG DCT scaling).
    int32_t width;
    int32_t height;
    /// Size declared by the file's header.
    int32_t header_width;
    int32_t header_height;
    /// `width × height × 3` bytes, RGB interleaved, rows top to bottom.
    uint8_t *pixels;
    /// JPEG only: the colour space the file declares (libjpeg's J_COLOR_SPACE value).
    int32_t jpeg_color_space;
    /// PNG only: colour type and bit depth from IHDR.
    int32_t png_color_type;
    int32_t png_bit_depth;
} tkic_image;

/// Decodes a JPEG held in memory to 8-bit RGB through libjpeg-turbo (ISLOW IDCT, fancy upsampling: libjpeg's and
/// PIL's defaults). Greyscale is replicated to RGB; CMYK/YCCK is read as Adobe-inverted CMYK and converted like
/// PIL's `cmyk2rgb`. A premature end of data ("Premature end of JPEG file", a libjpeg warning) is an error, like
/// PIL's "image file is truncated"; other libjpeg warnings are ignored, as PIL ignores them.
/// `message` (may be NULL) receives a NUL-terminated reason on failure.
int tkic_decode_jpeg(const uint8_t *data, size_t size, const tkic_decode_options *options, tkic_image *out,
                     char *message, size_t message_size);

/// Decodes a PNG held in memory to 8-bit RGB through libpng: palette expanded, 1/2/4-bit grey expanded, 16-bit
/// reduced to the high byte (`png_set_strip_16`), alpha and tRNS dropped (`png_set_strip_alpha`), grey
/// replicated, interlacing resolved. gAMA/iCCP are not applied (PIL does not apply them either).
int tkic_decode_png(const uint8_t *data, size_t size, const tkic_decode_options *options, tkic_image *out,
                    char *message, size_t message_size);

/// Decodes a palette or 8-bit greyscale PNG (a segmentation mask) to one byte per pixel: the palette index, or the
/// grey value, never expanded to RGB (1/2/4-bit samples unpacked, 16-bit grey reduced to the high byte). Colour
/// and alpha PNGs are `TKIC_UNSUPPORTED`.
int tkic_decode_png_indices(const uint8_t *data, size_t size, const tkic_decode_options *options, tkic_image *out,
                            char *message, size_t message_size);

/// Frees what a decoder allocated in `image` and zeroes the pointers.
void tkic_image_release(tkic_image *image);

/// Encodes 8-bit RGB (`width × height × 3` bytes) as a PNG (zlib level 6, no filters chosen by hand: libpng's
/// adaptive default). On success `*out` is a malloc'd buffer of `*out_size` bytes; free it with `tkic_free`.
int tkic_encode_png_rgb(const uint8_t *rgb, int32_t width, int32_t height, uint8_t **out, size_t *out_size,
                        char *message, size_t message_size);

/// Encodes 8-bit RGB (`width × height × 3` bytes) as a baseline JPEG through libjpeg-turbo (4:2:0 chroma
/// subsampling, ISLOW DCT, standard tables scaled to `quality` 1…100). On success `*out` is a malloc'd buffer of
/// `*out_size` bytes; free it with `tkic_free`.
int tkic_encode_jpeg_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t quality, uint8_t **out,
                         size_t *out_size, char *message, size_t message_size);

void tkic_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
