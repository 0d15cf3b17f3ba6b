#ifndef CEVENTBASE_ZLIB_SHIM_H
#define CEVENTBASE_ZLIB_SHIM_H

#include <zlib.h>

// zlib's init functions are macros (they pass ZLIB_VERSION and the stream's size), which Swift
// cannot import; these wrappers make them callable.

static inline int CEventbaseZlib_deflateInit2(z_streamp stream, int level, int method, int windowBits,
                                              int memLevel, int strategy) {
    return deflateInit2(stream, level, method, windowBits, memLevel, strategy);
}

static inline int CEventbaseZlib_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

#endif
