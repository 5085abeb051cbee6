/*
 * exec.c - runs one session on a fresh connection and judges it.
 *
 * The oracles (CONFORMANCE.md): a crash is a connection closed or reset
 * where a reply was due (not after 221 or 421); a hang is no complete
 * reply within the timeout where the protocol says one is due; RFC
 * violations are 354 to DATA without an accepted recipient (RFC 5321
 * 3.3), replies lost under pipelining (RFC 2920 3.2), a non-CRLF end of
 * data answered (RFC 5321 4.1.1.4, SMTP smuggling), plaintext sent with
 * STARTTLS executed inside TLS (RFC 3207 4.2), STARTTLS offered again
 * after TLS, and malformed replies.
 *
 * Silence is only judged where a reply is certainly due: a line that
 * could open a BDAT chunk, a line with a bare CR or LF, or a group that
 * could switch the server into data or AUTH mode is given its chance
 * and the case ends without a verdict when the server stays silent.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"

struct ex {
	const struct fz_target	*t;
	sp_client		*c;
	sp_script		*rec;
	struct fz_result	*res;
	uint64_t		 lat_limit;
	int			 tls, auth, mail, rcpt_ok;
	int			 closing;	/* 221 or 421 seen */
	int			 quit_sent;	/* a QUIT-like line went out */
	int			 loose;		/* bare CR/LF sent: replies may split */
	/*
	 * The reply count is no longer known: BDAT without CHUNKING (the
	 * chunk is read as commands), more replies than commands.  Silence
	 * and closes are then not judged; the watched process still is.
	 */
	int			 desync;
	/* A 334 left for the session's next line to answer (RFC 4954 4:
	   AUTH LOGIN and the like); that line is then an AUTH response. */
	int			 in_auth;
	int			 group_more;	/* lines follow in this write */
	const struct fz_session	*s;
	size_t			 step, step_npath;
	char			 verb[16];
	/* The reply's text the bug shows in (the next expect checks it). */
	const char		*rec_pattern;
	int			 rec_icase;
};

static void
rec_expect(struct ex *x, int code, unsigned within)
{
	struct sp_script_step	st;

	if (x->rec == NULL)
		return;
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_EXPECT;
	st.expect.within_ms = within;
	if (code >= 200 && code <= 599) {
		snprintf(st.expect.codes[0], 4, "%03d", code);
		st.expect.ncodes = 1;
	}
	st.expect.pattern = x->rec_pattern;
	st.expect.regex = st.expect.icase = x->rec_icase;
	x->rec_pattern = NULL;
	(void)sp_script_append(x->rec, &st);
}

static void
rec_op(struct ex *x, enum sp_script_op op, unsigned ms, unsigned count)
{
	struct sp_script_step	st;

	if (x->rec == NULL)
		return;
	memset(&st, 0, sizeof(st));
	st.op = op;
	st.ms = ms;
	st.count = count;
	(void)sp_script_append(x->rec, &st);
}

static void
rec_text(struct ex *x, enum sp_script_op op, const void *p, size_t n)
{
	if (x->rec != NULL)
		(void)fz_script_text(x->rec, op, p, n);
}

