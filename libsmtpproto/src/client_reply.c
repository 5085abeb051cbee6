/*
 * client_reply.c - reading replies: socket bytes go through the
 * sp_smtp_parser, whose on_reply callback pauses the feed at the end
 * of each reply, so exactly one complete reply is handed out per call
 * and the bytes after it wait in the receive buffer.  Completion is
 * the final "NNN " line (RFC 5321 4.2.1), never a timer.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

#include "client_int.h"

#define MS(x)	((uint64_t)(x) * 1000000u)

/* ------------------------------------------------- the command queue */

static void
push(sp_client *c, enum sp_smtp_verb v, int greeting, int data_end)
{
	struct pend	*q;

	if (c->qlen == c->qcap)
		return;		/* the parser flags the pipeline limit */
	q = &c->q[(c->qhead + c->qlen++) % c->qcap];
	q->verb = v;
	q->greeting = greeting;
	q->data_end = data_end;
	q->ts = c->last_write;
}

static const struct pend *
front(const sp_client *c)
{
	return (c->qlen > 0 ? &c->q[c->qhead] : NULL);
}

static void
pop(sp_client *c)
{
	if (c->qlen == 0)
		return;
	c->qhead = (c->qhead + 1) % c->qcap;
	c->qlen--;
}

void
sp__client_expect_greeting(sp_client *c)
{
	c->qhead = c->qlen = 0;
	c->last_write = sp__client_now();	/* latency from connect */
	push(c, SP_SMTP_VERB_UNKNOWN, 1, 0);
}

/* RFC 5321 4.5.3.2: which client timer applies to what is awaited. */
static unsigned
phase_ms(const sp_client *c, const struct pend *f)
{
	const struct sp_client_timeouts	*t = &c->o.timeouts;

	if (f == NULL)
		return (t->command_ms);
	if (f->greeting)
		return (t->greeting_ms);
	if (f->data_end || f->verb == SP_SMTP_VERB_BDAT)
		return (t->data_end_ms);
	switch (f->verb) {
	case SP_SMTP_VERB_MAIL:	return (t->mail_ms);
	case SP_SMTP_VERB_RCPT:	return (t->rcpt_ms);
	case SP_SMTP_VERB_DATA:	return (t->data_start_ms);
	default:		return (t->command_ms);
	}
}

/* "the greeting", "the reply to DATA", "the reply to the end of data" */
static void
awaited(const struct pend *f, char *buf, size_t cap)
{
	if (f == NULL)
		(void)snprintf(buf, cap, "a reply");
	else if (f->greeting)
		(void)snprintf(buf, cap, "the greeting");
	else if (f->data_end)
		(void)snprintf(buf, cap, "the reply to the end of data");
	else if (f->verb == SP_SMTP_VERB_UNKNOWN)
		(void)snprintf(buf, cap, "the reply to a command");
	else
		(void)snprintf(buf, cap, "the reply to %s",
		    sp_smtp_verb_name(f->verb));
}

/* ------------------------------------------------- parser callbacks */

static int
on_command(void *ud, const struct sp_smtp_command *cmd)
{
	push(ud, cmd->verb, 0, 0);
	return (0);
}

static int
on_message_end(void *ud, const struct sp_smtp_message *m)
{
	/* CRLF.CRLF was sent: its reply comes as if to a command. */
	if (m->method == SP_SMTP_METHOD_DATA)
		push(ud, SP_SMTP_VERB_DATA, 0, 1);
	return (0);
}

static int
on_anomaly(void *ud, enum sp_anomaly a, enum sp_dir dir, uint64_t off,
    const char *detail)
{
	sp_client	*c = ud;

	(void)off;
	if (c->cur.anomalies++ == 0)
		c->cur.first_anomaly = a;
	if (c->o.on_anomaly != NULL)
		c->o.on_anomaly(c->o.ud, a, dir, detail);
	return (0);
}

static sp_err
copy_text(sp_client *c, const struct sp_smtp_reply *r)
{
	sp_err	e = SP_E_OK;

	sp__buf_reset(&c->text);
	for (size_t i = 0; i < r->nlines && e == SP_E_OK; i++) {
		if (i > 0)
			e = sp__buf_append(&c->text, "\n", 1);
		if (e == SP_E_OK)
			e = sp__buf_append(&c->text, r->lines[i].p,
			    r->lines[i].len);
	}
	if (e == SP_E_OK)
		e = sp__buf_append(&c->text, "", 1);
	return (e);
}

static int
on_reply(void *ud, const struct sp_smtp_reply *r)
{
	sp_client		*c = ud;
	const struct pend	*f = front(c);
	uint64_t		 since = f != NULL ? f->ts : c->last_write;

	if (copy_text(c, r) != SP_E_OK)
		return (SP_E_NOMEM);
	c->cur.code = r->code;
	c->cur.enhanced = r->enhanced;
	c->cur.text = (const char *)c->text.p;
	c->cur.nlines = r->nlines_total;
	c->cur.kind = r->kind;
	c->cur.verb = r->cmd_verb;
	c->cur.intermediate = r->intermediate;
	c->cur.latency_ns = c->now > since ? c->now - since : 0;
	if (r->kind != SP_SMTP_REPLY_UNMATCHED && !r->intermediate)
		pop(c);
	else if (r->intermediate && c->qlen > 0)
		c->q[c->qhead].ts = UINT64_MAX;	/* restamp at next write */
	c->done = 1;
	return (SP_E_PAUSED);	/* one reply per read */
}

