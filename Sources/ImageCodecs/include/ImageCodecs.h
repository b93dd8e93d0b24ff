// PNG and JPEG decoding to 8-bit RGB with the system's libpng and libjpeg(-turbo). The libraries report
// errors by longjmp, which Swift cannot catch; these wrappers do it in C and return a message instead.
#ifndef SIMCLR_IMAGE_CODECS_H
#define SIMCLR_IMAGE_CODECS_H
#include <stddef.h>

/// What a decoder may do with an image, checked from its header before any pixel is allocated.
typedef struct {
    /// Images with more pixels (width x height as the header claims) are refused.
    long max_pixels;
    /// Images whose longer side is more than this many times the shorter are refused (0: no limit).
    int max_aspect_ratio;
    /// JPEG only: decode at 1/2, 1/4 or 1/8 of the size (libjpeg's DCT scaling, no full-size pixels are made)
    /// as long as the shorter side stays at least this long (0: full size).
    int min_shorter_side;
} simclr_decode_limits;

/// Results of the decoders: decoded; not decodable (the message says why); refused by max_pixels or by
/// max_aspect_ratio (width and height are set to the header's).
#define SIMCLR_DECODE_OK 1
#define SIMCLR_DECODE_ERROR 0
#define SIMCLR_DECODE_TOO_MANY_PIXELS (-1)
#define SIMCLR_DECODE_EXTREME_ASPECT (-2)

/// Decodes a PNG (any bit depth and colour type: gray, palette, alpha and 16-bit converted; alpha dropped)
/// or a JPEG (gray or YCbCr) in memory to interleaved RGB rows, within `limits`. On success returns
/// SIMCLR_DECODE_OK and sets *pixels (3 * width * height bytes, release with simclr_free_pixels), *width and
/// *height (of the decoded, possibly scaled, image); else one of the other results, with a message in error.
/// Peak memory: 4 bytes per pixel for 8-bit PNGs, 8 for 16-bit ones, 3 for JPEGs (of the scaled image).
int simclr_decode_png(const unsigned char *data, size_t size, const simclr_decode_limits *limits,
                      unsigned char **pixels, int *width, int *height, char *error, size_t error_size);
int simclr_decode_jpeg(const unsigned char *data, size_t size, const simclr_decode_limits *limits,
                       unsigned char **pixels, int *width, int *height, char *error, size_t error_size);
void simclr_free_pixels(unsigned char *pixels);

#endif
