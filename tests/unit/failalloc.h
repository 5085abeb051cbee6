/*
 * failalloc.h - a failing allocator for failmalloc sweeps (nghttp2):
 * run a scenario once with the Nth allocation failing, for N = 1, 2,
 * ... until a run in which no allocation failed.
 *
 *	struct failalloc	fa;
 *	struct sp_limits	lim;
 *
 *	for (long n = 1; ; n++) {
 *		failalloc_init(&fa, n, false);
 *		lim.alloc = &fa.al;
 *		... run, check the result and fa.live == 0 ...
 *		if (!fa.failed)
 *			break;		(every allocation has been failed)
 *	}
 *
 * Semantics, which the sweeps rely on:
 *  - Every malloc and realloc call counts as one allocation in calls,
 *    the one that is failed included; realloc with a NULL block is an
 *    allocation like malloc.  free is not counted.
 *  - The allocation whose number (counting from 1) is fail_at returns
 *    NULL; fail_at 0 fails none.  With sticky set, every allocation
 *    after it fails too (a heap that stays exhausted); otherwise they
 *    succeed again (a transient failure the code must recover from).
 *  - failed is set when an allocation was failed, so a run with
 *    failed still false had fewer than fail_at allocations.
 *  - live counts blocks that were handed out and not yet freed: a
 *    successful malloc or realloc of NULL adds one, free of a
 *    non-NULL block takes one.  A realloc that fails leaves its block
 *    live, as the C library does.  live != 0 after the handle under
 *    test is freed is a leak (or a double free, when negative).
 *
 * al.ud points at the struct itself: do not copy a failalloc after
 * failalloc_init(), pass &fa.al.
 */
#ifndef SP_FAILALLOC_H
#define SP_FAILALLOC_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "smtpproto/common.h"

struct failalloc {
	struct sp_allocator	al;	/* give &al to sp_limits.alloc */
	long			fail_at;	/* 1-based; 0: never fail */
	bool			sticky;	/* fail every call after too */
	long			calls;	/* malloc + realloc calls so far */
	long			live;	/* blocks not yet freed */
	bool			failed;	/* an allocation was failed */
};

/* Counts the call; true when this one is to fail. */
static inline bool
failalloc_fail(struct failalloc *fa)
{
	fa->calls++;
	if (fa->fail_at == 0 || fa->calls < fa->fail_at)
		return (false);
	if (fa->calls > fa->fail_at && !fa->sticky)
		return (false);
	fa->failed = true;
	return (true);
}

static inline void *
failalloc_malloc(size_t n, void *ud)
{
	struct failalloc	*fa = ud;
	void			*p;

	if (failalloc_fail(fa))
		return (NULL);
	if ((p = malloc(n)) != NULL)
		fa->live++;
	return (p);
}

static inline void *
failalloc_realloc(void *old, size_t n, void *ud)
{
	struct failalloc	*fa = ud;
	void			*p;

	if (failalloc_fail(fa))
		return (NULL);
	if ((p = realloc(old, n)) != NULL && old == NULL)
		fa->live++;
	return (p);
}

static inline void
failalloc_free(void *p, void *ud)
{
	struct failalloc	*fa = ud;

	if (p != NULL)
		fa->live--;
	free(p);
}

/*
 * Resets every counter and arms the allocator to fail allocation
 * number fail_at (1-based; 0: none), and every one after it when
 * sticky is set.
 */
static inline void
failalloc_init(struct failalloc *fa, long fail_at, bool sticky)
{
	memset(fa, 0, sizeof(*fa));
	fa->al.malloc = failalloc_malloc;
	fa->al.realloc = failalloc_realloc;
	fa->al.free = failalloc_free;
	fa->al.ud = fa;
	fa->fail_at = fail_at;
	fa->sticky = sticky;
}

#endif /* SP_FAILALLOC_H */
