/*
 * script_from_session.c - the client side of a decoded session turned
 * into a script: what the client sent becomes send/pipeline/data/bdat/
 * auth steps, and each reply the server gave becomes an expect with
 * its code, so replaying the script checks that the server still
 * answers as it did.
 *
 * Commands of one pipeline group (the parser numbers them: a group is
 * what was sent while earlier replies were still awaited, RFC 2920)
 * go out in one write again.  Message bytes arrive dot-unstuffed
 * (what the server received); the runner stuffs them again.  Bytes
 * are doubled where they hold '$', since step text is a template.
 * The conversion stops at STARTTLS: what followed was encrypted.
 *
 * Timing (o.speed): the pause before each client write is the time
 * since the session's previous event, i.e. the client's own think
 * time, not the server's; the replay waits for replies anyway, so
 * only that part is the client's to reproduce.
 *
 * Raw DATA (o.raw_data): the analyzer's stream events give the client
 * bytes; those from the message's first byte to the strict end of
 * data (the first CRLF "." CRLF, RFC 5321 4.1.1.4) are what the client
 * sent.  When encoding the stored message again (sp_data_enc) would
 * give other bytes, the message goes out as those bytes.
 */
#include <stdio.h>
#include <strings.h>

#include "script_int.h"
#include "smtpproto/analyzer.h"

enum body_kind { BODY_NONE = 0, BODY_DATA, BODY_DATA_BODY, BODY_BDAT };

struct sp_script_conv {
	struct sp_script_conv_options	 o;
	sp_script			*s;
	int				 stopped;
	sp_err				 err;		/* sticky */
	/* The pipeline group being collected. */
	struct sp_str			*g;
	size_t				 ng, gcap;
	uint64_t			 group;
	int				 data_in_group;
	/* DATA waiting for its 354; a message or chunk being collected. */
	int				 data_alone;
	int				 starttls;
	int				 auth;		/* an AUTH exchange */
	enum body_kind			 body;
	struct sp_str			 bytes;
	uint64_t			 bdat_size;
	int				 bdat_last;
	/* Timing: the latest event, and pauses waiting for their step. */
	sp_ts				 last_ts;
	unsigned			 group_sleep, sleep;	/* ms */
	/* Raw DATA: client bytes from raw_off on (see raw_trim). */
	struct sp_str			 raw;
	uint64_t			 raw_off;
	int				 raw_msg;	/* raw starts a message */
};

#define DEFAULT_MAX_GAP_MS	10000u
#define RAW_SLACK		(64u * 1024)	/* raw beyond max_bytes */

sp_err
sp_script_conv_new(sp_script_conv **out, const struct sp_script_conv_options *o)
{
	sp_script_conv	*cv;

	if (out == NULL)
		return (SP_E_INVAL);
	if ((cv = calloc(1, sizeof(*cv))) == NULL)
		return (SP_E_NOMEM);
	if (o != NULL)
		cv->o = *o;
	if (cv->o.max_bytes == 0)
		cv->o.max_bytes = (size_t)64 * 1024 * 1024;
	/* The raw buffer's cap and twice it (escaped) must not overflow. */
	if (cv->o.max_bytes > SIZE_MAX / 4 - RAW_SLACK)
		cv->o.max_bytes = SIZE_MAX / 4 - RAW_SLACK;
	if (cv->o.max_gap_ms == 0)
		cv->o.max_gap_ms = DEFAULT_MAX_GAP_MS;
	if (!(cv->o.speed > 0))		/* also NaN */
		cv->o.speed = 0;
	sp__str_init(&cv->raw, cv->o.max_bytes + RAW_SLACK);
	if (sp_script_new(&cv->s) != SP_E_OK) {
		free(cv);
		return (SP_E_NOMEM);
	}
	*out = cv;
	return (SP_E_OK);
}

static void
clear_group(sp_script_conv *cv)
{
	for (size_t i = 0; i < cv->ng; i++)
		free(cv->g[i].p);
	cv->ng = 0;
	cv->data_in_group = 0;
}

