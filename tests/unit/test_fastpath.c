/*
 * The decoders' fast paths against plain models: random inputs, mostly
 * of the common shape the fast paths take (whole lines of base64) with
 * the odd byte that sends them to the careful path, decoded whole, cut
 * at every split point and fed one byte at a time.  Every reading must
 * equal what a per-byte model written here from RFC 2045 6.8 gives.
 * The DATA scanner (eight bytes a step) is compared the same way with
 * its one-byte reading: bodies with random line ends, NULs and dots.
 */
#include <stdlib.h>

#include "internal.h"
#include "mime_int.h"
#include "smtp_testlib.h"

#include "check.h"

#define MAXIN	600

static uint32_t
rnd(uint32_t *x)
{
	*x = *x * 1103515245u + 12345u;
	return (*x >> 8);
}

/* --- base64 ------------------------------------------------------ */

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The model: one character at a time, as RFC 2045 6.8 reads them. */
struct b64_model {
	uint32_t	acc;
	unsigned	n;
};

static int
b64_value(uint8_t c)
{
	const char	*p = c != 0 ? strchr(b64_alpha, c) : NULL;

	return (p != NULL ? (int)(p - b64_alpha) : -1);
}

static size_t
model_close(struct b64_model *s, uint8_t *out)
{
	size_t	k = 0;

	if (s->n == 2)
		out[k++] = (uint8_t)(s->acc >> 4);
	if (s->n == 3) {
		out[k++] = (uint8_t)(s->acc >> 10);
		out[k++] = (uint8_t)(s->acc >> 2);
	}
	s->acc = 0;
	s->n = 0;
	return (k);
}

/* Same contract as sp__b64_run(). */
static size_t
model_run(struct b64_model *s, const uint8_t *in, size_t n, uint8_t *out,
    size_t *bad)
{
	size_t	k = 0;

	*bad = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		int	v = b64_value(in[i]);
		bool	ws = in[i] == ' ' || in[i] == '\t' || in[i] == '\r' ||
		    in[i] == '\n';

		if (v >= 0) {
			s->acc = s->acc << 6 | (uint32_t)v;
			if (++s->n == 4) {
				out[k++] = (uint8_t)(s->acc >> 16);
				out[k++] = (uint8_t)(s->acc >> 8);
				out[k++] = (uint8_t)s->acc;
				s->acc = 0;
				s->n = 0;
			}
			continue;
		}
		if (in[i] == '=' && s->n == 1 && *bad == SIZE_MAX)
			*bad = i;
		if (in[i] == '=')
			k += model_close(s, out + k);
		else if (!ws && *bad == SIZE_MAX)
			*bad = i;
	}
	return (k);
}

/* Lines of base64, with now and then a blank, '=', CR, LF or garbage. */
static size_t
b64_input(uint8_t *p, size_t max, uint32_t *x, unsigned noise)
{
	size_t	n = rnd(x) % max;

	for (size_t i = 0; i < n; i++) {
		uint32_t r = rnd(x);

		if (i % 78 == 76)
			p[i] = '\r';
		else if (i % 78 == 77)
			p[i] = '\n';
		else if (noise > 0 && r % 1000 < noise)
			p[i] = (uint8_t)(r >> 12);	/* any byte */
		else
			p[i] = (uint8_t)b64_alpha[r % 64];
	}
	return (n);
}

/*
 * Decode in runs cut at the given points (the caller's order), with
 * the library and with the model; the outputs and the first bad byte
 * of each run must agree.
 */
static void
b64_compare(const uint8_t *in, size_t n, const size_t *cut, size_t ncut)
{
	static uint8_t	 got[MAXIN * 2], want[MAXIN * 2];
	struct sp__b64	 s = { 0 };
	struct b64_model ms = { 0 };
	size_t		 gk = 0, wk = 0, from = 0, gb, wb;
	bool		 ge, we;

	for (size_t c = 0; c <= ncut; c++) {
		size_t	to = c < ncut ? cut[c] : n;

		gk += sp__b64_run(&s, in + from, to - from, got + gk, &gb);
		wk += model_run(&ms, in + from, to - from, want + wk, &wb);
		CHECK_EQ(gb, wb, "bad byte in run %zu..%zu", from, to);
		from = to;
	}
	gk += sp__b64_end(&s, got + gk, &ge);
	we = ms.n == 1;
	wk += model_close(&ms, want + wk);
	CHECK_EQ(ge, we);
	CHECK(gk == wk && memcmp(got, want, gk) == 0, "n %zu cuts %zu", n,
	    ncut);
}

