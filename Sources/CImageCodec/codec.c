// libjpeg-turbo / libpng shims: every setjmp lives here, so Swift only ever sees status codes.
#include "CImageCodec.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

static void tk_set_message(char *message, size_t message_size, const char *text) {
    if (message == NULL || message_size == 0) return;
    snprintf(message, message_size, "%s", text);
}

void tkic_free(void *pointer) { free(pointer); }

void tkic_image_release(tkic_image *image) {
    if (image == NULL) return;
    free(image->pixels);
    image->pixels = NULL;
}

/// `a × b × c` bytes, or 0 when it overflows size_t.
static size_t tk_mul3(size_t a, size_t b, size_t c) {
    if (a == 0 || b == 0 || c == 0) return 0;
    if (a > SIZE_MAX / b) return 0;
    size_t ab = a * b;
    if (ab > SIZE_MAX / c) return 0;
    return ab * c;
}

// MARK: - JPEG

struct tk_jpeg_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *message;
    size_t message_size;
    int status;
};

static void tk_jpeg_fail(j_common_ptr cinfo, int status) {
    struct tk_jpeg_error *err = (struct tk_jpeg_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    tk_set_message(err->message, err->message_size, buffer);
    err->status = status;
    longjmp(err->jump, 1);
}

static void tk_jpeg_error_exit(j_common_ptr cinfo) {
    int code = cinfo->err->msg_code;
    int status = code == JERR_OUT_OF_MEMORY ? TKIC_NO_MEMORY
               : code == JERR_BAD_PRECISION ? TKIC_UNSUPPORTED  // 12/16-bit samples: an 8-bit libjpeg build
                                            : TKIC_CORRUPT;
    tk_jpeg_fail(cinfo, status);
}

/// Warnings (level −1) are ignored except a premature end of data, which libjpeg papers over with a fake EOI
/// marker and grey rows; treating it as an error matches PIL, which raises "image file is truncated".
static void tk_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) tk_jpeg_fail(cinfo, TKIC_CORRUPT);
        cinfo->err->num_warnings++;
    }
}