void
sp_script_conv_free(sp_script_conv *cv)
{
	if (cv == NULL)
		return;
	clear_group(cv);
	free(cv->g);
	free(cv->bytes.p);
	free(cv->raw.p);
	sp_script_free(cv->s);
	free(cv);
}

/* Bytes as template text: every '$' doubled. */
static void
add_literal(struct sp_str *dst, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sp__str_add(dst, p[i] == '$' ? "$$" : (const char *)p + i,
		    p[i] == '$' ? 2 : 1);
}

static sp_err
emit(sp_script_conv *cv, struct sp_script_step *st)
{
	return (sp_script_append(cv->s, st));
}

static sp_err
emit_text(sp_script_conv *cv, enum sp_script_op op, const struct sp_str *t)
{
	struct sp_script_step	st;

	memset(&st, 0, sizeof(st));
	st.op = op;
	st.text.p = (const uint8_t *)(t->p != NULL ? t->p : "");
	st.text.len = t->len;
	st.has_text = 1;
	return (emit(cv, &st));
}

static sp_err
emit_expect(sp_script_conv *cv, int code)
{
	struct sp_script_step	st;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_EXPECT;
	if (code >= 100 && code <= 599) {
		(void)snprintf(st.expect.codes[0], 4, cv->o.code_class ?
		    "%dxx" : "%d", cv->o.code_class ? code / 100 : code);
		st.expect.ncodes = 1;
	}
	return (emit(cv, &st));
}

/*
 * The client's pause before a write at ts, scaled and capped, in ms;
 * 0 without timing.  Every event moves last_ts on (note_time).
 */
static unsigned
pause_ms(const sp_script_conv *cv, sp_ts ts)
{
	double	ms;

	if (cv->o.speed == 0 || cv->last_ts == 0 || ts <= cv->last_ts)
		return (0);
	ms = (double)(ts - cv->last_ts) / 1e6 / cv->o.speed;
	return (ms >= cv->o.max_gap_ms ? cv->o.max_gap_ms : (unsigned)ms);
}

static void
note_time(sp_script_conv *cv, sp_ts ts)
{
	if (ts > cv->last_ts)
		cv->last_ts = ts;
}

static sp_err
emit_sleep(sp_script_conv *cv, unsigned *ms)
{
	struct sp_script_step	st;

	if (*ms == 0)
		return (SP_E_OK);
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_SLEEP;
	st.ms = *ms;
	*ms = 0;
	return (emit(cv, &st));
}

/* Drop the raw client bytes before stream offset off. */
static void
raw_trim(sp_script_conv *cv, uint64_t off)
{
	uint64_t	k;

	if (off <= cv->raw_off)
		return;
	k = off - cv->raw_off;
	if (k >= cv->raw.len) {
		cv->raw.len = 0;
		cv->raw_off = off;
		return;
	}
	memmove(cv->raw.p, cv->raw.p + k, cv->raw.len - (size_t)k);
	cv->raw.len -= (size_t)k;
	cv->raw_off = off;
}

/* The collected group: one command is "send", more are "pipeline". */
static sp_err
flush_group(sp_script_conv *cv)
{
	struct sp_script_step	 st;
	struct sp_script_text	*lines;
	sp_err			 e;

	if (cv->ng == 0)
		return (SP_E_OK);
	if ((e = emit_sleep(cv, &cv->group_sleep)) != SP_E_OK)
		return (e);
	if (cv->ng == 1) {
		e = emit_text(cv, SP_STEP_SEND, &cv->g[0]);
		clear_group(cv);
		return (e);
	}
	if ((lines = calloc(cv->ng, sizeof(*lines))) == NULL)
		return (SP_E_NOMEM);
	for (size_t i = 0; i < cv->ng; i++) {
		lines[i].p = (const uint8_t *)(cv->g[i].p ? cv->g[i].p : "");
		lines[i].len = cv->g[i].len;
	}
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_PIPELINE;
	st.lines = lines;
	st.nlines = cv->ng;
	e = emit(cv, &st);
	free(lines);
	clear_group(cv);
	return (e);
}

