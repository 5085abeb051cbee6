/*
 * MIME parser unit tests: byte-exact attachments (sha256 of the decoded
 * bytes equals the original's), gaps, URLs across chunks and their
 * limit, callback aborts, API misuse, field classification, outer
 * versus encapsulated headers, and a failmalloc sweep.
 */
#include "internal.h"
#include "smtpproto/hash.h"

#include "check.h"
#include "mime_log.h"

/* The bytes make_cases.py's lcg_bytes() makes. */
static void
lcg_fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed;

	for (size_t i = 0; i < n; i++) {
		x = (x * 1103515245u + 12345u) & 0x7fffffffu;
		p[i] = (uint8_t)(x >> 16);
	}
}

/* Base64 with line breaks every 76 characters (RFC 2045 6.8). */
static size_t
b64_encode(const uint8_t *in, size_t n, char *out)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t	 k = 0, col = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[k++] = t[v >> 18 & 63];
		out[k++] = t[v >> 12 & 63];
		out[k++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[k++] = i + 2 < n ? t[v & 63] : '=';
		if ((col += 4) == 76 && i + 3 < n) {
			out[k++] = '\r';
			out[k++] = '\n';
			col = 0;
		}
	}
	return (k);
}

/* A collector: the decoded bytes of one path, hashed, plus counters. */
struct coll {
	const char	*want_path;
	sp_hash		*h;
	uint64_t	 bytes;
	unsigned	 parts, urls, anomalies[SP_ANOM__COUNT];
	char		 outer_from[128], outer_subject[128];
	char		 last_url[256];
	struct sp_mime_part last_end;
	char		 end_path[64];
	int		 abort_on_begin;
};

static int
c_header(void *ud, const struct sp_mime_header *h)
{
	struct coll	*c = ud;
	char		*dst = NULL;

	/* What a session layer keeps: the outer message's fields only. */
	if (h->depth != 0 || h->msg_level != 0)
		return (0);
	if (h->field == SP_MIME_F_FROM)
		dst = c->outer_from;
	else if (h->field == SP_MIME_F_SUBJECT)
		dst = c->outer_subject;
	if (dst != NULL)
		snprintf(dst, 128, "%.*s", (int)h->decoded_len,
		    (const char *)h->decoded);
	return (0);
}

static int
c_begin(void *ud, const struct sp_mime_part *p)
{
	struct coll	*c = ud;

	(void)p;
	c->parts++;
	return (c->abort_on_begin != 0 && c->parts >= (unsigned)c->abort_on_begin);
}

static int
c_data(void *ud, const struct sp_mime_part *p, const uint8_t *b, size_t n)
{
	struct coll	*c = ud;

	if (c->want_path != NULL && strcmp(p->path, c->want_path) == 0) {
		sp_hash_update(c->h, b, n);
		c->bytes += n;
	}
	return (0);
}

static int
c_end(void *ud, const struct sp_mime_part *p)
{
	struct coll	*c = ud;

	if (c->want_path != NULL && strcmp(p->path, c->want_path) == 0) {
		c->last_end = *p;
		snprintf(c->end_path, sizeof(c->end_path), "%s", p->path);
	}
	return (0);
}

static int
c_url(void *ud, const struct sp_mime_url *u)
{
	struct coll	*c = ud;

	c->urls++;
	snprintf(c->last_url, sizeof(c->last_url), "%.*s", (int)u->len,
	    (const char *)u->url);
	return (0);
}

static int
c_anomaly(void *ud, const struct sp_mime_anomaly *a)
{
	struct coll	*c = ud;

	c->anomalies[a->code]++;
	return (0);
}

static const struct sp_mime_callbacks c_cb = {
	c_header, c_begin, c_data, c_end, c_url, c_anomaly
};

static void
coll_init(struct coll *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->want_path = path;
	if (sp_hash_new(&c->h, SP_HASH_SHA256) != SP_E_OK)
		abort();
}

static const char *mixed_head =
    "From: a@example.org\r\nSubject: bin\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"=_Q\"\r\n\r\n"
    "--=_Q\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
    "--=_Q\r\nContent-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=x.bin\r\n\r\n";

/* Build a message with n random bytes attached; returns its length. */
static uint8_t *
make_attached(size_t n, uint8_t **orig, size_t *len)
{
	size_t	 hl = strlen(mixed_head);
	uint8_t	*msg = malloc(hl + n * 2 + 64);
	size_t	 k;

	*orig = malloc(n + 1);
	lcg_fill(*orig, n, 12345);
	memcpy(msg, mixed_head, hl);
	k = hl + b64_encode(*orig, n, (char *)msg + hl);
	memcpy(msg + k, "\r\n--=_Q--\r\n", 11);
	*len = k + 11;
	return (msg);
}

