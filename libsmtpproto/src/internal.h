/*
 * internal.h - helpers shared by the library's sources; not installed.
 * Non-static internal functions are named sp__ (libuv's convention).
 */
#ifndef SP_INTERNAL_H
#define SP_INTERNAL_H

#include <stdlib.h>
#include <string.h>

#include "smtpproto/smtpproto.h"

/* Invariants: abort in debug builds, vanish with NDEBUG. */
#ifdef NDEBUG
#define SP_ASSERT(x)	((void)0)
#else
#define SP_ASSERT(x)	((x) ? (void)0 : sp__assert_fail(#x, __FILE__, __LINE__))
#endif

/*
 * Defensive checks for conditions that cannot happen (SQLite): the
 * code handles them anyway, and debug builds stop to say so.
 */
#define SP_ALWAYS(x)	((x) ? 1 : (SP_ASSERT(0 && #x), 0))
#define SP_NEVER(x)	((x) ? (SP_ASSERT(0 && #x), 1) : 0)

#define SP_MIN(a, b)	((a) < (b) ? (a) : (b))
#define SP_MAX(a, b)	((a) > (b) ? (a) : (b))
#define SP_NELEM(a)	(sizeof(a) / sizeof((a)[0]))

void	sp__assert_fail(const char *expr, const char *file, int line);

/* Allocation through an optional sp_allocator (NULL: libc). */
void	*sp__malloc(const struct sp_allocator *a, size_t n);
void	*sp__calloc(const struct sp_allocator *a, size_t nmemb, size_t size);
void	*sp__realloc(const struct sp_allocator *a, void *p, size_t n);
void	 sp__free(const struct sp_allocator *a, void *p);

/*
 * A growable byte buffer that carries its maximum from creation (curl
 * dynbuf): appending past max fails with SP_E_LIMIT, so no caller can
 * forget the bound.
 */
struct sp_buf {
	uint8_t			*p;
	size_t			 len;
	size_t			 cap;	/* allocated */
	size_t			 max;	/* never grows past this */
	const struct sp_allocator *alloc;
};

void	sp__buf_init(struct sp_buf *b, size_t max, const struct sp_allocator *a);
void	sp__buf_free(struct sp_buf *b);
sp_err	sp__buf_append(struct sp_buf *b, const void *p, size_t n);
sp_err	sp__buf_reserve(struct sp_buf *b, size_t n);
void	sp__buf_reset(struct sp_buf *b);

/* Big-endian loads; callers have already checked the bounds. */
static inline uint16_t
sp__be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
sp__be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

#endif /* SP_INTERNAL_H */
