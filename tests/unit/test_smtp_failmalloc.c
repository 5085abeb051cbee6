/*
 * Failmalloc sweep (nghttp2): for every golden case, fail the 1st,
 * 2nd, ... allocation in turn.  Each run must end with SP_E_OK and the
 * normal log, or with SP_E_NOMEM; never crash, and never leak.
 */
#include "smtp_testlib.h"

#include "check.h"
#include "failalloc.h"

static void
sweep(const char *name, const struct gcase *g)
{
	struct evlog		 base = { 0 };
	struct feeder		 fd = { FEED_WHOLE, 0, 0, NULL, SP_E_OK };
	struct failalloc	 fa;
	struct sp_limits	 lim = g->lim;
	long			 n;

	(void)run_case(g, &fd, &base, NULL);
	lim.alloc = &fa.al;
	for (n = 0; n < 10000; n++) {
		struct evlog	l = { 0 };
		sp_err		e;

		failalloc_init(&fa, n + 1, false);
		e = run_case(g, &fd, &l, &lim);
		CHECK(e == SP_E_OK || e == SP_E_NOMEM, "%s: fail #%ld: %s",
		    name, n, sp_errname(e));
		CHECK_EQ(fa.live, 0L, "%s: fail #%ld leaks %ld blocks", name,
		    n, fa.live);
		if (e == SP_E_OK)
			CHECK_STREQ(l.s, base.s, "%s: fail #%ld", name, n);
		evlog_free(&l);
		if (!fa.failed)
			break;			/* every allocation was tried */
	}
	CHECK(n < 10000, "%s: sweep did not end", name);
	evlog_free(&base);
}

int
main(void)
{
	glob_t	gl = golden_cases();

	for (size_t i = 0; i < gl.gl_pathc; i++) {
		struct gcase	*g = malloc(sizeof(*g));

		if (g == NULL || gcase_load(g, gl.gl_pathv[i]) != 0)
			tl_die(gl.gl_pathv[i]);
		sweep(gl.gl_pathv[i], g);
		gcase_free(g);
		free(g);
	}
	globfree(&gl);
	return (check_done("test_smtp_failmalloc"));
}