static void
test_attachment_sha256(size_t n, size_t chunk)
{
	struct coll	 c;
	sp_mime_parser	*m;
	uint8_t		*orig, *msg, md[SP_HASH_MAX_LEN];
	char		 want[SP_HASH_MAX_HEX], got[SP_HASH_MAX_HEX];
	size_t		 len;

	msg = make_attached(n, &orig, &len);
	CHECK_EQ(sp_hash_hex(SP_HASH_SHA256, orig, n, want), SP_E_OK);
	coll_init(&c, "2");
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &c_cb, &c), SP_E_OK);
	for (size_t off = 0; off < len; off += chunk)
		CHECK_EQ(sp_mime_parser_feed(m, msg + off,
		    SP_MIN(chunk, len - off)), SP_E_OK);
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	sp_hash_final(c.h, md, got);
	CHECK_STREQ(got, want, "attachment of %zu bytes, chunks of %zu", n,
	    chunk);
	CHECK_EQ(c.bytes, (uint64_t)n);
	CHECK_EQ(c.last_end.decoded_size, (uint64_t)n);
	CHECK(c.last_end.complete);
	CHECK_EQ(c.anomalies[SP_ANOM_MIME_BAD_BASE64], 0u);
	sp_mime_parser_free(m);
	sp_hash_free(c.h);
	free(msg);
	free(orig);
}

/*
 * Parse tests/golden/mime/NAME (at most 8 KiB) whole into c, which
 * coll_init() has set up.  Returns 0 when the file cannot be read.
 */
static int
parse_golden(const char *name, struct coll *c)
{
	char		 path[256];
	uint8_t		 buf[8192];
	sp_mime_parser	*m;
	FILE		*f;
	size_t		 n;

	snprintf(path, sizeof(path), "tests/golden/mime/%s", name);
	f = fopen(path, "rb");
	CHECK(f != NULL, "%s", path);
	if (f == NULL)
		return (0);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &c_cb, c), SP_E_OK);
	CHECK_EQ(sp_mime_parser_feed(m, buf, n), SP_E_OK);
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	sp_mime_parser_free(m);
	return (1);
}

/* The golden 02 case: its attachment equals make_cases.py's bytes. */
static void
test_golden_attachment(void)
{
	uint8_t		 orig[3000], md[SP_HASH_MAX_LEN];
	char		 want[SP_HASH_MAX_HEX], got[SP_HASH_MAX_HEX];
	struct coll	 c;

	lcg_fill(orig, sizeof(orig), 12345);
	sp_hash_hex(SP_HASH_SHA256, orig, sizeof(orig), want);
	coll_init(&c, "2");
	if (parse_golden("02_mixed_base64.eml", &c)) {
		sp_hash_final(c.h, md, got);
		CHECK_STREQ(got, want, "golden 02 attachment");
	}
	sp_hash_free(c.h);
}

/* A gap inside part 1: it is incomplete, the boundary after it holds. */
static void
test_gap(void)
{
	const char *a = "Content-Type: multipart/mixed; boundary=g\r\n\r\n"
	    "--g\r\nContent-Type: text/plain\r\n\r\nfirst line\r\nsecond";
	const char *b = " line rest\r\nthird line\r\n--g\r\n"
	    "Content-Type: text/plain\r\n\r\nafter\r\n--g--\r\n";
	struct mlog	 l;
	sp_mime_parser	*m;

	mlog_init(&l);
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &mlog_cb, &l), SP_E_OK);
	CHECK_EQ(sp_mime_parser_feed(m, (const uint8_t *)a, strlen(a)),
	    SP_E_OK);
	CHECK_EQ(sp_mime_parser_gap(m, 100), SP_E_OK);
	CHECK_EQ(sp_mime_parser_feed(m, (const uint8_t *)b, strlen(b)),
	    SP_E_OK);
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	CHECK_EQ(sp_mime_parser_offset(m), strlen(a) + 100 + strlen(b));
	CHECK(strstr(l.text, "D 1 first line\\r\\nsecond line rest\\r\\nthird line\n")
	    != NULL, "%s", l.text);
	CHECK(strstr(l.text, "E 1 raw=") != NULL &&
	    strstr(l.text, " missing=100 incomplete") != NULL, "%s", l.text);
	CHECK(strstr(l.text, "D 2 after\nE 2 raw=5 dec=5 complete") != NULL,
	    "%s", l.text);
	CHECK(strstr(l.text, "E  raw=") != NULL &&
	    strstr(l.text, "missing=100 incomplete\n") != NULL, "%s", l.text);
	sp_mime_parser_free(m);
	mlog_free(&l);

	/* A gap in a header block: the part is still reported. */
	mlog_init(&l);
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &mlog_cb, &l), SP_E_OK);
	CHECK_EQ(sp_mime_parser_feed(m, (const uint8_t *)"Subject: a", 10),
	    SP_E_OK);
	CHECK_EQ(sp_mime_parser_gap(m, 5), SP_E_OK);
	CHECK_EQ(sp_mime_parser_feed(m, (const uint8_t *)"xx\r\nTo: b\r\n\r\nbody",
	    17), SP_E_OK);
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	CHECK(strstr(l.text, "H  d0 m0 M #0 To: b [To]\n") != NULL, "%s",
	    l.text);
	CHECK(strstr(l.text, "D  body\n") != NULL, "%s", l.text);
	sp_mime_parser_free(m);
	mlog_free(&l);
}

