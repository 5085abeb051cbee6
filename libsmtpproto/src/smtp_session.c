/*
 * smtp_session.c - the SMTP parser's handle: creation, the feed loop
 * and its per-state steps, gaps, the end, events and anomalies.
 *
 * The client's bytes are commands, message content, BDAT octets, AUTH
 * responses or TLS (enum cstate); the server's are replies or TLS.
 * Each feed runs steps until the buffer is used up; every step takes
 * what it can and reports how much (a line, a run of content, a
 * chunk), so a state change takes effect at the very next byte.
 */
#include <stdarg.h>
#include <stdio.h>

#include "smtp_int.h"

static const char *const cstate_names[] = {
#define SP_CSTATE_NAME(n)	#n,
	SP_CSTATE_MAP(SP_CSTATE_NAME)
#undef SP_CSTATE_NAME
};

/* Every client state change goes through here, so it can be traced. */
void
sp__smtp_set_cstate(sp_smtp_parser *p, enum cstate st)
{
#ifdef SP_SMTP_TRACE
	fprintf(stderr, "smtp %p: client %s -> %s\n", (void *)p,
	    cstate_names[p->cst], cstate_names[st]);
#endif
	(void)cstate_names;
	p->cst = st;
}

/* A callback's return: 0 goes on, SP_E_PAUSED pauses, else abort. */
sp_err
sp__smtp_cb(sp_smtp_parser *p, int rc)
{
	if (rc == 0)
		return (SP_E_OK);
	if (rc == SP_E_PAUSED) {
		p->paused = 1;
		return (SP_E_OK);
	}
	return (SP_E_CALLBACK);
}

sp_err
sp__smtp_anomaly(sp_smtp_parser *p, enum sp_anomaly a, enum sp_dir dir,
    uint64_t off, const char *fmt, ...)
{
	va_list	ap;

	p->info.anomalies++;
	if (p->cb.on_anomaly == NULL)
		return (SP_E_OK);
	if (fmt != NULL) {
		va_start(ap, fmt);
		(void)vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
		va_end(ap);
	}
	return (sp__smtp_cb(p, p->cb.on_anomaly(p->ud, a, dir, off,
	    fmt != NULL ? p->detail : NULL)));
}

/*
 * Printable form of bytes for a detail text: C escapes for CR, LF,
 * TAB, NUL and backslash, \xNN for the rest, "..." when cut.  Always
 * NUL-terminates; returns the length written.
 */
size_t
sp__smtp_escape(char *dst, size_t cap, const uint8_t *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 o = 0, i;
	char			 tmp[5];
	size_t			 k;

	if (cap == 0)
		return (0);
	for (i = 0; i < n; i++) {
		k = 0;
		switch (s[i]) {
		case '\r': tmp[k++] = '\\'; tmp[k++] = 'r'; break;
		case '\n': tmp[k++] = '\\'; tmp[k++] = 'n'; break;
		case '\t': tmp[k++] = '\\'; tmp[k++] = 't'; break;
		case '\0': tmp[k++] = '\\'; tmp[k++] = '0'; break;
		case '\\': tmp[k++] = '\\'; tmp[k++] = '\\'; break;
		default:
			if (s[i] >= 0x20 && s[i] < 0x7f) {
				tmp[k++] = (char)s[i];
				break;
			}
			tmp[k++] = '\\';
			tmp[k++] = 'x';
			tmp[k++] = hex[s[i] >> 4];
			tmp[k++] = hex[s[i] & 15];
		}
		if (k > cap - 1 - o || (i + 1 < n && k + 3 > cap - 1 - o)) {
			k = SP_MIN((size_t)3, cap - 1 - o);
			memcpy(dst + o, "...", k);
			o += k;
			break;
		}
		memcpy(dst + o, tmp, k);
		o += k;
	}
	dst[o] = '\0';
	return (o);
}

static size_t
mul_cap(size_t a, size_t b)
{
	return (b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b);
}

sp_err
sp_smtp_parser_new(sp_smtp_parser **out, const struct sp_limits *lim,
    const struct sp_smtp_callbacks *cb, void *ud)
{
	struct sp_limits	 l;
	sp_smtp_parser		*p;
	size_t			 nl;

	if (out == NULL || cb == NULL)
		return (SP_E_INVAL);
	*out = NULL;
	if (lim != NULL)
		l = *lim;
	else
		sp_limits_default(&l);
	if (l.max_line < 16 || l.max_reply_lines == 0 || l.max_rcpts == 0 ||
	    l.max_pipeline == 0 || l.max_transactions == 0)
		return (SP_E_INVAL);
	if ((p = sp__calloc(l.alloc, 1, sizeof(*p))) == NULL)
		return (SP_E_NOMEM);
	p->lim = l;
	p->a = l.alloc;
	p->cb = *cb;
	p->ud = ud;
	nl = l.max_reply_lines;
	for (int d = 0; d < 2; d++)
		sp__buf_init(&p->h[d].line, l.max_line, p->a);
	sp__buf_init(&p->rep.text, mul_cap(nl, l.max_line), p->a);
	sp__buf_init(&p->auth.buf, mul_cap(3, l.max_line), p->a);
	p->cst = C_CMD;
	p->sst = S_REPLY;
	*out = p;
	return (SP_E_OK);
}