/* Copy the EHLO capabilities: the parser's slices die with the call. */
static int
on_caps(void *ud, const struct sp_smtp_capabilities *k)
{
	sp_client	*c = ud;
	size_t		 n = SP_MIN(k->ncaps, c->lim.max_reply_lines), off;

	sp__buf_reset(&c->capbuf);
	c->have_caps = 0;
	for (size_t i = 0; i < n; i++)
		if (sp__buf_append(&c->capbuf, k->caps[i].keyword.p,
		    k->caps[i].keyword.len) != SP_E_OK ||
		    sp__buf_append(&c->capbuf, k->caps[i].params.p,
		    k->caps[i].params.len) != SP_E_OK)
			return (0);	/* bounded: keep none */
	off = 0;
	for (size_t i = 0; i < n; i++) {
		c->capv[i].keyword.p = c->capbuf.p + off;
		c->capv[i].keyword.len = k->caps[i].keyword.len;
		off += k->caps[i].keyword.len;
		c->capv[i].params.p = c->capbuf.p + off;
		c->capv[i].params.len = k->caps[i].params.len;
		off += k->caps[i].params.len;
	}
	c->caps = *k;
	c->caps.caps = c->capv;
	c->caps.ncaps = n;
	c->caps.auth.len = 0;
	for (size_t i = 0; i < n; i++)
		if (k->auth.p == k->caps[i].params.p)
			c->caps.auth = c->capv[i].params;
	c->capn = n;
	c->have_caps = 1;
	return (0);
}

sp_err
sp__client_parser_new(sp_client *c)
{
	struct sp_smtp_callbacks	cb;

	memset(&cb, 0, sizeof(cb));
	cb.on_command = on_command;
	cb.on_reply = on_reply;
	cb.on_capabilities = on_caps;
	cb.on_message_end = on_message_end;
	cb.on_anomaly = on_anomaly;
	return (sp_smtp_parser_new(&c->parser, &c->lim, &cb, c));
}

/* Client bytes were written: the parser learns the commands. */
sp_err
sp__client_feed(sp_client *c, enum sp_dir dir, const uint8_t *p, size_t n)
{
	size_t	used;
	sp_err	e;

	if (dir == SP_DIR_CLIENT)
		for (size_t i = 0; i < c->qlen; i++)
			if (c->q[(c->qhead + i) % c->qcap].ts == UINT64_MAX)
				c->q[(c->qhead + i) % c->qcap].ts =
				    c->last_write;
	e = sp_smtp_parser_feed(c->parser, dir, c->last_write, p, n, &used);
	if (e != SP_E_OK && e != SP_E_PAUSED) {
		c->broken = 1;
		return (sp__client_err(c, e, "SMTP parser: %s",
		    sp_strerror(e)));
	}
	return (SP_E_OK);
}

/* ------------------------------------------------------------ reads */

