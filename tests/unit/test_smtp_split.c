/*
 * Segmentation must not matter (http-parser's test_scan): for every
 * golden case, cutting any one segment at any point, feeding one byte
 * at a time, and feeding from buffers that end at a PROT_NONE page
 * (picohttpparser) must all log what whole segments log.
 */
#include "smtp_testlib.h"

#include "check.h"

static void
check_case(const char *name, const struct gcase *g, struct guard *gd)
{
	struct evlog	 base = { 0 };
	struct feeder	 fd = { FEED_WHOLE, 0, 0, NULL, SP_E_OK };
	size_t		 s, cut, fails = 0;

	(void)run_case(g, &fd, &base, NULL);
	for (s = 0; s < g->nsegs; s++) {
		for (cut = 1; cut < g->segs[s].len && fails < 3; cut++) {
			struct evlog	l = { 0 };
			struct feeder	f2 = { FEED_SPLIT, s, cut, NULL,
					    SP_E_OK };

			(void)run_case(g, &f2, &l, NULL);
			if (strcmp(l.s, base.s) != 0) {
				fails++;
				CHECK_STREQ(l.s, base.s, "%s: segment %zu "
				    "cut at %zu", name, s, cut);
			} else {
				check_passed++;
			}
			evlog_free(&l);
		}
	}
	{
		struct evlog	l = { 0 };
		struct feeder	f3 = { FEED_BYTE, 0, 0, gd, SP_E_OK };

		(void)run_case(g, &f3, &l, NULL);
		CHECK_STREQ(l.s, base.s, "%s: one byte at a time, guarded",
		    name);
		evlog_free(&l);
	}
	{
		struct evlog	l = { 0 };
		struct feeder	f4 = { FEED_WHOLE, 0, 0, gd, SP_E_OK };

		(void)run_case(g, &f4, &l, NULL);
		CHECK_STREQ(l.s, base.s, "%s: whole segments, guarded", name);
		evlog_free(&l);
	}
	evlog_free(&base);
}

int
main(void)
{
	glob_t		gl = golden_cases();
	struct guard	gd;

	guard_init(&gd, 1 << 20);
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		struct gcase	*g = malloc(sizeof(*g));

		if (g == NULL || gcase_load(g, gl.gl_pathv[i]) != 0)
			tl_die(gl.gl_pathv[i]);
		check_case(gl.gl_pathv[i], g, &gd);
		gcase_free(g);
		free(g);
	}
	guard_free(&gd);
	globfree(&gl);
	return (check_done("test_smtp_split"));
}