/*
 * Everything but the four bounded buffers goes back to what
 * sp_smtp_parser_new() left; the arrays grown on demand are freed
 * (they are small, and a fresh parser has none).
 */
void
sp_smtp_parser_reset(sp_smtp_parser *p, void *ud)
{
	sp_smtp_parser	keep = *p;

	sp__smtp_txn_free_all(p);
	sp__free(p->a, p->rep.ends);
	sp__free(p->a, p->caps);
	sp__free(p->a, p->rlines);
	memset(p, 0, sizeof(*p));
	p->lim = keep.lim;
	p->a = keep.a;
	p->cb = keep.cb;
	p->ud = ud;
	for (int d = 0; d < 2; d++) {
		p->h[d].line = keep.h[d].line;
		sp__buf_reset(&p->h[d].line);
	}
	p->rep.text = keep.rep.text;
	sp__buf_reset(&p->rep.text);
	p->auth.buf = keep.auth.buf;
	sp__buf_reset(&p->auth.buf);
	p->cst = C_CMD;
	p->sst = S_REPLY;
}

void
sp_smtp_parser_free(sp_smtp_parser *p)
{
	if (p == NULL)
		return;
	sp__smtp_txn_free_all(p);
	for (int d = 0; d < 2; d++)
		sp__buf_free(&p->h[d].line);
	sp__buf_free(&p->rep.text);
	sp__buf_free(&p->auth.buf);
	sp__free(p->a, p->rep.ends);
	sp__free(p->a, p->caps);
	sp__free(p->a, p->rlines);
	sp__free(p->a, p);
}

sp_err
sp_smtp_parser_set_options(sp_smtp_parser *p, const struct sp_smtp_options *o)
{
	if (p == NULL || o == NULL)
		return (SP_E_INVAL);
	if (p->h[0].off != 0 || p->h[1].off != 0)
		return (SP_E_STATE);
	p->opt = *o;
	if (o->implicit_tls) {
		sp__smtp_set_cstate(p, C_TLS);
		p->sst = S_TLS;
		p->info.tls = 2;
	}
	if (o->decrypted)
		p->info.tls = 2;
	if (o->after_starttls) {
		p->opt.decrypted = 1;
		p->greeting_done = 1;
		p->info.tls = 1;
	}
	if (o->midstream) {
		/*
		 * The TCP start was not seen, but the SMTP start may
		 * still be (a capture that lost only the handshake):
		 * greeting() takes a first 220 with no command queued
		 * as the greeting and anything else as an answer.
		 */
		p->info.midstream = 1;
		p->relaxed = 1;
		p->relax_until = 1;
	}
	return (SP_E_OK);
}

/*
 * TLS from the very first byte (port 465, RFC 8314 3.3), seen in
 * direction dir.  Only that side turns to TLS: a server answering a
 * ClientHello with a plaintext greeting (a client guessing TLS) is
 * still read; its own first TLS record turns it.  Reported once.
 */
static sp_err
implicit_tls(sp_smtp_parser *p, enum sp_dir dir)
{
	struct sp_smtp_tls	t;

	if (dir == SP_DIR_CLIENT)
		sp__smtp_set_cstate(p, C_TLS);
	else
		p->sst = S_TLS;
	if (p->info.tls == 2)
		return (SP_E_OK);
	p->info.tls = 2;
	if (p->cb.on_tls == NULL)
		return (SP_E_OK);
	memset(&t, 0, sizeof(t));
	t.implicit = 1;
	t.ts = p->ts;
	return (sp__smtp_cb(p, p->cb.on_tls(p->ud, &t)));
}

/*
 * A TLS record (content type 22, handshake) where a line should start.
 * No command or reply begins with byte 0x16, so one byte decides.
 */
static sp_err
tls_record(sp_smtp_parser *p, enum sp_dir dir)
{
	if (p->info.tls == 2 ||
	    (p->info.commands == 0 && p->info.replies == 0 && !p->rep.active))
		return (implicit_tls(p, dir));
	if (dir == SP_DIR_CLIENT && p->starttls_pending) {
		sp__smtp_set_cstate(p, C_TLS);	/* ClientHello before 220 */
		return (SP_E_OK);
	}
	if (dir == SP_DIR_CLIENT)
		sp__smtp_set_cstate(p, C_TLS);
	else
		p->sst = S_TLS;
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_TLS_UNEXPECTED, dir,
	    p->h[dir].off, "TLS record without an accepted STARTTLS"));
}

