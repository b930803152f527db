/* liborm codegen internal — codegen's size cap on the library's string buffer (orm/sbuf.h).
 *
 * Every text codegen builds (schema inputs read whole, joined expressions, the emitted .h
 * and .c) is an orm__sbuf made with ORM__CG_SBUF_INIT, so it refuses to grow past the cap
 * (ORM_EINVAL) instead of eating memory on a runaway input.
 */
#ifndef ORM_CODEGEN_BUF_H
#define ORM_CODEGEN_BUF_H

#include "orm/sbuf.h"

/* Generated files and schema inputs above this are refused: no real schema comes close. */
#define ORM_CG_BUF_MAX ((size_t)256 * 1024 * 1024)

#define ORM__CG_SBUF_INIT { NULL, 0, 0, ORM_CG_BUF_MAX, 0 }

#endif