static sp_err
flush_bdat(sp_script_conv *cv)
{
	struct sp_script_step	st;
	sp_err			e;

	if (cv->body != BODY_BDAT)
		return (SP_E_OK);
	if ((e = emit_sleep(cv, &cv->sleep)) != SP_E_OK)
		return (e);
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_BDAT;
	st.size = cv->bdat_size;
	st.last = cv->bdat_last;
	st.has_text = 1;
	st.text.p = (const uint8_t *)(cv->bytes.p ? cv->bytes.p : "");
	st.text.len = cv->bytes.len;
	e = emit(cv, &st);
	free(cv->bytes.p);
	memset(&cv->bytes, 0, sizeof(cv->bytes));
	cv->body = BODY_NONE;
	return (e);
}

static sp_err
add_to_group(sp_script_conv *cv, const struct sp_smtp_command *c, size_t n)
{
	struct sp_str	*ng;
	size_t		 ncap;

	if (cv->ng > 0 && c->group != cv->group) {
		sp_err	e = flush_group(cv);

		if (e != SP_E_OK)
			return (e);
	}
	if (cv->ng == cv->gcap) {
		ncap = cv->gcap != 0 ? 2 * cv->gcap : 8;
		if (ncap > 100000 || (ng = realloc(cv->g,
		    ncap * sizeof(*ng))) == NULL)
			return (SP_E_NOMEM);
		cv->g = ng;
		cv->gcap = ncap;
	}
	if (cv->ng == 0)
		cv->group_sleep = pause_ms(cv, c->ts);
	sp__str_init(&cv->g[cv->ng], 1024 * 1024);
	add_literal(&cv->g[cv->ng], c->line.p, n);
	if (cv->g[cv->ng++].failed)
		return (SP_E_NOMEM);
	cv->group = c->group;
	return (SP_E_OK);
}

/* A line that does not end in CRLF is sent exactly (C1, smuggling). */
static sp_err
raw_command(sp_script_conv *cv, const struct sp_smtp_command *c)
{
	struct sp_str	t;
	sp_err		e;

	if ((e = flush_group(cv)) != SP_E_OK)
		return (e);
	cv->sleep = pause_ms(cv, c->ts);
	if ((e = emit_sleep(cv, &cv->sleep)) != SP_E_OK)
		return (e);
	sp__str_init(&t, 1024 * 1024);
	add_literal(&t, c->line.p, c->line.len);
	e = t.failed ? SP_E_NOMEM : emit_text(cv, SP_STEP_SENDRAW, &t);
	free(t.p);
	return (e);
}

/*
 * DATA: in a pipeline group it is a line of the group; alone it
 * becomes a data step that reads the 354 itself, except with timing or
 * raw DATA, which need the body as a step of its own (data-body or
 * sendraw after "send DATA" and "expect 354").
 */
static sp_err
data_command(sp_script_conv *cv, const struct sp_smtp_command *c)
{
	sp_err	e;

	if ((cv->ng > 0 && c->group == cv->group) || cv->o.speed > 0 ||
	    cv->o.raw_data) {
		cv->data_in_group = 1;
		return (add_to_group(cv, c, c->line.len - 2));
	}
	if ((e = flush_group(cv)) != SP_E_OK)
		return (e);
	cv->data_alone = 1;
	return (SP_E_OK);
}