static void tk_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static inline uint8_t tk_muldiv255(unsigned a, unsigned b) {
    // PIL's MULDIV255: round(a * b / 255) without a division.
    unsigned t = a * b + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

int tkic_decode_jpeg(const uint8_t *data, size_t size, const tkic_decode_options *options, tkic_image *out,
                     char *message, size_t message_size) {
    memset(out, 0, sizeof(*out));
    tk_set_message(message, message_size, "");
    struct jpeg_decompress_struct cinfo;
    struct tk_jpeg_error err;
    memset(&cinfo, 0, sizeof(cinfo));
    memset(&err, 0, sizeof(err));
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile cmyk_row = NULL;

    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = tk_jpeg_error_exit;
    err.pub.emit_message = tk_jpeg_emit_message;
    err.pub.output_message = tk_jpeg_output_message;
    err.message = message;
    err.message_size = message_size;
    err.status = TKIC_CORRUPT;

    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(cmyk_row);
        out->pixels = NULL;
        return err.status;
    }
    if (size == 0) {
        tk_set_message(message, message_size, "empty data");
        return TKIC_CORRUPT;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    out->header_width = (int32_t)cinfo.image_width;
    out->header_height = (int32_t)cinfo.image_height;
    out->jpeg_color_space = (int32_t)cinfo.jpeg_color_space;
    int64_t declared = (int64_t)cinfo.image_width * (int64_t)cinfo.image_height;
    if (options != NULL && options->max_pixels > 0 && declared > options->max_pixels) {
        char buffer[160];
        snprintf(buffer, sizeof buffer, "header declares %ux%u = %lld pixels, above the limit of %lld",
                 cinfo.image_width, cinfo.image_height, (long long)declared, (long long)options->max_pixels);
        tk_set_message(message, message_size, buffer);
        jpeg_destroy_decompress(&cinfo);
        return TKIC_TOO_LARGE;
    }

    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default: {
        char buffer[120];
        snprintf(buffer, sizeof buffer, "JPEG colour space %d with %d components is not supported",
                 (int)cinfo.jpeg_color_space, cinfo.num_components);
        tk_set_message(message, message_size, buffer);
        jpeg_destroy_decompress(&cinfo);
        return TKIC_UNSUPPORTED;
    }
    }

    if (options != NULL && (options->min_width > 0 || options->min_height > 0)) {
        for (unsigned num = 1; num <= 8; num++) {
            cinfo.scale_num = num;
            cinfo.scale_denom = 8;
            jpeg_calc_output_dimensions(&cinfo);
            if ((int64_t)cinfo.output_width >= options->min_width &&
                (int64_t)cinfo.output_height >= options->min_height)
                break;
        }
    }

    jpeg_start_decompress(&cinfo);
    size_t width = cinfo.output_width, height = cinfo.output_height;
    size_t total = tk_mul3(width, height, 3);
    if (total == 0) {
        tk_set_message(message, message_size, "decoded size is zero or overflows");
        jpeg_destroy_decompress(&cinfo);
        return TKIC_CORRUPT;
    }
    if ((cmyk && cinfo.output_components != 4) || (!cmyk && cinfo.output_components != 3)) {
        tk_set_message(message, message_size, "unexpected number of output components");
        jpeg_destroy_decompress(&cinfo);
        return TKIC_UNSUPPORTED;
    }
    pixels = (uint8_t *)malloc(total);
    if (pixels == NULL) {
        tk_set_message(message, message_size, "out of memory for the pixel buffer");
        jpeg_destroy_decompress(&cinfo);
        return TKIC_NO_MEMORY;
    }
    if (cmyk) {
        cmyk_row = (uint8_t *)malloc(width * 4);
        if (cmyk_row == NULL) {
            free(pixels);
            tk_set_message(message, message_size, "out of memory for a row buffer");
            jpeg_destroy_decompress(&cinfo);
            return TKIC_NO_MEMORY;
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        uint8_t *dst = pixels + y * width * 3;
        if (!cmyk) {
            JSAMPROW row = dst;
            jpeg_read_scanlines(&cinfo, &row, 1);
        } else {
            JSAMPROW row = cmyk_row;
            jpeg_read_scanlines(&cinfo, &row, 1);
            // libjpeg delivers Adobe-inverted CMYK (c' = 255 − C); PIL reads it with rawmode "CMYK;I" and its
            // cmyk2rgb computes R = (255 − K) − round(C × (255 − K) / 255), i.e. from the stored values
            // R = k' − round((255 − c') × k' / 255).
            const uint8_t *src = cmyk_row;
            for (size_t x = 0; x < width; x++) {
                unsigned k = src[3];
                dst[0] = (uint8_t)(k - tk_muldiv255(255u - src[0], k));
                dst[1] = (uint8_t)(k - tk_muldiv255(255u - src[1], k));
                dst[2] = (uint8_t)(k - tk_muldiv255(255u - src[2], k));
                src += 4;
                dst += 3;
            }
        }
    }

    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->pixels = pixels;
    free(cmyk_row);
    // jpeg_finish_decompress is skipped on purpose: every row has been read, and trailing garbage or a missing EOI
    // marker after the last scan must not turn a complete image into an error (PIL does not check them either).
    jpeg_destroy_decompress(&cinfo);
    return TKIC_OK;
}

// MARK: - PNG

struct tk_png_context {
    const uint8_t *data;
    size_t size;
    size_t position;
    char *message;
    size_t message_size;
    int status;
    jmp_buf jump;
};

static void tk_png_error(png_structp png, png_const_charp text) {
    struct tk_png_context *ctx = (struct tk_png_context *)png_get_error_ptr(png);
    tk_set_message(ctx->message, ctx->message_size, text);
    if (ctx->status == TKIC_OK) ctx->status = TKIC_CORRUPT;
    png_longjmp(png, 1);
}

static void tk_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void tk_png_read(png_structp png, png_bytep out, size_t count) {
    struct tk_png_context *ctx = (struct tk_png_context *)png_get_io_ptr(png);
    if (ctx->size - ctx->position < count) {
        png_error(png, "unexpected end of data (truncated file)");
    }
    memcpy(out, ctx->data + ctx->position, count);
    ctx->position += count;
}

/// The PNG decoder behind `tkic_decode_png` (`indexed == 0`: RGB8) and `tkic_decode_png_indices` (`indexed != 0`:
/// one byte per pixel, the palette index or the grey value).
static int tk_decode_png(const uint8_t *data, size_t size, const tkic_decode_options *options, tkic_image *out,
                         char *message, size_t message_size, int indexed) {
    memset(out, 0, sizeof(*out));
    tk_set_message(message, message_size, "");
    struct tk_png_context ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.data = data;
    ctx.size = size;
    ctx.message = message;
    ctx.message_size = message_size;
    ctx.status = TKIC_OK;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, tk_png_error, tk_png_warning);
    if (png == NULL) {
        tk_set_message(message, message_size, "png_create_read_struct failed");
        return TKIC_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        tk_set_message(message, message_size, "png_create_info_struct failed");
        return TKIC_NO_MEMORY;
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        out->pixels = NULL;
        return ctx.status == TKIC_OK ? TKIC_CORRUPT : ctx.status;
    }
    png_set_read_fn(png, &ctx, tk_png_read);
    // The pixel limit below is ours; lift libpng's own 1,000,000-per-side default so both agree on what is "large".
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    out->header_width = (int32_t)width;
    out->header_height = (int32_t)height;
    out->png_color_type = color_type;
    out->png_bit_depth = bit_depth;
    int64_t declared = (int64_t)width * (int64_t)height;
    if (options != NULL && options->max_pixels > 0 && declared > options->max_pixels) {
        char buffer[160];
        snprintf(buffer, sizeof buffer, "header declares %ux%u = %lld pixels, above the limit of %lld",
                 (unsigned)width, (unsigned)height, (long long)declared, (long long)options->max_pixels);
        tk_set_message(message, message_size, buffer);
        png_destroy_read_struct(&png, &info, NULL);
        return TKIC_TOO_LARGE;
    }

    int channels = indexed ? 1 : 3;
    if (indexed) {
        if (color_type != PNG_COLOR_TYPE_PALETTE && color_type != PNG_COLOR_TYPE_GRAY) {
            tk_set_message(message, message_size, "a mask must be a palette or greyscale PNG without alpha");
            png_destroy_read_struct(&png, &info, NULL);
            return TKIC_UNSUPPORTED;
        }
        // Indices stay indices: 1/2/4-bit samples are unpacked to one byte each, never scaled or expanded.
        if (bit_depth < 8) png_set_packing(png);
        if (bit_depth == 16) png_set_strip_16(png);
    } else {
        if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
        if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        if (bit_depth == 16) png_set_strip_16(png);
        // Alpha is dropped, not composited: PIL's Image.convert("RGB") from RGBA/LA/P+transparency drops it too.
        if ((color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
        if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t row_bytes = png_get_rowbytes(png, info);
    if (row_bytes != (size_t)width * channels || png_get_channels(png, info) != channels ||
        png_get_bit_depth(png, info) != 8) {
        char buffer[120];
        snprintf(buffer, sizeof buffer, "libpng produced %zu bytes per row for width %u (expected RGB8)", row_bytes,
                 (unsigned)width);
        tk_set_message(message, message_size, buffer);
        ctx.status = TKIC_UNSUPPORTED;
        png_destroy_read_struct(&png, &info, NULL);
        return TKIC_UNSUPPORTED;
    }
    size_t total = tk_mul3(width, height, (size_t)channels);
    if (total == 0) {
        tk_set_message(message, message_size, "image size is zero or overflows");
        png_destroy_read_struct(&png, &info, NULL);
        return TKIC_CORRUPT;
    }
    pixels = (uint8_t *)malloc(total);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (pixels == NULL || rows == NULL) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        tk_set_message(message, message_size, "out of memory for the pixel buffer");
        return TKIC_NO_MEMORY;
    }
    for (size_t y = 0; y < height; y++) rows[y] = pixels + y * row_bytes;
    png_read_image(png, rows);
    // png_read_end is skipped on purpose: every row is in, and a missing IEND or trailing bytes must not turn a
    // complete image into an error.
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->width = (int32_t)width;
    out->height = (int32_t)height;
    out->pixels = pixels;
    return TKIC_OK;
}

int tkic_decode_png(const uint8_t *data, size_t size, const tkic_decode_options *options, tkic_image *out,
                    char *message, size_t message_size) {
    return tk_decode_png(data, size, options, out, message, message_size, 0);
}

int tkic_decode_png_indices(const uint8_t *data, size_t size, const tkic_decode_options *options, tkic_image *out,
                            char *message, size_t message_size) {
    return tk_decode_png(data, size, options, out, message, message_size, 1);
}

// MARK: - PNG encoding

struct tk_png_sink {
    uint8_t *data;
    size_t size;
    size_t capacity;
    int failed;
    char *message;
    size_t message_size;
};

static void tk_png_write(png_structp png, png_bytep bytes, size_t count) {
    struct tk_png_sink *sink = (struct tk_png_sink *)png_get_io_ptr(png);
    if (sink->size + count > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 4096;
        while (capacity < sink->size + count) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(sink->data, capacity);
        if (grown == NULL) {
            sink->failed = 1;
            png_error(png, "out of memory for the PNG output buffer");
        }
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, count);
    sink->size += count;
}

static void tk_png_flush(png_structp png) { (void)png; }

static void tk_png_write_error(png_structp png, png_const_charp text) {
    struct tk_png_sink *sink = (struct tk_png_sink *)png_get_error_ptr(png);
    tk_set_message(sink->message, sink->message_size, text);
    png_longjmp(png, 1);
}

int tkic_encode_png_rgb(const uint8_t *rgb, int32_t width, int32_t height, uint8_t **out, size_t *out_size,
                        char *message, size_t message_size) {
    *out = NULL;
    *out_size = 0;
    tk_set_message(message, message_size, "");
    if (width <= 0 || height <= 0) {
        tk_set_message(message, message_size, "width and height must be positive");
        return TKIC_CORRUPT;
    }
    struct tk_png_sink sink;
    memset(&sink, 0, sizeof(sink));
    sink.message = message;
    sink.message_size = message_size;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, tk_png_write_error, tk_png_warning);
    if (png == NULL) return TKIC_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return TKIC_NO_MEMORY;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(sink.data);
        return sink.failed ? TKIC_NO_MEMORY : TKIC_CORRUPT;
    }
    png_set_write_fn(png, &sink, tk_png_write, tk_png_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (rows == NULL) {
        sink.failed = 1;
        png_error(png, "out of memory for row pointers");
    }
    for (size_t y = 0; y < (size_t)height; y++) rows[y] = (png_bytep)(rgb + y * (size_t)width * 3);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    *out = sink.data;
    *out_size = sink.size;
    return TKIC_OK;
}

// MARK: - JPEG encoding

/// A libjpeg destination that grows a malloc'd buffer (owned here, so an error path can free it exactly once).
struct tk_jpeg_sink {
    struct jpeg_destination_mgr pub;
    uint8_t *data;
    size_t capacity;
    size_t size;
};

static void tk_jpeg_sink_init(j_compress_ptr cinfo) {
    struct tk_jpeg_sink *sink = (struct tk_jpeg_sink *)cinfo->dest;
    sink->capacity = 65536;
    sink->data = (uint8_t *)malloc(sink->capacity);
    if (sink->data == NULL) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    sink->pub.next_output_byte = sink->data;
    sink->pub.free_in_buffer = sink->capacity;
}

/// Called with the whole buffer full: double it.
static boolean tk_jpeg_sink_empty(j_compress_ptr cinfo) {
    struct tk_jpeg_sink *sink = (struct tk_jpeg_sink *)cinfo->dest;
    size_t used = sink->capacity;
    uint8_t *grown = (uint8_t *)realloc(sink->data, sink->capacity * 2);
    if (grown == NULL) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 1);
    sink->data = grown;
    sink->capacity *= 2;
    sink->pub.next_output_byte = sink->data + used;
    sink->pub.free_in_buffer = sink->capacity - used;
    return TRUE;
}