static sp_err
read_once(sp_client *c, size_t *n, short *want)
{
	uint8_t	*dst = c->rbuf + c->rlen;
	size_t	 cap = sizeof(c->rbuf) - c->rlen;
	ssize_t	 k;

	*n = 0;
	if (c->ssl != NULL)
		return (sp__client_tls_read(c, dst, cap, n, want));
	*want = POLLIN;
	k = recv(c->fd, dst, cap, 0);
	if (k > 0) {
		*n = (size_t)k;
		return (SP_E_OK);
	}
	if (k == 0) {
		c->eof = EOF_FIN;
		return (sp__client_err(c, SP_E_CLOSED, "connection closed by "
		    "%s", c->peer));
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return (SP_E_AGAIN);
	if (errno == ECONNRESET) {
		c->eof = EOF_RST;
		return (sp__client_err(c, SP_E_RESET, "connection reset by %s",
		    c->peer));
	}
	return (sp__client_err(c, SP_E_IO, "read from %s: %s", c->peer,
	    strerror(errno)));
}

/* Read at least one byte into rbuf, or say why not. */
sp_err
sp__client_read_some(sp_client *c, uint64_t deadline, const char *what)
{
	size_t	n;
	short	want;
	sp_err	e;

	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	if (SP_NEVER(c->rlen == sizeof(c->rbuf)))
		return (SP_E_INTERNAL);
	for (;;) {
		e = read_once(c, &n, &want);
		if (e == SP_E_OK && n > 0) {
			if (c->o.on_wire != NULL)
				c->o.on_wire(c->o.ud, SP_DIR_SERVER,
				    c->rbuf + c->rlen, n);
			c->rlen += n;
			c->now = sp__client_now();
			return (SP_E_OK);
		}
		if (e != SP_E_OK && e != SP_E_AGAIN)
			return (e);
		if ((e = sp__client_poll(c, want, deadline, what)) != SP_E_OK)
			return (e);
	}
}

/* Feed buffered server bytes until a reply completes or they run out. */
static sp_err
feed_buffered(sp_client *c)
{
	size_t	used = 0, n = c->rlen - c->rpos;
	sp_err	e;

	e = sp_smtp_parser_feed(c->parser, SP_DIR_SERVER, c->now,
	    c->rbuf + c->rpos, n, &used);
	if (e != SP_E_OK && e != SP_E_PAUSED) {
		c->broken = 1;
		return (sp__client_err(c, e, "SMTP parser: %s",
		    sp_strerror(e)));
	}
	if (sp__buf_append(&c->raw, c->rbuf + c->rpos, used) != SP_E_OK) {
		c->broken = 1;
		return (sp__client_err(c, SP_E_LIMIT, "reply from %s longer "
		    "than %zu bytes (an endless line or multi-line reply); "
		    "connection abandoned", c->peer, c->o.max_reply_bytes));
	}
	c->rpos += used;
	return (SP_E_OK);
}

static sp_err
check_readable(sp_client *c)
{
	if (c == NULL)
		return (SP_E_INVAL);
	if (!c->connected || c->fd < 0)
		return (sp__client_err(c, SP_E_STATE, "not connected"));
	if (c->broken)
		return (sp__client_err(c, SP_E_STATE, "the connection is "
		    "unusable after an earlier error"));
	return (SP_E_OK);
}

static sp_err
eof_error(sp_client *c, const char *what)
{
	if (c->eof == EOF_RST)
		return (sp__client_err(c, SP_E_RESET, "connection reset by "
		    "%s while waiting for %s", c->peer, what));
	return (sp__client_err(c, SP_E_CLOSED, "connection closed by %s "
	    "while waiting for %s", c->peer, what));
}

sp_err
sp_client_read_reply(sp_client *c, int timeout_ms, struct sp_client_reply *r)
{
	char		what[64], doing[80];
	unsigned	ms;
	uint64_t	deadline;
	sp_err		e;

	if ((e = check_readable(c)) != SP_E_OK || r == NULL)
		return (e != SP_E_OK ? e : SP_E_INVAL);
	awaited(front(c), what, sizeof(what));
	(void)snprintf(doing, sizeof(doing), "waiting for %s", what);
	ms = timeout_ms >= 0 ? (unsigned)timeout_ms : phase_ms(c, front(c));
	deadline = sp__client_now() + MS(ms);
	memset(&c->cur, 0, sizeof(c->cur));
	sp__buf_reset(&c->raw);
	c->done = 0;
	for (;;) {
		if (c->rpos < c->rlen && (e = feed_buffered(c)) != SP_E_OK)
			return (e);
		if (c->done)
			break;
		if (c->eof != EOF_NONE)
			return (eof_error(c, what));
		e = sp__client_read_some(c, deadline, doing);
		if (e == SP_E_TIMEOUT)
			return (sp__client_err(c, e, "timed out after %.1f s "
			    "waiting for %s", ms / 1000.0, what));
		if (e == SP_E_CLOSED || e == SP_E_RESET)
			return (eof_error(c, what));
		if (e != SP_E_OK)
			return (e);
	}
	c->cur.raw = c->raw.p;
	c->cur.raw_len = c->raw.len;
	*r = c->cur;
	return (SP_E_OK);
}

sp_err
sp_client_wait(sp_client *c, int timeout_ms, enum sp_client_event *ev)
{
	sp_err	e;

	if ((e = check_readable(c)) != SP_E_OK || ev == NULL)
		return (e != SP_E_OK ? e : SP_E_INVAL);
	*ev = SP_CLIENT_EV_DATA;
	if (c->rpos < c->rlen)
		return (SP_E_OK);
	if (c->eof == EOF_NONE) {
		e = sp__client_read_some(c, sp__client_now() +
		    MS(timeout_ms > 0 ? (unsigned)timeout_ms : 0u),
		    "waiting for the server");
		if (e == SP_E_OK)
			return (SP_E_OK);
		if (e == SP_E_TIMEOUT) {
			*ev = SP_CLIENT_EV_SILENCE;
			return (SP_E_OK);
		}
		if (e != SP_E_CLOSED && e != SP_E_RESET)
			return (e);
	}
	*ev = c->eof == EOF_RST ? SP_CLIENT_EV_RESET : SP_CLIENT_EV_CLOSED;
	return (SP_E_OK);
}

const struct sp_smtp_capabilities *
sp_client_capabilities(const sp_client *c)
{
	return (c != NULL && c->have_caps ? &c->caps : NULL);
}

void
sp_client_get_info(const sp_client *c, struct sp_smtp_info *info)
{
	memset(info, 0, sizeof(*info));
	if (c != NULL && c->parser != NULL)
		sp_smtp_parser_get_info(c->parser, info);
}