static void
feed_text(sp_mime_parser *m, const char *s)
{
	CHECK_EQ(sp_mime_parser_feed(m, (const uint8_t *)s, strlen(s)),
	    SP_E_OK);
}

static void
test_urls(void)
{
	struct sp_limits lim;
	struct coll	 c;
	sp_mime_parser	*m;

	coll_init(&c, NULL);
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &c_cb, &c), SP_E_OK);
	feed_text(m, "Content-Type: text/plain\r\n\r\nsee http://exa");
	feed_text(m, "mple.org/a");
	feed_text(m, "/b now\r\n");
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	CHECK_EQ(c.urls, 1u);
	CHECK_STREQ(c.last_url, "http://example.org/a/b");
	sp_mime_parser_free(m);
	sp_hash_free(c.h);

	/* Bounded by max_urls; attachments are not scanned. */
	sp_limits_default(&lim);
	lim.max_urls = 2;
	coll_init(&c, NULL);
	CHECK_EQ(sp_mime_parser_new(&m, &lim, &c_cb, &c), SP_E_OK);
	feed_text(m, "\r\nhttp://a.example/ http://b.example/ "
	    "http://c.example/\r\n");
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	CHECK_EQ(c.urls, 2u);
	sp_mime_parser_free(m);
	sp_hash_free(c.h);

	coll_init(&c, NULL);
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &c_cb, &c), SP_E_OK);
	feed_text(m, "Content-Type: application/pdf\r\n\r\nhttp://a.example/\r\n");
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	CHECK_EQ(c.urls, 0u);
	sp_mime_parser_free(m);
	sp_hash_free(c.h);
}

/* The outer From/Subject survive an attached message's own. */
static void
test_outer_headers(void)
{
	struct coll	 c;

	coll_init(&c, NULL);
	if (parse_golden("05_rfc822_attached.eml", &c)) {
		CHECK_STREQ(c.outer_from, "Alice <alice@example.org>");
		CHECK_STREQ(c.outer_subject, "Fwd: inner");
	}
	sp_hash_free(c.h);
}

/* Small limits: a field name longer than the field cap, a bare CR. */
static void
test_small_limits(void)
{
	struct sp_limits lim;
	char		 msg[256];
	char		*log;
	size_t		 n;

	sp_limits_default(&lim);
	lim.max_header_line = 16;
	n = (size_t)snprintf(msg, sizeof(msg), "%s: v\r\nSubject: x\rBcc: "
	    "evil@example.org\r\n\r\nbody\r\n",
	    "X-A-Very-Long-Field-Name-Indeed");
	log = mlog_run(&lim, (const uint8_t *)msg, n, NULL, 0, NULL);
	CHECK(strstr(log, "H  d0 m0 M #0 X-A-Very-Long-Fi:  (truncated)\n") !=
	    NULL, "%s", log);
	CHECK(strstr(log, "A mime_bare_lf @46 \n") != NULL, "%s", log);
	CHECK(strstr(log, "D  body\\r\\n\n") != NULL, "%s", log);
	free(log);
}

