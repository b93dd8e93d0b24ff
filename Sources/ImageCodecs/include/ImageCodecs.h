// PNG and JPEG decoding to 8-bit RGB with the system's libpng and libjpeg(-turbo). The libraries report
// errors by longjmp, which Swift cannot catch; these wrappers do it in C and return a message instead.
#ifndef SIMCLR_IMAGE_CODECS_H
#define SIMCLR_IMAGE_CODECS_H
#include <stddef.h>

/// Images above this many pixels are refused before their pixels are allocated.
#define SIMCLR_MAX_IMAGE_PIXELS (1L << 28)

/// Decodes a PNG (any bit depth and colour type: gray, palette, alpha and 16-bit converted; alpha dropped)
/// or a JPEG (gray or YCbCr) in memory to interleaved RGB rows. On success returns 1 and sets *pixels
/// (3 * width * height bytes, release with simclr_free_pixels), *width and *height; on failure returns 0
/// and writes a message to error.
int simclr_decode_png(const unsigned char *data, size_t size, unsigned char **pixels, int *width, int *height,
                      char *error, size_t error_size);
int simclr_decode_jpeg(const unsigned char *data, size_t size, unsigned char **pixels, int *width, int *height,
                       char *error, size_t error_size);
void simclr_free_pixels(unsigned char *pixels);

#endif
