/*
 * sp_smtp_parser_reset() and sp_mime_parser_reset(): a parser that
 * already parsed something -- a whole golden case, or half of one, so
 * that it is reset in the middle of a line, a reply, DATA or a MIME
 * part -- must then log exactly what a new parser logs.  The analyzer
 * reuses parsers this way from session to session and message to
 * message.
 */
#include <glob.h>

#include "smtp_testlib.h"
#include "mime_log.h"

#include "check.h"

/*
 * Feed case g into p (options set): its first nsegs segments, and of
 * the next one its first half, so that p is left inside a line.
 */
static void
feed_case(sp_smtp_parser *p, const struct gcase *g, size_t nsegs)
{
	struct feeder	fd = { FEED_WHOLE, 0, 0, NULL, SP_E_OK };
	sp_err		e = sp_smtp_parser_set_options(p, &g->opt);
	size_t		used;

	for (size_t i = 0; i < nsegs && i < g->nsegs && e == SP_E_OK; i++)
		e = feed_seg(p, &fd, &g->segs[i], i);
	if (e == SP_E_OK && nsegs < g->nsegs && g->segs[nsegs].dir >= 0)
		(void)sp_smtp_parser_feed(p, (enum sp_dir)g->segs[nsegs].dir,
		    (sp_ts)nsegs * 1000, g->segs[nsegs].p,
		    g->segs[nsegs].len / 2, &used);
}

/* Case b on a parser that first took (part of) case a, then a reset. */
static void
smtp_reused(const struct gcase *a, size_t asegs, const struct gcase *b,
    const char *want, const char *name)
{
	struct evlog	 la = { 0 }, lb = { 0 };
	struct feeder	 fd = { FEED_WHOLE, 0, 0, NULL, SP_E_OK };
	sp_smtp_parser	*p;
	sp_err		 e;

	if (sp_smtp_parser_new(&p, &b->lim, &log_callbacks, &la) != SP_E_OK)
		tl_die("sp_smtp_parser_new");
	feed_case(p, a, asegs);
	sp_smtp_parser_reset(p, &lb);
	e = sp_smtp_parser_set_options(p, &b->opt);
	for (size_t i = 0; i < b->nsegs && e == SP_E_OK; i++)
		e = feed_seg(p, &fd, &b->segs[i], i);
	if (e == SP_E_OK)
		e = sp_smtp_parser_finish(p, (sp_ts)b->nsegs * 1000);
	if (e != SP_E_OK)
		evf(&lb, "error %s\n", sp_errname(e));
	log_flush_data(&lb);
	CHECK_STREQ(lb.s, want, "%s", name);
	sp_smtp_parser_free(p);
	evlog_free(&la);
	evlog_free(&lb);
}

static void
test_smtp(void)
{
	glob_t		 g = golden_cases();
	struct gcase	*cs = calloc(g.gl_pathc, sizeof(*cs));

	if (cs == NULL)
		tl_die("out of memory");
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (gcase_load(&cs[i], g.gl_pathv[i]) != 0)
			tl_die(g.gl_pathv[i]);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const struct gcase *a = &cs[(i + 1) % g.gl_pathc], *b = &cs[i];
		struct evlog	 want = { 0 };
		struct feeder	 fd = { FEED_WHOLE, 0, 0, NULL, SP_E_OK };

		/* Golden cases share limits; b's are the ones in force. */
		(void)run_case(b, &fd, &want, NULL);
		for (size_t k = 0; k <= a->nsegs; k++)
			smtp_reused(a, k, b, want.s, g.gl_pathv[i]);
		evlog_free(&want);
	}
	for (size_t i = 0; i < g.gl_pathc; i++)
		gcase_free(&cs[i]);
	free(cs);
	globfree(&g);
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	char	*t = read_text(path);

	if (t == NULL)
		tl_die(path);
	*len = strlen(t);
	return ((uint8_t *)t);
}

/* Message b on a MIME parser that first took (part of) message a. */
static void
mime_reused(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const char *name)
{
	struct mlog	 la, lb;
	sp_mime_parser	*m;
	char		*want = mlog_run(NULL, b, blen, NULL, 0, NULL);
	sp_err		 e;

	mlog_init(&la);
	mlog_init(&lb);
	if (sp_mime_parser_new(&m, NULL, &mlog_cb, &la) != SP_E_OK)
		tl_die("sp_mime_parser_new");
	(void)sp_mime_parser_feed(m, a, alen);
	sp_mime_parser_reset(m, &lb);
	e = sp_mime_parser_feed(m, b, blen);
	if (e == SP_E_OK)
		e = sp_mime_parser_finish(m);
	CHECK_EQ(e, SP_E_OK, "%s", name);
	CHECK_STREQ(lb.text, want, "%s", name);
	sp_mime_parser_free(m);
	mlog_free(&la);
	mlog_free(&lb);
	free(want);
}

static void
test_mime(void)
{
	glob_t	g;

	if (glob("tests/golden/mime/*.eml", 0, NULL, &g) != 0)
		tl_die("no tests/golden/mime/*.eml");
	for (size_t i = 0; i < g.gl_pathc; i++) {
		size_t	 alen, blen;
		uint8_t	*a = slurp(g.gl_pathv[(i + 1) % g.gl_pathc], &alen);
		uint8_t	*b = slurp(g.gl_pathv[i], &blen);

		/* Cut in the header block, the body, and whole. */
		for (size_t cut = 0; cut < alen; cut += 37)
			mime_reused(a, cut, b, blen, g.gl_pathv[i]);
		mime_reused(a, alen, b, blen, g.gl_pathv[i]);
		free(a);
		free(b);
	}
	globfree(&g);
}

int
main(void)
{
	test_smtp();
	test_mime();
	return (check_done("test_reset"));
}