/* A gap in base64: decoding resumes at the next line, quanta aligned. */
static void
test_gap_base64(void)
{
	const char *a = "Content-Transfer-Encoding: base64\r\n\r\n"
	    "SGVsbG8g\r\nd29";
	const char *b = "ybGQh\r\nIQ==\r\n";
	struct mlog	 l;
	sp_mime_parser	*m;

	mlog_init(&l);
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &mlog_cb, &l), SP_E_OK);
	feed_text(m, a);
	CHECK_EQ(sp_mime_parser_gap(m, 3), SP_E_OK);
	feed_text(m, b);
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	CHECK(strstr(l.text, "D  Hello !\n") != NULL, "%s", l.text);
	CHECK(strstr(l.text, "A mime_bad") == NULL, "%s", l.text);
	sp_mime_parser_free(m);
	mlog_free(&l);
}

static void
test_api(void)
{
	struct sp_limits lim;
	struct coll	 c;
	sp_mime_parser	*m = NULL;

	CHECK_EQ(sp_mime_parser_new(NULL, NULL, &c_cb, NULL), SP_E_INVAL);
	CHECK_EQ(sp_mime_parser_new(&m, NULL, NULL, NULL), SP_E_INVAL);
	sp_limits_default(&lim);
	lim.max_mime_depth = 100000;
	CHECK_EQ(sp_mime_parser_new(&m, &lim, &c_cb, NULL), SP_E_INVAL);
	CHECK(m == NULL);
	sp_mime_parser_free(NULL);

	/* A callback abort is sticky. */
	coll_init(&c, NULL);
	c.abort_on_begin = 1;
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &c_cb, &c), SP_E_OK);
	CHECK_EQ(sp_mime_parser_feed(m, (const uint8_t *)"A: b\r\n\r\n", 8),
	    SP_E_CALLBACK);
	CHECK_EQ(sp_mime_parser_feed(m, (const uint8_t *)"x", 1),
	    SP_E_CALLBACK);
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_CALLBACK);
	sp_mime_parser_free(m);
	sp_hash_free(c.h);

	coll_init(&c, NULL);
	CHECK_EQ(sp_mime_parser_new(&m, NULL, &c_cb, &c), SP_E_OK);
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_OK);
	CHECK_EQ(c.parts, 1u);			/* an empty message */
	CHECK_EQ(sp_mime_parser_feed(m, (const uint8_t *)"x", 1), SP_E_STATE);
	CHECK_EQ(sp_mime_parser_gap(m, 1), SP_E_STATE);
	CHECK_EQ(sp_mime_parser_finish(m), SP_E_STATE);
	sp_mime_parser_free(m);
	sp_hash_free(c.h);
}

static void
test_fields_and_words(void)
{
	char	out[64];
	size_t	n;

	CHECK_EQ(sp_mime_field_id((const uint8_t *)"message-id", 10),
	    SP_MIME_F_MESSAGE_ID);
	CHECK_EQ(sp_mime_field_id((const uint8_t *)"X-ORIGINATING-IP", 16),
	    SP_MIME_F_X_ORIGINATING_IP);
	CHECK_EQ(sp_mime_field_id((const uint8_t *)"From ", 5),
	    SP_MIME_F_OTHER);
	CHECK_STREQ(sp_mime_field_name(SP_MIME_F_REPLY_TO), "Reply-To");
	CHECK_EQ(sp_mime_decode_words((const uint8_t *)
	    "=?utf-8?q?a?= =?utf-8?q?b?=  c", 30, out, sizeof(out), &n),
	    SP_E_OK);
	CHECK_STREQ(out, "ab  c");
	/* Cut on a character boundary: "é" does not fit in 2 bytes + NUL. */
	CHECK_EQ(sp_mime_decode_words((const uint8_t *)"a=?utf-8?B?w6k=?=",
	    17, out, 3, &n), SP_E_OK);
	CHECK_STREQ(out, "a");
	CHECK_EQ(sp_mime_decode_words((const uint8_t *)"=?bogus-cs?q?x?=",
	    16, out, sizeof(out), &n), SP_E_FORMAT);
	CHECK_STREQ(out, "x");
}

int
main(void)
{
	test_attachment_sha256(3000, 1 << 20);
	test_attachment_sha256(3000, 7);
	test_attachment_sha256(1 << 20, 65536);
	test_attachment_sha256(100001, 1000);
	test_golden_attachment();
	test_gap();
	test_urls();
	test_outer_headers();
	test_small_limits();
	test_gap_base64();
	test_api();
	test_fields_and_words();
	return (check_done("test_mime_unit"));
}