static sp_err
on_command(sp_script_conv *cv, const struct sp_smtp_command *c)
{
	size_t	n = c->line.len;
	sp_err	e;

	if ((e = flush_bdat(cv)) != SP_E_OK)
		return (e);
	if (cv->o.raw_data)
		raw_trim(cv, c->offset + n);
	if (n < 2 || c->line.p[n - 2] != '\r' || c->line.p[n - 1] != '\n' ||
	    memchr(c->line.p, '\r', n - 2) != NULL ||
	    memchr(c->line.p, '\n', n - 2) != NULL)
		return (raw_command(cv, c));
	switch (c->verb) {
	case SP_SMTP_VERB_STARTTLS:
		cv->starttls = 1;
		return (flush_group(cv));
	case SP_SMTP_VERB_AUTH:
		cv->auth = 1;		/* the AUTH event gives the step */
		cv->sleep = pause_ms(cv, c->ts);
		return (flush_group(cv));
	case SP_SMTP_VERB_BDAT:
		if ((e = flush_group(cv)) != SP_E_OK)
			return (e);
		cv->sleep = pause_ms(cv, c->ts);
		cv->body = BODY_BDAT;
		cv->bdat_size = c->bdat_size;
		cv->bdat_last = c->bdat_last;
		sp__str_init(&cv->bytes, cv->o.max_bytes);
		return (SP_E_OK);
	case SP_SMTP_VERB_DATA:
		return (data_command(cv, c));
	default:
		return (add_to_group(cv, c, n - 2));
	}
}

/* The 354 to a DATA: the message follows. */
static sp_err
data_started(sp_script_conv *cv, const struct sp_smtp_reply *r)
{
	sp_err	e = SP_E_OK;

	if (cv->data_alone) {
		cv->data_alone = 0;
		cv->body = BODY_DATA;	/* the data step reads the 354 */
	} else {
		cv->body = BODY_DATA_BODY;
		e = emit_expect(cv, r->code);
	}
	sp__str_init(&cv->bytes, cv->o.max_bytes);
	return (e);
}

/*
 * The client's bytes, before the parser's events for them.  A hole
 * (a TCP gap) or an overflow starts the buffer afresh: what it held is
 * then not the exact stream, and no message is sent from it.
 */
static sp_err
on_stream(sp_script_conv *cv, const struct sp_event *ev)
{
	if (!cv->o.raw_data || ev->dir != SP_DIR_CLIENT)
		return (SP_E_OK);
	if (cv->raw.failed || ev->offset != cv->raw_off + cv->raw.len) {
		cv->raw.len = 0;
		cv->raw.failed = 0;
		cv->raw_off = ev->offset;
		cv->raw_msg = 0;
	}
	sp__str_add(&cv->raw, ev->u.data.p, ev->u.data.n);
	return (SP_E_OK);
}

/* DATA content begins: its pause, and where its raw bytes start. */
static sp_err
on_message_begin(sp_script_conv *cv, const struct sp_event *ev)
{
	if (ev->u.message.msg->method != SP_SMTP_METHOD_DATA)
		return (SP_E_OK);
	cv->sleep = cv->body == BODY_DATA_BODY ? pause_ms(cv, ev->ts) : 0;
	if (!cv->o.raw_data)
		return (SP_E_OK);
	raw_trim(cv, ev->offset);
	cv->raw_msg = cv->raw_off == ev->offset;
	return (SP_E_OK);
}

/*
 * The raw content's length up to and including the strict end of data
 * (the first CRLF "." CRLF; the content starts after DATA's CRLF, so
 * a leading ".\r\n" ends it too), or 0 when it is not all held.
 */
static size_t
raw_end(const sp_script_conv *cv)
{
	const char	*p = cv->raw.p, *q;
	size_t		 n = cv->raw.len, i = 0;

	if (!cv->raw_msg || cv->raw.failed || p == NULL)
		return (0);
	if (n >= 3 && memcmp(p, ".\r\n", 3) == 0)
		return (3);
	while (i + 5 <= n && (q = memchr(p + i, '\r', n - i - 4)) != NULL) {
		i = (size_t)(q - p);
		if (memcmp(q, "\r\n.\r\n", 5) == 0)
			return (i + 5);
		i++;
	}
	return (0);
}

