/*
 * smtp_line.c - the bounded line stage of the SMTP parser, one per
 * direction.  A line lying whole inside the caller's buffer is handed
 * on as a slice of it; only a line that crosses a feed boundary is
 * copied, into a buffer capped at lim.max_line.
 */
#include "smtp_int.h"

/*
 * Take bytes up to and including the next LF.  Returns 1 with *out set
 * when a line is complete, 0 when all of buf was taken in and more is
 * needed (or on error, with *err set).  A line longer than max_line is
 * cut to max_line bytes and its rest skipped up to the LF (RFC 5321
 * 4.5.3.1.4 allows 512 octets for commands, 4.5.3.1.5 for replies);
 * the cut line is still handed on, marked truncated, so the command
 * it carries keeps its place in the reply queue.  The caller calls
 * sp__smtp_line_reset() once it is done with *out.
 */
int
sp__smtp_line_take(sp_smtp_parser *p, struct half *h, const uint8_t *buf,
    size_t len, size_t *used, struct line *out, sp_err *err)
{
	const uint8_t	*lf = memchr(buf, '\n', len);
	size_t		 n = lf != NULL ? (size_t)(lf - buf) + 1 : len;
	size_t		 max = p->lim.max_line, take;

	*used = n;
	*err = SP_E_OK;
	if (h->skipping) {
		h->skipping = (lf == NULL);
		return (0);
	}
	if (!h->started) {
		h->started = 1;
		h->line_off = h->off;
	}
	if (h->line.len == 0 && !h->truncated && lf != NULL) {
		out->p = buf;			/* zero copy */
		out->len = SP_MIN(n, max);
		out->truncated = n > max;
		out->off = h->line_off;
		return (1);
	}
	take = SP_MIN(n, max - h->line.len);	/* invariant: len <= max */
	if (take < n)
		h->truncated = 1;
	*err = sp__buf_append(&h->line, buf, take);
	if (*err != SP_E_OK || lf == NULL)
		return (0);
	out->p = h->line.p;
	out->len = h->line.len;
	out->truncated = h->truncated;
	out->off = h->line_off;
	return (1);
}

void
sp__smtp_line_reset(struct half *h)
{
	sp__buf_reset(&h->line);
	h->started = 0;
	h->truncated = 0;
}

/* True when the next byte fed starts a new line. */
int
sp__smtp_line_at_start(const struct half *h)
{
	return (!h->started && !h->skipping);
}

/*
 * Flag what RFC 5321 2.3.8 forbids in a line: a bare LF ending it, a
 * CR not followed by LF, NUL.  Lax servers split on LF alone, so the
 * parser does too (that is what most peers do), but says so.
 */
sp_err
sp__smtp_line_check(sp_smtp_parser *p, enum sp_dir dir, const struct line *l)
{
	const uint8_t	*s = l->p;
	size_t		 n = l->len, i;
	sp_err		 e = SP_E_OK;

	if (l->truncated)
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_LINE_TOO_LONG, dir,
		    l->off, "line longer than %zu bytes, cut",
		    p->lim.max_line);
	if (e == SP_E_OK && !l->truncated && n > 0 && s[n - 1] == '\n' &&
	    (n < 2 || s[n - 2] != '\r'))
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_BARE_LF, dir,
		    l->off + n - 1, NULL);
	for (i = 0; e == SP_E_OK && i + 1 < n; i++) {
		if (s[i] == '\r' && s[i + 1] != '\n') {
			e = sp__smtp_anomaly(p, SP_ANOM_SMTP_BARE_CR, dir,
			    l->off + i, NULL);
			break;
		}
	}
	if (e == SP_E_OK && memchr(s, '\0', n) != NULL)
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_NUL, dir,
		    l->off + (size_t)((const uint8_t *)memchr(s, '\0', n) - s),
		    NULL);
	return (e);
}