static void verdict(struct ex *, enum fz_oracle, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The first verdict stands, except that a crash, hang or the like
 * overrides a soft one: the session went on after that (fz_soft).
 */
static void
verdict(struct ex *x, enum fz_oracle o, const char *fmt, ...)
{
	va_list	ap;

	if ((x->res->oracle != FZ_OK && !(fz_soft(x->res->oracle) &&
	    !fz_soft(o))) || (x->desync && (o == FZ_CRASH ||
	    o == FZ_HANG || o == FZ_RFC_PIPE_MISSING || o == FZ_RFC_CLOSE ||
	    o == FZ_RFC_354_NO_RCPT)))
		return;
	x->res->oracle = o;
	x->res->trigger = x->step;
	x->res->trigger_state = x->step_npath;
	snprintf(x->res->trigger_verb, sizeof(x->res->trigger_verb), "%s",
	    x->verb);
	va_start(ap, fmt);
	vsnprintf(x->res->detail, sizeof(x->res->detail), fmt, ap);
	va_end(ap);
}

/* The state key: command, code, enhanced code, capabilities, TLS, AUTH. */
static void
add_state(struct ex *x, const struct sp_client_reply *r)
{
	const struct sp_smtp_capabilities *cp = sp_client_capabilities(x->c);
	char	caps[16] = "-";

	if (x->res->npath >= FZ_MAX_PATH)
		return;
	if (cp != NULL)
		snprintf(caps, sizeof(caps), "%c%c%c%c%c%c%c%c",
		    cp->pipelining ? 'P' : '-', cp->chunking ? 'C' : '-',
		    cp->starttls ? 'T' : '-', cp->eightbitmime ? '8' : '-',
		    cp->smtputf8 ? 'U' : '-', cp->dsn ? 'D' : '-',
		    cp->has_size ? 'S' : '-', cp->auth.len > 0 ? 'A' : '-');
	/* Transaction depth, in log2 buckets, tells RCPT #2 from RCPT #5. */
	int	rb = x->rcpt_ok == 0 ? 0 : x->rcpt_ok < 2 ? 1 : x->rcpt_ok < 4 ?
		    2 : x->rcpt_ok < 8 ? 3 : 4;

	snprintf(x->res->path[x->res->npath++], FZ_KEY_LEN,
	    "%s %d %u.%u.%u caps=%s tls=%d auth=%d rcpt=%d",
	    r->kind == SP_SMTP_REPLY_GREETING ? "greeting" : x->verb,
	    r->code, r->enhanced.cls, r->enhanced.subject, r->enhanced.detail,
	    caps, x->tls, x->auth, rb);
}

/* Bookkeeping of one complete reply: states, transaction, oracles. */
static void
on_reply(struct ex *x, const struct sp_client_reply *r)
{
	const struct sp_smtp_capabilities *cp;

	add_state(x, r);
	if (r->latency_ns > x->res->max_latency_ns)
		x->res->max_latency_ns = r->latency_ns;
	if (x->lat_limit > 0 && r->latency_ns > x->lat_limit)
		verdict(x, FZ_LATENCY, "reply to %s far slower than usual",
		    x->verb);
	if (r->code < 200 || r->code > 599)
		verdict(x, FZ_RFC_MALFORMED, "malformed reply to %s", x->verb);
	if (r->code == 221 || r->code == 421)
		x->closing = 1;
	if (r->code != 334)
		x->in_auth = 0;
	if (strcmp(x->verb, "MAIL") == 0 && r->code / 100 == 2)
		x->mail = 1;
	if (strcmp(x->verb, "RCPT") == 0 && r->code / 100 == 2)
		x->rcpt_ok++;
	/*
	 * Only an accepted RSET, EHLO or HELO clears the transaction: one
	 * refused ("RSET\0" -> 500) leaves the server in the same state
	 * (RFC 5321 4.1.4), so a 354 after it is right, not a finding.
	 */
	if ((strcmp(x->verb, "RSET") == 0 || strcmp(x->verb, "EHLO") == 0 ||
	    strcmp(x->verb, "HELO") == 0) && r->code / 100 == 2)
		x->mail = x->rcpt_ok = 0;
	if (strcmp(x->verb, "AUTH") == 0 && r->code == 235)
		x->auth = 1;
	if (strcmp(x->verb, "EHLO") == 0 && r->code == 250 && x->tls &&
	    (cp = sp_client_capabilities(x->c)) != NULL && cp->starttls) {
		verdict(x, FZ_RFC_STARTTLS_AGAIN, "%s",
		    "STARTTLS offered again inside TLS");
		/* The reproducer checks the keyword (RFC 3207 4.2). */
		x->rec_pattern = "STARTTLS";
		x->rec_icase = 1;
	}
}

/*
 * Read one reply.  Returns 1 with a reply, 0 on silence (timeout),
 * -1 when the connection ended or failed.
 */
static int
read_one(struct ex *x, unsigned ms, struct sp_client_reply *r)
{
	sp_err	e;

	/* Out of step, silence is not judged: no use waiting it out. */
	if (x->desync && ms > x->t->quiet_ms)
		ms = x->t->quiet_ms;
	e = sp_client_read_reply(x->c, (int)ms, r);

	if (e == SP_E_OK) {
		on_reply(x, r);
		return (1);
	}
	if (e == SP_E_TIMEOUT)
		return (0);
	if (e == SP_E_CLOSED || e == SP_E_RESET) {
		if (!x->closing && !x->quit_sent) {
			/* A reset is a crash; an orderly close may be the
			   server's will (main.c asks the watched process). */
			verdict(x, e == SP_E_RESET ? FZ_CRASH : FZ_RFC_CLOSE,
			    "connection %s without a reply",
			    e == SP_E_RESET ? "reset" : "closed");
			rec_op(x, SP_STEP_EXPECT_CLOSE, 2000, 0);
		}
		return (-1);
	}
	return (-1);	/* reply over the cap, I/O: no verdict */
}

/* 1 when the next thing sent is a command line of the session. */
static int
line_follows(const struct ex *x)
{
	return (x->group_more || (x->step + 1 < x->s->n &&
	    x->s->steps[x->step + 1].kind == FZ_LINE));
}

/*
 * Replies that need an answer: 354 (end the data) and 334 (cancel,
 * RFC 4954 4, unless a line of the session follows to answer it).
 */
static int
follow_up(struct ex *x, struct sp_client_reply *r)
{
	int	rc;

	if (r->code == 334 && line_follows(x)) {
		x->in_auth = 1;
		return (1);
	}
	for (int i = 0; i < 4 && (r->code == 354 || r->code == 334); i++) {
		const char *p = r->code == 354 ? "\r\n.\r\n" : "*\r\n";
		rec_text(x, SP_STEP_SENDRAW, p, strlen(p));
		if (sp_client_send_raw(x->c, p, strlen(p)) != SP_E_OK)
			return (-1);
		snprintf(x->verb, sizeof(x->verb), "%s",
		    r->code == 354 ? "DATA-END" : "AUTH");
		if ((rc = read_one(x, x->t->timeout_ms, r)) <= 0)
			return (rc);
		rec_expect(x, r->code, 0);
	}
	return (1);
}

/* Take whatever else arrived already (a bare LF split a line...). */
static int
drain(struct ex *x)
{
	struct sp_client_reply	r;
	enum sp_client_event	ev;

	for (int i = 0; i < 8; i++) {
		if (sp_client_wait(x->c, x->loose ? 30 : 0, &ev) != SP_E_OK ||
		    ev != SP_CLIENT_EV_DATA)
			return (ev == SP_CLIENT_EV_SILENCE ? 1 : -1);
		x->desync = 1;	/* a reply nobody asked for */
		if (read_one(x, 200, &r) <= 0)
			return (-1);
		rec_expect(x, r.code, 0);
		if (follow_up(x, &r) <= 0)
			return (-1);
	}
	return (1);
}

/*
 * The line's verb, upper-cased, if it is one of SMTP's; "?" for any
 * other word, so that a mutated verb ("QUITAAAA") makes neither a new
 * state nor a new finding of its own.
 */
static void
line_verb(const struct fz_bytes *b, char *out, size_t cap)
{
	size_t	n = 0;

	for (; n + 1 < cap && n < b->n && isalpha(b->p[n]); n++)
		out[n] = (char)toupper(b->p[n]);
	out[n] = '\0';
	/* The verbs the library's parser knows (SP_SMTP_VERB_MAP). */
	for (int v = SP_SMTP_VERB_UNKNOWN + 1; v < SP_SMTP_VERB__COUNT; v++)
		if (strcmp(out, sp_smtp_verb_name((enum sp_smtp_verb)v)) == 0)
			return;
	snprintf(out, cap, "%s", "?");
}

/* 1 when a reply is certainly due to the line (see the top comment). */
static int
judgeable(const struct fz_bytes *b, int in_group)
{
	char	v[16];

	if (memchr(b->p, '\r', b->n) || memchr(b->p, '\n', b->n))
		return (0);
	line_verb(b, v, sizeof(v));
	if (strcmp(v, "BDAT") == 0)
		return (0);
	if (in_group && (strcmp(v, "DATA") == 0 || strcmp(v, "AUTH") == 0 ||
	    strcmp(v, "STARTTLS") == 0 || strcmp(v, "QUIT") == 0))
		return (0);
	return (1);
}

static int	do_starttls_reply(struct ex *, struct sp_client_reply *, int);

/*
 * A pipelined group got fewer replies than lines.  A NOOP tells a lost
 * reply (the server answers it: RFC 2920 3.2 broken) from a hang on
 * the first unanswered command (it stays silent).
 */
static void
pipe_short(struct ex *x, const struct fz_step *st, size_t got)
{
	struct sp_client_reply	r;
	char			v[16];

	rec_op(x, SP_STEP_EXPECT_COUNT, x->t->timeout_ms, (unsigned)got);
	rec_text(x, SP_STEP_SEND, "NOOP", 4);
	line_verb(&st->lines[got], v, sizeof(v));
	snprintf(x->verb, sizeof(x->verb), "NOOP");
	if (sp_client_send_line(x->c, "NOOP", 4) != SP_E_OK)
		return;
	switch (read_one(x, x->t->timeout_ms, &r)) {
	case 1:
		rec_expect(x, r.code, 0);
		snprintf(x->verb, sizeof(x->verb), "PIPELINE");
		verdict(x, FZ_RFC_PIPE_MISSING, "%zu of %zu pipelined "
		    "commands answered; the server is alive", got, st->nlines);
		break;
	case 0:
		rec_op(x, SP_STEP_EXPECT_SILENCE, x->t->timeout_ms, 0);
		snprintf(x->verb, sizeof(x->verb), "%s", v);
		verdict(x, FZ_HANG, "no reply to pipelined %s (command %zu "
		    "of %zu)", v, got + 1, st->nlines);
		break;
	}
}

/* The verb line i of a step is answered as (AUTH for a response). */
static void
set_verb(struct ex *x, const struct fz_step *st, size_t i)
{
	line_verb(&st->lines[i], x->verb, sizeof(x->verb));
	if (x->in_auth)
		snprintf(x->verb, sizeof(x->verb), "AUTH");
}

/*
 * Send the step's lines in one write; returns 1 when every line
 * certainly gets a reply (judgeable), 0 if not, -1 on failure.
 */
static int
send_lines(struct ex *x, const struct fz_step *st)
{
	uint8_t	*buf;
	size_t	 len = 0;
	int	 judge = 1, rc;
	char	 v[16];

	if ((buf = malloc(FZ_MAX_LINES * (FZ_MAX_LINE + 2))) == NULL)
		return (-1);
	for (size_t i = 0; i < st->nlines; i++) {
		memcpy(buf + len, st->lines[i].p, st->lines[i].n);
		len += st->lines[i].n;
		memcpy(buf + len, "\r\n", 2);
		len += 2;
		judge &= judgeable(&st->lines[i], st->nlines > 1);
		line_verb(&st->lines[i], v, sizeof(v));
		x->quit_sent |= strcmp(v, "QUIT") == 0;
		x->loose |= memchr(st->lines[i].p, '\r', st->lines[i].n) ||
		    memchr(st->lines[i].p, '\n', st->lines[i].n);
	}
	if (st->nlines == 1)
		rec_text(x, SP_STEP_SEND, st->lines[0].p, st->lines[0].n);
	else
		rec_text(x, SP_STEP_SENDRAW, buf, len);
	rc = sp_client_send_raw(x->c, buf, len) == SP_E_OK ? judge : -1;
	free(buf);
	return (rc);
}

/* A line or a pipelined group: one write, one reply per line. */
static int
run_lines(struct ex *x, const struct fz_step *st)
{
	struct sp_client_reply	 r;
	size_t			 got;
	int			 judge, rc = 1;

	set_verb(x, st, 0);
	if ((judge = send_lines(x, st)) < 0)
		return (-1);
	for (got = 0; got < st->nlines; got++) {
		set_verb(x, st, got);
		x->group_more = got + 1 < st->nlines;
		rc = read_one(x, judge ? x->t->timeout_ms : x->t->quiet_ms,
		    &r);
		if (rc <= 0)
			break;
		if (st->nlines == 1 || !judge)
			rec_expect(x, r.code, 0);
		if (r.code == 220 && strcmp(x->verb, "STARTTLS") == 0)
			return (do_starttls_reply(x, &r, got + 1 < st->nlines));
		rc = follow_up(x, &r);
		x->group_more = 0;
		if (rc <= 0)
			break;
	}
	if (rc == 0 && judge && got == 0)
		verdict(x, FZ_HANG, "no reply to %s within the timeout",
		    x->verb), rec_op(x, SP_STEP_EXPECT_SILENCE,
		    x->t->timeout_ms, 0);
	else if (rc == 0 && judge)
		pipe_short(x, st, got);
	else if (rc == 0)
		snprintf(x->res->detail, sizeof(x->res->detail),
		    "silence after %s, not judged", x->verb);
	else if (judge && st->nlines > 1)
		rec_op(x, SP_STEP_EXPECT_COUNT, x->t->timeout_ms,
		    (unsigned)st->nlines);
	return (rc <= 0 ? -1 : drain(x));
}

/* After a 220 to STARTTLS: the handshake; plaintext sent along
   (inject) must not be executed (RFC 3207 4.2, CVE-2011-0411). */
static int
do_starttls_reply(struct ex *x, struct sp_client_reply *r, int inject)
{
	enum sp_client_event	ev;
	int			rc;

	(void)r;
	rec_expect(x, 220, 0);
	rec_op(x, SP_STEP_TLS, 0, 0);
	if (sp_client_tls_upgrade(x->c) != SP_E_OK)
		return (-1);	/* no TLS on our side or theirs: no verdict */
	x->tls = 1;
	x->mail = x->rcpt_ok = 0;
	if (!inject)
		return (1);
	if (sp_client_wait(x->c, (int)x->t->quiet_ms, &ev) != SP_E_OK)
		return (-1);
	if (ev == SP_CLIENT_EV_DATA) {
		verdict(x, FZ_RFC_TLS_INJECT, "%s", "a command sent in "
		    "plaintext with STARTTLS was answered inside TLS");
		rec_op(x, SP_STEP_EXPECT_COUNT, x->t->quiet_ms, 1);
		rc = read_one(x, x->t->timeout_ms, r);
		return (rc <= 0 ? -1 : 1);
	}
	rec_op(x, SP_STEP_EXPECT_SILENCE, x->t->quiet_ms, 0);
	return (ev == SP_CLIENT_EV_SILENCE ? 1 : -1);
}

static int
run_starttls(struct ex *x, const struct fz_step *st)
{
	static const char	 inj[] = "STARTTLS\r\nNOOP\r\n";
	struct sp_client_reply	 r;
	int			 rc;

	snprintf(x->verb, sizeof(x->verb), "STARTTLS");
	if (x->tls)
		return (1);	/* the client cannot nest TLS */
	rec_text(x, SP_STEP_SENDRAW, inj, st->inject ? sizeof(inj) - 1 : 10);
	if (sp_client_send_raw(x->c, inj, st->inject ? sizeof(inj) - 1 :
	    10) != SP_E_OK)
		return (-1);
	if ((rc = read_one(x, x->t->timeout_ms, &r)) <= 0) {
		if (rc == 0)
			verdict(x, FZ_HANG, "no reply to %s", "STARTTLS"),
			    rec_op(x, SP_STEP_EXPECT_SILENCE,
			    x->t->timeout_ms, 0);
		return (-1);
	}
	if (r.code == 220)
		return (do_starttls_reply(x, &r, st->inject));
	rec_expect(x, r.code, 0);
	if ((rc = follow_up(x, &r)) <= 0)
		return (-1);
	if (st->inject) {
		snprintf(x->verb, sizeof(x->verb), "NOOP");
		if ((rc = read_one(x, x->t->timeout_ms, &r)) <= 0)
			return (-1);	/* the NOOP got no reply: unjudged */
		rec_expect(x, r.code, 0);
	}
	return (drain(x));
}

/* RFC 5321 4.5.2: a line starting with "." gets another one. */
static uint8_t *
stuff(const struct fz_bytes *b, size_t *len)
{
	uint8_t	*q = malloc(2 * b->n + 1);
	size_t	 n = 0;
	int	 bol = 1;

	if (q == NULL)
		return (NULL);
	for (size_t i = 0; i < b->n; i++) {
		if (bol && b->p[i] == '.')
			q[n++] = '.';
		q[n++] = b->p[i];
		bol = b->p[i] == '\n';
	}
	*len = n;
	return (q);
}

/* The end-of-data reply; a clean body left unanswered is a hang. */
static int
data_end(struct ex *x, const struct fz_step *st, struct sp_client_reply *r)
{
	int	rc;

	snprintf(x->verb, sizeof(x->verb), "DATA-END");
	if ((rc = read_one(x, x->t->timeout_ms, r)) <= 0) {
		/* A body with its own stray terminator may leave the server
		   waiting for a command: only judge clean bodies. */
		if (rc == 0 && (st->body.n == 0 ||
		    memchr(st->body.p, '.', st->body.n) == NULL))
			verdict(x, FZ_HANG, "no reply to %s", "end of data"),
			    rec_op(x, SP_STEP_EXPECT_SILENCE,
			    x->t->timeout_ms, 0);
		return (rc);
	}
	x->mail = x->rcpt_ok = 0;
	rec_expect(x, r->code, 0);
	return (1);
}

/*
 * Only CRLF.CRLF ends data (RFC 5321 4.1.1.4): a reply within the
 * quiet time after another variant is smuggling.  Then CRLF.CRLF.
 */
static int
eod_quiet(struct ex *x, const struct fz_eod *eod)
{
	struct sp_client_reply	r;
	enum sp_client_event	ev;

	if (sp_client_wait(x->c, (int)x->t->quiet_ms, &ev) != SP_E_OK)
		return (-1);
	if (ev == SP_CLIENT_EV_DATA) {
		verdict(x, FZ_RFC_BARE_EOD, "end of data %s accepted",
		    eod->name);
		rec_op(x, SP_STEP_EXPECT_COUNT, x->t->quiet_ms, 1);
		return (-1);
	}
	if (ev != SP_CLIENT_EV_SILENCE) {
		(void)read_one(x, 10, &r);	/* crash verdict */
		return (-1);
	}
	rec_op(x, SP_STEP_EXPECT_SILENCE, x->t->quiet_ms, 0);
	rec_text(x, SP_STEP_SENDRAW, "\r\n.\r\n", 5);
	return (sp_client_send_raw(x->c, "\r\n.\r\n", 5) == SP_E_OK ? 1 : -1);
}

/*
 * The fast judge while fuzzing (fz_target.probe_eod): CRLF.CRLF and a
 * NOOP went right behind the variant.  A strict server answers the
 * data, then the NOOP with 250 (RFC 5321 4.1.1.9); one that took the
 * variant as the end answers the lines "" and "." in between.  The
 * finding is then rechecked the slow way, by silence.
 */
static int
eod_probe(struct ex *x, const struct fz_step *st, const struct fz_eod *eod)
{
	struct sp_client_reply	r;
	int			rc;

	if ((rc = data_end(x, st, &r)) <= 0)
		return (rc < 0 ? -1 : 0);
	snprintf(x->verb, sizeof(x->verb), "NOOP");
	if (read_one(x, x->t->timeout_ms, &r) <= 0)
		return (-1);
	if (r.code != 250) {
		snprintf(x->verb, sizeof(x->verb), "DATA-END");
		verdict(x, FZ_RFC_BARE_EOD, "end of data %s accepted (a NOOP "
		    "sent behind CRLF.CRLF got %d)", eod->name, r.code);
		return (-1);
	}
	return (drain(x));
}

/* The body, dot-stuffed, with its end-of-data variant, in one write. */
static int
send_body(struct ex *x, const struct fz_step *st, const struct fz_eod *eod,
    int probe)
{
	static const char	 tail[] = "\r\n.\r\nNOOP\r\n";
	uint8_t			*body, *q;
	size_t			 n, extra = eod->len + (probe ? 11 : 0);
	int			 rc;

	if ((body = stuff(&st->body, &n)) == NULL)
		return (-1);
	if ((q = realloc(body, n + extra)) == NULL) {
		free(body);
		return (-1);
	}
	body = q;
	memcpy(body + n, eod->bytes, eod->len);
	if (probe)
		memcpy(body + n + eod->len, tail, 11);
	n += extra;
	if (!probe)
		rec_text(x, SP_STEP_SENDRAW, body, n);
	rc = sp_client_send_raw(x->c, body, n) == SP_E_OK ? 1 : -1;
	free(body);
	return (rc);
}

static int
run_data(struct ex *x, const struct fz_step *st)
{
	const struct fz_eod	*eod = &fz_eods[st->term % fz_neods];
	struct sp_client_reply	 r;
	int			 rc, probe;

	snprintf(x->verb, sizeof(x->verb), "DATA");
	rec_text(x, SP_STEP_SEND, "DATA", 4);
	if (sp_client_send_line(x->c, "DATA", 4) != SP_E_OK)
		return (-1);
	if ((rc = read_one(x, x->t->timeout_ms, &r)) <= 0) {
		if (rc == 0)
			verdict(x, FZ_HANG, "no reply to %s", "DATA"),
			    rec_op(x, SP_STEP_EXPECT_SILENCE,
			    x->t->timeout_ms, 0);
		return (-1);
	}
	rec_expect(x, r.code, 0);
	if (r.code != 354)
		return (follow_up(x, &r) <= 0 ? -1 : drain(x));
	if (!x->rcpt_ok)
		verdict(x, FZ_RFC_354_NO_RCPT, "%s", "354 to DATA without an "
		    "accepted recipient");
	/* A script records the slow judge: silence is what it replays. */
	probe = x->t->probe_eod && x->rec == NULL && eod != &fz_eods[0];
	if (send_body(x, st, eod, probe) < 0)
		return (-1);
	snprintf(x->verb, sizeof(x->verb), "DATA-END");
	if (probe)
		return (eod_probe(x, st, eod));
	if (eod != &fz_eods[0] && eod_quiet(x, eod) <= 0)
		return (-1);
	return (data_end(x, st, &r) <= 0 ? -1 : drain(x));
}

static int
run_bdat(struct ex *x, const struct fz_step *st)
{
	struct sp_script_step	 ss;
	struct sp_client_reply	 r;
	int			 rc;

	const struct sp_smtp_capabilities *cp = sp_client_capabilities(x->c);

	snprintf(x->verb, sizeof(x->verb), "BDAT");
	if (cp == NULL || !cp->chunking)
		x->desync = 1;	/* RFC 3030 applies only when offered */
	if (x->rec != NULL) {
		memset(&ss, 0, sizeof(ss));
		ss.op = SP_STEP_BDAT;
		ss.size = st->body.n;
		ss.last = st->last;
		ss.has_text = 1;
		ss.text.p = fz_escape(st->body.p, st->body.n, &ss.text.len);
		if (ss.text.p != NULL)
			(void)sp_script_append(x->rec, &ss);
		free((void *)ss.text.p);
	}
	if (sp_client_send_bdat(x->c, st->body.p, st->body.n, st->last) !=
	    SP_E_OK)
		return (-1);
	if ((rc = read_one(x, x->t->timeout_ms, &r)) <= 0) {
		if (rc == 0)
			verdict(x, FZ_HANG, "no reply to %s", "BDAT"),
			    rec_op(x, SP_STEP_EXPECT_SILENCE,
			    x->t->timeout_ms, 0);
		return (-1);
	}
	rec_expect(x, r.code, 0);
	if (st->last)
		x->mail = x->rcpt_ok = 0;
	return (follow_up(x, &r) <= 0 ? -1 : drain(x));
}

static int
run_step(struct ex *x, const struct fz_step *st)
{
	switch (st->kind) {
	case FZ_LINE:
	case FZ_PIPE:
		return (st->nlines > 0 ? run_lines(x, st) : 1);
	case FZ_DATA:
		return (run_data(x, st));
	case FZ_BDAT:
		return (run_bdat(x, st));
	case FZ_STARTTLS:
		return (run_starttls(x, st));
	}
	return (-1);
}

/* Would this step re-run a hang already reported from this state? */
static int
known_hang(struct ex *x, const struct fz_step *st)
{
	char	v[16];

	if (x->t->avoid == NULL || x->res->npath == 0)
		return (0);
	for (size_t i = 0; i < st->nlines || i == 0; i++) {
		if (st->kind == FZ_LINE || st->kind == FZ_PIPE)
			line_verb(&st->lines[i], v, sizeof(v));
		else
			snprintf(v, sizeof(v), "%s", fz_step_verb(st, v,
			    sizeof(v)));
		if (x->t->avoid(x->t->avoid_ud,
		    x->res->path[x->res->npath - 1], v))
			return (1);
		if (st->nlines == 0)
			break;
	}
	return (0);
}

static sp_client *
connect_target(const struct fz_target *t)
{
	struct sp_client_options	o;
	sp_client			*c;

	sp_client_options_default(&o);
	o.timeouts.connect_ms = 2000;
	o.timeouts.tls_ms = 2000;
	o.no_verify = 1;
	o.ca_file = t->ca_file;
	if (sp_client_new(&c, &o) != SP_E_OK)
		return (NULL);
	if (sp_client_connect(c, t->host, t->port) != SP_E_OK) {
		sp_client_free(c);
		return (NULL);
	}
	return (c);
}

/*
 * Soft findings leave the dialogue in step: the session goes on, so a
 * server that, say, offers STARTTLS again inside TLS is still fuzzed
 * inside TLS.
 */
int
fz_soft(enum fz_oracle o)
{
	return (o == FZ_RFC_354_NO_RCPT || o == FZ_RFC_STARTTLS_AGAIN ||
	    o == FZ_RFC_MALFORMED || o == FZ_LATENCY);
}

int
fz_reachable(const struct fz_target *t)
{
	sp_client	*c = connect_target(t);

	sp_client_free(c);
	return (c != NULL);
}

/* After the last step: does the server close within linger_ms? */
static void
linger(struct ex *x)
{
	struct sp_client_reply	r;
	enum sp_client_event	ev = SP_CLIENT_EV_SILENCE;

	if (sp_client_wait(x->c, (int)x->t->linger_ms, &ev) == SP_E_OK &&
	    ev == SP_CLIENT_EV_DATA) {
		(void)read_one(x, 100, &r);
		(void)sp_client_wait(x->c, (int)x->t->linger_ms, &ev);
	}
	x->res->peer_closed = ev == SP_CLIENT_EV_CLOSED ||
	    ev == SP_CLIENT_EV_RESET || !sp_client_is_open(x->c);
}

void
fz_exec(const struct fz_target *t, const struct fz_session *s,
    uint64_t latency_limit_ns, sp_script *rec, struct fz_result *res)
{
	struct sp_client_reply	 r;
	struct ex		 x;
	int			 rc;

	memset(res, 0, sizeof(*res));
	memset(&x, 0, sizeof(x));
	x.t = t;
	x.rec = rec;
	x.res = res;
	x.lat_limit = latency_limit_ns;
	x.s = s;
	if ((x.c = connect_target(t)) == NULL)
		return;
	res->connected = 1;
	snprintf(x.verb, sizeof(x.verb), "greeting");
	if ((rc = read_one(&x, t->timeout_ms, &r)) > 0) {
		rec_expect(&x, r.code, 0);
		for (size_t i = 0; i < s->n && !x.closing; i++) {
			if (known_hang(&x, &s->steps[i]))
				break;
			x.step = i;
			x.step_npath = res->npath;
			if (run_step(&x, &s->steps[i]) <= 0 ||
			    (res->oracle != FZ_OK && !fz_soft(res->oracle)))
				break;
		}
	} else if (rc == 0)
		verdict(&x, FZ_HANG, "no greeting within the timeout%s", "");
	if (t->linger_ms > 0 && res->oracle == FZ_OK)
		linger(&x);
	sp_client_free(x.c);
}