/* Does the stored message (template text) encode to raw exactly? */
static int
encodes_to(const struct sp_str *tmpl, const char *raw, size_t rn)
{
	struct sp_data_enc	e;
	uint8_t			out[8], ch;
	size_t			o = 0, k;

	sp_data_enc_init(&e, 0);	/* as the runner sends inline text */
	for (size_t i = 0; i < tmpl->len; i++) {
		ch = (uint8_t)tmpl->p[i];
		i += ch == '$';			/* "$$" is one '$' */
		k = sp_data_enc_update(&e, &ch, 1, out);
		if (k > rn - o || memcmp(raw + o, out, k) != 0)
			return (0);
		o += k;
	}
	k = sp_data_enc_final(&e, out);
	return (k == rn - o && memcmp(raw + o, out, k) == 0);
}

/* The message step: the stored bytes, or the raw ones in t. */
static void
message_step(sp_script_conv *cv, struct sp_script_step *st,
    struct sp_str *t)
{
	size_t	n = cv->body == BODY_DATA_BODY ? raw_end(cv) : 0;

	memset(st, 0, sizeof(*st));
	st->op = cv->body == BODY_DATA ? SP_STEP_DATA : SP_STEP_DATA_BODY;
	st->has_text = 1;
	st->text.p = (const uint8_t *)(cv->bytes.p ? cv->bytes.p : "");
	st->text.len = cv->bytes.len;
	sp__str_init(t, 2 * cv->raw.max);
	if (n == 0 || encodes_to(&cv->bytes, cv->raw.p, n))
		return;
	add_literal(t, (const uint8_t *)cv->raw.p, n);
	st->op = SP_STEP_SENDRAW;
	st->text.p = (const uint8_t *)(t->p != NULL ? t->p : "");
	st->text.len = t->len;
	raw_trim(cv, cv->raw_off + n);
}

static sp_err
data_ended(sp_script_conv *cv, const struct sp_smtp_reply *r)
{
	struct sp_script_step	st;
	struct sp_str		t;
	sp_err			e;

	message_step(cv, &st, &t);
	e = cv->bytes.failed || t.failed ? SP_E_LIMIT :
	    emit_sleep(cv, &cv->sleep);
	if (e == SP_E_OK)
		e = emit(cv, &st);
	free(t.p);
	free(cv->bytes.p);
	memset(&cv->bytes, 0, sizeof(cv->bytes));
	cv->body = BODY_NONE;
	cv->raw_msg = 0;
	return (e != SP_E_OK ? e : emit_expect(cv, r->code));
}

static sp_err
plain_send(sp_script_conv *cv, const char *line)
{
	struct sp_str	t = { (char *)line, strlen(line), 0, 0, 0 };

	return (emit_text(cv, SP_STEP_SEND, &t));
}

static sp_err
on_reply(sp_script_conv *cv, const struct sp_smtp_reply *r)
{
	sp_err	e;

	if ((e = flush_group(cv)) != SP_E_OK || (e = flush_bdat(cv)) != SP_E_OK)
		return (e);
	if (r->intermediate || (cv->auth && r->cmd_verb == SP_SMTP_VERB_AUTH))
		return (SP_E_OK);
	if (r->kind == SP_SMTP_REPLY_DATA_END && cv->body != BODY_NONE)
		return (data_ended(cv, r));
	if (cv->starttls && r->cmd_verb == SP_SMTP_VERB_STARTTLS) {
		cv->starttls = 0;
		if (r->code == 220) {
			struct sp_script_step	st = { .op = SP_STEP_STARTTLS };

			cv->stopped = 1;
			return (emit(cv, &st));
		}
		if ((e = plain_send(cv, "STARTTLS")) != SP_E_OK)
			return (e);
	}
	if (r->cmd_verb == SP_SMTP_VERB_DATA && r->code == 354)
		return (data_started(cv, r));
	if (cv->data_alone && r->cmd_verb == SP_SMTP_VERB_DATA) {
		cv->data_alone = 0;
		if ((e = plain_send(cv, "DATA")) != SP_E_OK)
			return (e);
	}
	return (emit_expect(cv, r->code));
}