static void
test_b64(void)
{
	static uint8_t	in[MAXIN];
	static size_t	ones[MAXIN];
	uint32_t	x = 7;

	for (unsigned round = 0; round < 400; round++) {
		size_t	n = b64_input(in, MAXIN, &x, round % 4 == 0 ? 0 :
		    round % 20);

		b64_compare(in, n, NULL, 0);
		for (size_t cut = 0; cut <= n; cut++)
			b64_compare(in, n, &cut, 1);
		for (size_t i = 0; i + 1 < n; i++)
			ones[i] = i + 1;
		if (n > 1)
			b64_compare(in, n, ones, n - 1);
	}
}

/* --- DATA ------------------------------------------------------- */

static void
seg_text(struct gcase *g, int dir, const char *t)
{
	struct seg	*s = &g->segs[g->nsegs++];

	s->dir = dir;
	seg_add(s, t, strlen(t), 1);
}

/* Mostly text lines; now and then CR, LF, NUL, a dot or a blank. */
static void
data_body(struct seg *s, uint32_t *x)
{
	size_t	n = rnd(x) % MAXIN;

	s->dir = SP_DIR_CLIENT;
	s->p = malloc(n + 8);
	if (s->p == NULL)
		tl_die("out of memory");
	for (size_t i = 0; i < n; i++) {
		uint32_t r = rnd(x) % 200;

		s->p[i] = r < 6 ? (uint8_t)"\r\n\0. \n"[r] :
		    (uint8_t)('a' + r % 26);
		if (r >= 6 && r < 12)		/* a CRLF line end */
			s->p[i] = i % 2 == 0 ? '\r' : '\n';
	}
	memcpy(s->p + n, "\r\n.\r\n", 5);
	s->len = n + 5;
}

/* One DATA transaction with a random body, logged whole, cut, bytewise. */
static void
data_case(uint32_t *x)
{
	struct gcase	*g = calloc(1, sizeof(*g));
	struct evlog	 base = { 0 };
	struct feeder	 whole = { FEED_WHOLE, 0, 0, NULL, SP_E_OK };
	struct feeder	 bytes = { FEED_BYTE, 0, 0, NULL, SP_E_OK };
	static const char *const talk[] = { "220 mx ESMTP", "EHLO a",
	    "250 mx", "MAIL FROM:<a@b>", "250 ok", "RCPT TO:<c@d>", "250 ok",
	    "DATA", "354 go" };

	if (g == NULL)
		tl_die("out of memory");
	sp_limits_default(&g->lim);
	for (size_t i = 0; i < SP_NELEM(talk); i++)
		seg_text(g, i % 2 == 0 ? SP_DIR_SERVER : SP_DIR_CLIENT, talk[i]);
	data_body(&g->segs[g->nsegs++], x);
	seg_text(g, SP_DIR_SERVER, "250 queued");
	(void)run_case(g, &whole, &base, NULL);
	for (size_t cut = 1; cut < g->segs[9].len; cut++) {
		struct evlog	l = { 0 };
		struct feeder	f = { FEED_SPLIT, 9, cut, NULL, SP_E_OK };

		(void)run_case(g, &f, &l, NULL);
		CHECK_STREQ(l.s, base.s, "cut at %zu", cut);
		evlog_free(&l);
	}
	{
		struct evlog	l = { 0 };

		(void)run_case(g, &bytes, &l, NULL);
		CHECK_STREQ(l.s, base.s, "one byte at a time");
		evlog_free(&l);
	}
	evlog_free(&base);
	gcase_free(g);
	free(g);
}

static void
test_data(void)
{
	uint32_t	x = 11;

	for (int round = 0; round < 150; round++)
		data_case(&x);
}

int
main(void)
{
	test_b64();
	test_data();
	return (check_done("test_fastpath"));
}