static void tk_jpeg_sink_term(j_compress_ptr cinfo) {
    struct tk_jpeg_sink *sink = (struct tk_jpeg_sink *)cinfo->dest;
    sink->size = sink->capacity - sink->pub.free_in_buffer;
}

int tkic_encode_jpeg_rgb(const uint8_t *rgb, int32_t width, int32_t height, int32_t quality, uint8_t **out,
                         size_t *out_size, char *message, size_t message_size) {
    *out = NULL;
    *out_size = 0;
    tk_set_message(message, message_size, "");
    if (width <= 0 || height <= 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        tk_set_message(message, message_size, "width and height must be in 1...65500");
        return TKIC_CORRUPT;
    }
    struct jpeg_compress_struct cinfo;
    struct tk_jpeg_error jerr;
    struct tk_jpeg_sink sink;
    memset(&jerr, 0, sizeof(jerr));
    memset(&sink, 0, sizeof(sink));
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = tk_jpeg_error_exit;
    jerr.pub.output_message = tk_jpeg_output_message;
    jerr.message = message;
    jerr.message_size = message_size;
    jerr.status = TKIC_CORRUPT;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(sink.data);
        return jerr.status;
    }
    jpeg_create_compress(&cinfo);
    sink.pub.init_destination = tk_jpeg_sink_init;
    sink.pub.empty_output_buffer = tk_jpeg_sink_empty;
    sink.pub.term_destination = tk_jpeg_sink_term;
    cinfo.dest = &sink.pub;
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = sink.data;
    *out_size = sink.size;
    return TKIC_OK;
}