/*
 * The AUTH exchange, once over: a known mechanism becomes an auth
 * step (the secret only if the capture showed it), then its reply.
 */
static sp_err
on_auth(sp_script_conv *cv, const struct sp_smtp_auth *a)
{
	struct sp_script_step	 st;
	struct sp_str		 user, secret;
	sp_err			 e = SP_E_OK;

	cv->auth = 0;
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_AUTH;
	st.mech = sp_script_auth_from_name((const char *)a->mechanism.p,
	    a->mechanism.len);
	if (st.mech == 0)
		return (a->code != 0 ? emit_expect(cv, a->code) : SP_E_OK);
	sp__str_init(&user, 4096);
	sp__str_init(&secret, 4096);
	add_literal(&user, a->user.p, a->user.len);
	add_literal(&secret, a->secret.p, a->secret.len);
	sp__str_add(&user, "", 0);
	st.user = user.p != NULL ? user.p : "";
	st.secret = a->redacted || secret.p == NULL ? "$SP_AUTH_SECRET" :
	    secret.p;
	if (user.failed || secret.failed)
		e = SP_E_LIMIT;
	if (e == SP_E_OK)
		e = emit_sleep(cv, &cv->sleep);
	if (e == SP_E_OK)
		e = emit(cv, &st);
	free(user.p);
	free(secret.p);
	if (e != SP_E_OK)
		return (e);
	return (a->code != 0 ? emit_expect(cv, a->code) : SP_E_OK);
}

static sp_err
on_data(sp_script_conv *cv, const uint8_t *p, size_t n)
{
	if (cv->body == BODY_NONE)
		return (SP_E_OK);
	add_literal(&cv->bytes, p, n);
	return (cv->bytes.failed ? SP_E_LIMIT : SP_E_OK);
}

static sp_err
dispatch(sp_script_conv *cv, const struct sp_event *ev)
{
	switch (ev->kind) {
	case SP_EV_COMMAND:
		return (on_command(cv, ev->u.command));
	case SP_EV_REPLY:
		return (on_reply(cv, ev->u.reply));
	case SP_EV_AUTH:
		return (on_auth(cv, ev->u.auth));
	case SP_EV_MESSAGE_DATA:
		return (on_data(cv, ev->u.data.p, ev->u.data.n));
	case SP_EV_MESSAGE_BEGIN:
		return (on_message_begin(cv, ev));
	case SP_EV_STREAM:
		return (on_stream(cv, ev));
	case SP_EV_TLS:
	case SP_EV_SESSION_END:
		cv->stopped = 1;
		return (SP_E_OK);
	default:
		return (SP_E_OK);
	}
}

sp_err
sp_script_conv_event(sp_script_conv *cv, const struct sp_event *ev)
{
	if (cv == NULL || ev == NULL)
		return (SP_E_INVAL);
	if (cv->err != SP_E_OK || cv->stopped)
		return (cv->err);
	cv->err = dispatch(cv, ev);
	if (ev->kind == SP_EV_COMMAND || ev->kind == SP_EV_REPLY ||
	    ev->kind == SP_EV_MESSAGE_DATA)
		note_time(cv, ev->ts);
	return (cv->err);
}

sp_err
sp_script_conv_finish(sp_script_conv *cv, sp_script **out)
{
	sp_err	e;

	if (cv == NULL || out == NULL)
		return (SP_E_INVAL);
	*out = NULL;
	if (cv->err != SP_E_OK)
		return (cv->err);
	if ((e = flush_group(cv)) != SP_E_OK || (e = flush_bdat(cv)) != SP_E_OK)
		return (cv->err = e);
	*out = cv->s;
	cv->s = NULL;
	return (SP_E_OK);
}