typedef sp_err line_fn(sp_smtp_parser *, const struct line *);

/* Assemble a line in direction dir and hand it to fn. */
static sp_err
line_step(sp_smtp_parser *p, enum sp_dir dir, const uint8_t *buf,
    size_t len, size_t *used, line_fn *fn)
{
	struct half	*h = &p->h[dir];
	struct line	 l;
	sp_err		 e;

	if (sp__smtp_line_at_start(h) && buf[0] == 0x16) {
		*used = 0;
		return (tls_record(p, dir));
	}
	if (!sp__smtp_line_take(p, h, buf, len, used, &l, &e))
		return (e);
	p->line_end[dir] = h->off + *used;
	if (dir == SP_DIR_CLIENT)
		p->cpos = l.off;
	e = fn(p, &l);
	sp__smtp_line_reset(h);
	return (e);
}

static sp_err
client_injected(sp_smtp_parser *p, const struct line *l)
{
	char	show[2 * SMUG_SHOW];

	sp__smtp_escape(show, sizeof(show), l->p,
	    SP_MIN(sp__smtp_trim_eol(l->p, l->len), (size_t)SMUG_SHOW));
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_STARTTLS_INJECTION,
	    SP_DIR_CLIENT, l->off, "plaintext after 220 to STARTTLS: %s",
	    show));
}

/* Server plaintext after its 220, before its ServerHello. */
static sp_err
server_injected(sp_smtp_parser *p, const struct line *l)
{
	char	show[2 * SMUG_SHOW];

	if (p->resp_inj_flagged)
		return (SP_E_OK);
	p->resp_inj_flagged = 1;
	sp__smtp_escape(show, sizeof(show), l->p,
	    SP_MIN(sp__smtp_trim_eol(l->p, l->len), (size_t)SMUG_SHOW));
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_STARTTLS_RESPONSE_INJECTION,
	    SP_DIR_SERVER, l->off, "%s", show));
}

/* After the 220 to STARTTLS: the handshake, or injected plaintext. */
static sp_err
tls_wait_step(sp_smtp_parser *p, enum sp_dir dir, const uint8_t *buf,
    size_t len, size_t *used)
{
	if (sp__smtp_line_at_start(&p->h[dir]) && buf[0] == 0x16) {
		*used = 0;
		if (dir == SP_DIR_CLIENT)
			sp__smtp_set_cstate(p, C_TLS);
		else
			p->sst = S_TLS;
		return (SP_E_OK);
	}
	return (line_step(p, dir, buf, len, used, dir == SP_DIR_CLIENT ?
	    client_injected : server_injected));
}

static sp_err
opaque_step(sp_smtp_parser *p, enum sp_dir dir, size_t len, size_t *used)
{
	*used = len;
	p->info.tls_bytes[dir] += len;
	return (SP_E_OK);
}

static sp_err
client_step(sp_smtp_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
	uint64_t	off = p->h[SP_DIR_CLIENT].off;

	switch (p->cst) {
	case C_CMD:
		return (line_step(p, SP_DIR_CLIENT, buf, len, used,
		    sp__smtp_command_line));
	case C_AUTH:
		return (line_step(p, SP_DIR_CLIENT, buf, len, used,
		    sp__smtp_auth_response));
	case C_DATA:
		return (sp__smtp_data_step(p, buf, len, off, used));
	case C_BDAT:
		return (sp__smtp_bdat_step(p, buf, len, off, used));
	case C_TLS_WAIT:
		return (tls_wait_step(p, SP_DIR_CLIENT, buf, len, used));
	case C_TLS:
		return (opaque_step(p, SP_DIR_CLIENT, len, used));
	}
	return (SP_E_INTERNAL);
}

static sp_err
server_step(sp_smtp_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
	switch (p->sst) {
	case S_REPLY:
		return (line_step(p, SP_DIR_SERVER, buf, len, used,
		    sp__smtp_reply_line));
	case S_TLS_WAIT:
		return (tls_wait_step(p, SP_DIR_SERVER, buf, len, used));
	case S_TLS:
		return (opaque_step(p, SP_DIR_SERVER, len, used));
	}
	return (SP_E_INTERNAL);
}

static sp_err
check_call(const sp_smtp_parser *p, enum sp_dir dir)
{
	if (p->err != SP_E_OK)
		return (p->err);
	if (p->finished)
		return (SP_E_STATE);
	if (dir != SP_DIR_CLIENT && dir != SP_DIR_SERVER)
		return (SP_E_INVAL);
	return (SP_E_OK);
}

