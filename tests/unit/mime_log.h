/*
 * mime_log.h - turn sp_mime_parser events into a compact text log, the
 * format of the .ref files in tests/golden/mime:
 *
 *   H <path> d<depth> m<msg_level> [M] #<index> <Name>: <value>
 *       [=> <decoded>]                         one per field; M marks
 *                                              a message header block
 *   B <path> <type>/<subtype> <kind> cte=<cte> [charset=] [disp=]
 *       [filename="..."] [boundary="..."] @<offset>
 *   D <path> <decoded bytes, first 160, bytes over 0x7f escaped too>
 *   U <path> <url>                             (gathered, at part end)
 *   E <path> raw=N dec=N [pre=N epi=N] [missing=N] complete|incomplete
 *       sha256=<first 16 hex digits of the decoded bytes>
 *   A <anomaly name> @<offset> <path> [detail]
 *
 * Data and URL events are gathered per part and printed when it ends,
 * so the log does not depend on how the input was cut into chunks.
 */
#ifndef SP_MIME_LOG_H
#define SP_MIME_LOG_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpproto/smtpproto.h"

struct mlog {
	char	*text;
	size_t	 len, cap;
	uint8_t	*data;			/* decoded bytes of the open leaf */
	size_t	 dlen, dcap;
	char	*urls;
	size_t	 ulen, ucap;
	sp_hash	*h;
	int	 fail_cb;		/* abort from this many events on */
};

static void
mlog_grow(char **p, size_t *len, size_t *cap, const void *src, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = (*cap + n + 1) * 2;
		char *np = realloc(*p, ncap);

		if (np == NULL)
			abort();
		*p = np;
		*cap = ncap;
	}
	memcpy(*p + *len, src, n);
	*len += n;
	(*p)[*len] = '\0';
}

