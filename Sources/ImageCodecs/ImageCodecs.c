#include "ImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

/// SIMCLR_DECODE_OK when a w x h image is within the limits, else why not (with a message).
static int check_limits(unsigned long w, unsigned long h, const simclr_decode_limits *limits, char *error,
                        size_t error_size) {
    if (w == 0 || h == 0) {
        snprintf(error, error_size, "the header says %lux%lu pixels", w, h);
        return SIMCLR_DECODE_ERROR;
    }
    unsigned long longer = w > h ? w : h, shorter = w > h ? h : w;
    // Both sides fit in 31 bits (PNG and JPEG headers), so the product fits in 64.
    if ((unsigned long long)w * h > (unsigned long long)limits->max_pixels) {
        snprintf(error, error_size, "%lux%lu is %llu pixels, more than the limit of %ld", w, h,
                 (unsigned long long)w * h, limits->max_pixels);
        return SIMCLR_DECODE_TOO_MANY_PIXELS;
    }
    if (limits->max_aspect_ratio > 0 && longer > (unsigned long)limits->max_aspect_ratio * shorter) {
        snprintf(error, error_size, "%lux%lu pixels: one side is more than %d times the other", w, h,
                 limits->max_aspect_ratio);
        return SIMCLR_DECODE_EXTREME_ASPECT;
    }
    return SIMCLR_DECODE_OK;
}

int simclr_decode_png(const unsigned char *data, size_t size, const simclr_decode_limits *limits,
                      unsigned char **pixels, int *width, int *height, char *error, size_t error_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(error, error_size, "%s", image.message);
        png_image_free(&image);
        return SIMCLR_DECODE_ERROR;
    }
    int allowed = check_limits(image.width, image.height, limits, error, error_size);
    if (allowed != SIMCLR_DECODE_OK) {
        *width = (int)image.width;
        *height = (int)image.height;
        png_image_free(&image);
        return allowed;
    }
    // RGBA, not RGB: with an RGB format libpng composites alpha onto a background; dropping it instead
    // is what PIL's convert("RGB") does. A 16-bit file is read as stored (libpng's 16-bit formats are
    // "linear": no gamma conversion, but colour premultiplied by alpha, undone here) and scaled to 8 bits.
    int sixteen = (image.format & PNG_FORMAT_FLAG_LINEAR) != 0;
    image.format = sixteen ? PNG_FORMAT_LINEAR_RGB_ALPHA : PNG_FORMAT_RGBA;
    size_t w = image.width, h = image.height;
    unsigned char *rgba = malloc(w * h * 4 * (sixteen ? 2 : 1));
    if (!rgba) {
        snprintf(error, error_size, "out of memory for %zux%zu pixels", w, h);
        png_image_free(&image);
        return SIMCLR_DECODE_ERROR;
    }
    if (!png_image_finish_read(&image, NULL, rgba, 0, NULL)) {
        snprintf(error, error_size, "%s", image.message);
        free(rgba);
        png_image_free(&image);
        return SIMCLR_DECODE_ERROR;
    }
    const unsigned short *wide = (const unsigned short *)rgba;
    for (size_t p = 0; p < w * h; p++) {
        for (int c = 0; c < 3; c++) {
            if (sixteen) {
                unsigned long a = wide[4 * p + 3], v = wide[4 * p + c];
                if (a > 0 && a < 65535) v = (v * 65535 + a / 2) / a;
                if (v > 65535) v = 65535;
                rgba[3 * p + c] = (unsigned char)((v * 255 + 32767) / 65535);
            } else {
                rgba[3 * p + c] = rgba[4 * p + c];
            }
        }
    }
    *pixels = rgba;
    *width = (int)w;
    *height = (int)h;
    return SIMCLR_DECODE_OK;
}

struct jpeg_errors {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    int warned;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_fail(j_common_ptr info) {
    struct jpeg_errors *errors = (struct jpeg_errors *)info->err;
    errors->manager.format_message(info, errors->message);
    longjmp(errors->jump, 1);
}

// Warnings (level -1) are corrupt or truncated data that libjpeg would paper over with gray: keep the first.
static void jpeg_message(j_common_ptr info, int level) {
    struct jpeg_errors *errors = (struct jpeg_errors *)info->err;
    if (level < 0 && !errors->warned) {
        errors->warned = 1;
        errors->manager.format_message(info, errors->message);
    }
}

int simclr_decode_jpeg(const unsigned char *data, size_t size, const simclr_decode_limits *limits,
                       unsigned char **pixels, int *width, int *height, char *error, size_t error_size) {
    struct jpeg_decompress_struct info;
    struct jpeg_errors errors;
    unsigned char *volatile out = NULL;
    memset(&errors, 0, sizeof errors);
    info.err = jpeg_std_error(&errors.manager);
    errors.manager.error_exit = jpeg_fail;
    errors.manager.emit_message = jpeg_message;
    if (setjmp(errors.jump)) {
        jpeg_destroy_decompress(&info);
        free(out);
        snprintf(error, error_size, "%s", errors.message);
        return SIMCLR_DECODE_ERROR;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&info);
        snprintf(error, error_size, "CMYK JPEG images are not supported (convert to RGB)");
        return SIMCLR_DECODE_ERROR;
    }
    int allowed = check_limits(info.image_width, info.image_height, limits, error, error_size);
    if (allowed != SIMCLR_DECODE_OK) {
        *width = (int)info.image_width;
        *height = (int)info.image_height;
        jpeg_destroy_decompress(&info);
        return allowed;
    }
    // DCT scaling: the largest reduction (1/8, 1/4, 1/2) that keeps the shorter side long enough.
    unsigned long shorter = info.image_width < info.image_height ? info.image_width : info.image_height;
    info.scale_num = 1;
    info.scale_denom = 1;
    for (unsigned denom = 8; denom > 1 && limits->min_shorter_side > 0; denom /= 2) {
        if ((shorter + denom - 1) / denom >= (unsigned long)limits->min_shorter_side) {
            info.scale_denom = denom;
            break;
        }
    }
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    size_t w = info.output_width, h = info.output_height;
    out = malloc(w * h * 3);
    if (!out) {
        jpeg_destroy_decompress(&info);
        snprintf(error, error_size, "out of memory for %zux%zu pixels", w, h);
        return SIMCLR_DECODE_ERROR;
    }
    while (info.output_scanline < info.output_height) {
        JSAMPROW row = out + (size_t)info.output_scanline * w * 3;
        jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    if (errors.warned) {
        free(out);
        snprintf(error, error_size, "%s", errors.message);
        return SIMCLR_DECODE_ERROR;
    }
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    return SIMCLR_DECODE_OK;
}

void simclr_free_pixels(unsigned char *pixels) { free(pixels); }