sp_err
sp_smtp_parser_feed(sp_smtp_parser *p, enum sp_dir dir, sp_ts ts,
    const uint8_t *buf, size_t len, size_t *consumed)
{
	size_t	off = 0, used;
	sp_err	e;

	*consumed = 0;
	if ((e = check_call(p, dir)) != SP_E_OK)
		return (e);
	p->ts = ts;
	p->paused = 0;
	if (len > 0 && dir == SP_DIR_SERVER)
		p->server_seen = 1;
	while (off < len && !p->paused) {
		used = 0;
		e = dir == SP_DIR_CLIENT ?
		    client_step(p, buf + off, len - off, &used) :
		    server_step(p, buf + off, len - off, &used);
		p->h[dir].off += used;
		p->info.bytes[dir] += used;
		p->cpos = p->h[SP_DIR_CLIENT].off;
		off += used;
		if (e != SP_E_OK) {
			p->err = e;
			break;
		}
	}
	*consumed = off;
	if (p->err != SP_E_OK)
		return (p->err);
	return (p->paused ? SP_E_PAUSED : SP_E_OK);
}

/* Outside content: drop the partial line, resynchronise at the next. */
static sp_err
line_gap(sp_smtp_parser *p, enum sp_dir dir, uint64_t n)
{
	struct half	*h = &p->h[dir];

	sp__smtp_line_reset(h);
	h->skipping = 1;
	h->skip_fresh = 1;
	p->relaxed = 1;
	p->relax_until = p->cmd_seq + 1;
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_GAP, dir, h->off,
	    "%llu bytes lost; resynchronising at the next line",
	    (unsigned long long)n));
}

static sp_err
client_gap(sp_smtp_parser *p, uint64_t n)
{
	uint64_t	left = 0;
	sp_err		e;

	switch (p->cst) {
	case C_DATA:
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_GAP, SP_DIR_CLIENT,
		    p->h[SP_DIR_CLIENT].off, "%llu bytes lost inside a message",
		    (unsigned long long)n);
		return (e != SP_E_OK ? e : sp__smtp_data_gap(p, n));
	case C_BDAT:
		if ((e = sp__smtp_bdat_gap(p, n, &left)) != SP_E_OK ||
		    left == 0)
			return (e);
		return (line_gap(p, SP_DIR_CLIENT, left));
	case C_TLS:
	case C_TLS_WAIT:
		return (SP_E_OK);
	default:
		return (line_gap(p, SP_DIR_CLIENT, n));
	}
}

sp_err
sp_smtp_parser_gap(sp_smtp_parser *p, enum sp_dir dir, sp_ts ts,
    uint64_t nbytes)
{
	sp_err	e;

	if ((e = check_call(p, dir)) != SP_E_OK)
		return (e);
	if (nbytes == 0)
		return (SP_E_OK);
	p->ts = ts;
	p->paused = 0;
	p->info.gap_bytes[dir] += nbytes;
	if (dir == SP_DIR_CLIENT)
		e = client_gap(p, nbytes);
	else if (p->sst != S_TLS)
		e = line_gap(p, SP_DIR_SERVER, nbytes);
	p->h[dir].off += nbytes;
	p->cpos = p->h[SP_DIR_CLIENT].off;
	if (e != SP_E_OK)
		return (p->err = e);
	return (p->paused ? SP_E_PAUSED : SP_E_OK);
}

sp_err
sp_smtp_parser_finish(sp_smtp_parser *p, sp_ts ts)
{
	sp_err	e = SP_E_OK;

	if (p->err != SP_E_OK)
		return (p->err);
	if (p->finished)
		return (SP_E_OK);
	p->ts = ts;
	p->finished = 1;
	/* A line cut at max_line and never ended is still too long. */
	for (int d = 0; d < 2 && e == SP_E_OK; d++)
		if (p->h[d].truncated)
			e = sp__smtp_anomaly(p, SP_ANOM_SMTP_LINE_TOO_LONG,
			    (enum sp_dir)d, p->h[d].line_off, "over %zu bytes, "
			    "never ended", p->lim.max_line);
	if (e == SP_E_OK && p->cst == C_DATA)
		e = sp__smtp_data_flush(p);
	if (e == SP_E_OK && p->msg_txn != NULL)
		e = sp__smtp_msg_end(p, 0);
	if (e == SP_E_OK && p->auth.active)
		e = sp__smtp_auth_end(p, NULL);
	if (e == SP_E_OK)
		e = sp__smtp_txn_flush(p);
	if (e != SP_E_OK)
		p->err = e;
	return (e);
}

void
sp_smtp_parser_get_info(const sp_smtp_parser *p, struct sp_smtp_info *info)
{
	*info = p->info;
	info->quit = p->quit_sent;
	info->pending = p->qlen;
}