static void
mlog_printf(struct mlog *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mlog_printf(struct mlog *l, const char *fmt, ...)
{
	char	buf[4096];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	mlog_grow(&l->text, &l->len, &l->cap, buf,
	    (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Escape bytes: printable ASCII and UTF-8 as is, others as \xNN. */
static void
mlog_esc8(char **p, size_t *len, size_t *cap, const uint8_t *s, size_t n,
    int high)
{
	char	e[8];

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r')
			mlog_grow(p, len, cap, "\\r", 2);
		else if (s[i] == '\n')
			mlog_grow(p, len, cap, "\\n", 2);
		else if (s[i] == '\\')
			mlog_grow(p, len, cap, "\\\\", 2);
		else if (s[i] < 0x20 || s[i] == 0x7f || (high && s[i] >= 0x80)) {
			snprintf(e, sizeof(e), "\\x%02x", s[i]);
			mlog_grow(p, len, cap, e, 4);
		} else
			mlog_grow(p, len, cap, s + i, 1);
	}
}

static void
mlog_esc(char **p, size_t *len, size_t *cap, const uint8_t *s, size_t n)
{
	mlog_esc8(p, len, cap, s, n, 0);
}

static int
mlog_fail(struct mlog *l)
{
	return (l->fail_cb > 0 && --l->fail_cb == 0);
}

static int
mlog_header(void *ud, const struct sp_mime_header *h)
{
	struct mlog	*l = ud;

	mlog_printf(l, "H %s d%u m%u %s#%zu ", h->path, h->depth,
	    h->msg_level, h->message_header ? "M " : "", h->index);
	mlog_esc(&l->text, &l->len, &l->cap, h->name, h->name_len);
	mlog_printf(l, ": ");
	mlog_esc(&l->text, &l->len, &l->cap, h->value, h->value_len);
	if (h->decoded != h->value) {
		mlog_printf(l, " => ");
		mlog_esc(&l->text, &l->len, &l->cap, h->decoded,
		    h->decoded_len);
	}
	if (h->field != SP_MIME_F_OTHER)
		mlog_printf(l, " [%s]", sp_mime_field_name(h->field));
	if (h->truncated)
		mlog_printf(l, " (truncated)");
	mlog_printf(l, "\n");
	return (mlog_fail(l));
}

static int
mlog_begin(void *ud, const struct sp_mime_part *p)
{
	static const char *const kinds[] = { "leaf", "multipart", "message" };
	static const char *const disps[] = { "", "inline", "attachment",
	    "other" };
	struct mlog	*l = ud;

	mlog_printf(l, "B %s %s/%s %s cte=%s", p->path, p->type, p->subtype,
	    kinds[p->kind], sp_mime_cte_name(p->cte));
	if (p->charset[0] != '\0')
		mlog_printf(l, " charset=%s", p->charset);
	if (p->disposition != SP_MIME_DISP_NONE)
		mlog_printf(l, " disp=%s", disps[p->disposition]);
	if (p->filename[0] != '\0')
		mlog_printf(l, " filename=\"%s\"", p->filename);
	if (p->boundary[0] != '\0')
		mlog_printf(l, " boundary=\"%s\"", p->boundary);
	mlog_printf(l, " @%" PRIu64 "\n", p->offset);
	l->dlen = 0;
	l->ulen = 0;
	sp_hash_reset(l->h);
	return (mlog_fail(l));
}

static int
mlog_data(void *ud, const struct sp_mime_part *p, const uint8_t *buf,
    size_t len)
{
	struct mlog	*l = ud;

	(void)p;
	if (l->dlen < 160) {
		size_t k = len < 160 - l->dlen ? len : 160 - l->dlen;

		mlog_grow((char **)&l->data, &l->dlen, &l->dcap, buf, k);
	}
	sp_hash_update(l->h, buf, len);
	return (mlog_fail(l));
}

static int
mlog_url(void *ud, const struct sp_mime_url *u)
{
	struct mlog	*l = ud;

	mlog_grow(&l->urls, &l->ulen, &l->ucap, "U ", 2);
	mlog_grow(&l->urls, &l->ulen, &l->ucap, u->path, strlen(u->path));
	mlog_grow(&l->urls, &l->ulen, &l->ucap, " ", 1);
	mlog_esc(&l->urls, &l->ulen, &l->ucap, u->url, u->len);
	mlog_grow(&l->urls, &l->ulen, &l->ucap, "\n", 1);
	return (mlog_fail(l));
}

static int
mlog_end(void *ud, const struct sp_mime_part *p)
{
	struct mlog	*l = ud;
	uint8_t		 md[SP_HASH_MAX_LEN];
	char		 hex[SP_HASH_MAX_HEX];

	sp_hash_final(l->h, md, hex);
	sp_hash_reset(l->h);
	if (p->kind == SP_MIME_LEAF && p->decoded_size > 0) {
		mlog_printf(l, "D %s ", p->path);
		mlog_esc8(&l->text, &l->len, &l->cap, l->data, l->dlen, 1);
		mlog_printf(l, "%s\n", p->decoded_size > l->dlen ? "..." : "");
	}
	if (l->ulen > 0)
		mlog_grow(&l->text, &l->len, &l->cap, l->urls, l->ulen);
	mlog_printf(l, "E %s raw=%" PRIu64 " dec=%" PRIu64, p->path,
	    p->raw_size, p->decoded_size);
	if (p->kind == SP_MIME_MULTIPART)
		mlog_printf(l, " pre=%" PRIu64 " epi=%" PRIu64,
		    p->preamble_size, p->epilogue_size);
	if (p->missing > 0)
		mlog_printf(l, " missing=%" PRIu64, p->missing);
	mlog_printf(l, " %s", p->complete ? "complete" : "incomplete");
	if (p->kind == SP_MIME_LEAF)
		mlog_printf(l, " sha256=%.16s", hex);
	mlog_printf(l, "\n");
	l->dlen = 0;
	l->ulen = 0;
	return (mlog_fail(l));
}

static int
mlog_anomaly(void *ud, const struct sp_mime_anomaly *a)
{
	struct mlog	*l = ud;

	mlog_printf(l, "A %s @%" PRIu64 " %s", sp_anomaly_name(a->code),
	    a->offset, a->path);
	if (a->detail_len > 0) {
		mlog_printf(l, " ");
		mlog_esc(&l->text, &l->len, &l->cap,
		    (const uint8_t *)a->detail, a->detail_len);
	}
	mlog_printf(l, "\n");
	return (mlog_fail(l));
}

static const struct sp_mime_callbacks mlog_cb = {
	mlog_header, mlog_begin, mlog_data, mlog_end, mlog_url, mlog_anomaly
};

static void
mlog_init(struct mlog *l)
{
	memset(l, 0, sizeof(*l));
	if (sp_hash_new(&l->h, SP_HASH_SHA256) != SP_E_OK)
		abort();
	mlog_grow(&l->text, &l->len, &l->cap, "", 0);
}

static void
mlog_free(struct mlog *l)
{
	free(l->text);
	free(l->data);
	free(l->urls);
	sp_hash_free(l->h);
	memset(l, 0, sizeof(*l));
}

/*
 * Parse msg fed in pieces: cuts[] (ascending, ncuts of them) split it;
 * gap_at, when not SIZE_MAX, is where gap bytes are declared missing.
 * Returns the log (caller frees) or NULL on a parser error.
 */
static char *
mlog_run(const struct sp_limits *lim, const uint8_t *msg, size_t len,
    const size_t *cuts, size_t ncuts, sp_err *errp)
{
	struct mlog	 l;
	sp_mime_parser	*m;
	size_t		 from = 0;
	sp_err		 e;
	char		*text;

	mlog_init(&l);
	e = sp_mime_parser_new(&m, lim, &mlog_cb, &l);
	for (size_t i = 0; e == SP_E_OK && i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		e = sp_mime_parser_feed(m, msg + from, to - from);
		from = to;
	}
	if (e == SP_E_OK)
		e = sp_mime_parser_finish(m);
	sp_mime_parser_free(m);
	if (errp != NULL)
		*errp = e;
	text = l.text;
	l.text = NULL;
	mlog_free(&l);
	return (text);
}

#endif /* SP_MIME_LOG_H */
