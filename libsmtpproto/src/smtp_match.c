/*
 * smtp_match.c - each complete reply is paired with the oldest command
 * awaiting one (RFC 2920 3.2 (1): replies keep the order of commands),
 * and then applied: what it means for the transaction, the client's
 * state, TLS and AUTH.
 */
#include "smtp_int.h"

static sp_err
emit_reply(sp_smtp_parser *p, const struct sp_smtp_reply *r)
{
	if (p->cb.on_reply == NULL)
		return (SP_E_OK);
	return (sp__smtp_cb(p, p->cb.on_reply(p->ud, r)));
}

static int
is_2xx(int code)
{
	return (code >= 200 && code < 300);
}

/*
 * The 220 to STARTTLS: both directions turn to TLS after it (RFC 3207
 * 4.2) and the client's knowledge is discarded.  Plaintext the client
 * sent after "STARTTLS\r\n" was seen before this reply in capture
 * order: now we know it would have been read inside TLS by a buggy
 * server (CVE-2011-0411).
 */
static sp_err
tls_begin(sp_smtp_parser *p, const struct pend *q)
{
	struct sp_smtp_tls	 t;
	char			 show[2 * SMUG_SHOW];
	sp_err			 e = SP_E_OK;

	p->starttls_pending = 0;
	if (p->inj_bytes > 0) {
		sp__smtp_escape(show, sizeof(show), p->inj_show, p->inj_nshow);
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_STARTTLS_INJECTION,
		    SP_DIR_CLIENT, p->inj_off, "%llu bytes after STARTTLS "
		    "before the handshake: %s",
		    (unsigned long long)p->inj_bytes, show);
		p->inj_bytes = 0;
	}
	if (e != SP_E_OK)
		return (e);
	while (p->qlen > 0) {			/* read inside TLS, if at all */
		struct pend	old;

		if (sp__smtp_pop(p, &old) && old.txn != NULL &&
		    (e = sp__smtp_txn_release(p, old.txn)) != SP_E_OK)
			return (e);
	}
	if ((e = sp__smtp_txn_close(p)) != SP_E_OK)
		return (e);
	p->caps_known = p->pipelining = p->chunking = 0;
	if (p->cst != C_TLS)
		sp__smtp_set_cstate(p, C_TLS_WAIT);
	p->sst = S_TLS_WAIT;
	p->info.tls = 1;
	memset(&t, 0, sizeof(t));
	t.cmd_seq = q->seq;
	t.client_offset = p->h[SP_DIR_CLIENT].off;
	t.server_offset = p->line_end[SP_DIR_SERVER];
	t.ts = p->ts;
	if (p->cb.on_tls == NULL)
		return (SP_E_OK);
	return (sp__smtp_cb(p, p->cb.on_tls(p->ud, &t)));
}

/*
 * The reply to DATA.  354 lets the content go on.  Anything else
 * before the client sent content means its next bytes are commands
 * again; after content was sent, the content still ends with its dot
 * but no reply will follow it.
 */
static sp_err
apply_data(sp_smtp_parser *p, struct txn *t, const struct sp_smtp_reply *r)
{
	if (r->code == 354 || t == NULL)
		return (SP_E_OK);
	if (p->cst == C_DATA && p->msg_txn == t && !t->msg_open) {
		sp__smtp_set_cstate(p, C_CMD);
		p->msg_txn = NULL;
	} else if (t->msg_open) {
		t->data_refused = 1;
	} else if (t->msg_ended) {
		sp__smtp_queue_drop_data_end(p, t);
	}
	return (sp__smtp_txn_final(p, t, r));
}

static sp_err
apply_rcpt(struct txn *t, const struct pend *q, const struct sp_smtp_reply *r)
{
	if (t == NULL)
		return (SP_E_OK);
	if (is_2xx(r->code))
		t->naccepted++;
	if (q->rcpt >= 0 && (size_t)q->rcpt < t->nrcpts) {
		t->rcpts[q->rcpt].code = r->code;
		t->rcpts[q->rcpt].enh = r->enhanced;
	}
	return (SP_E_OK);
}

static sp_err
apply_bdat(sp_smtp_parser *p, struct txn *t, const struct pend *q,
    const struct sp_smtp_reply *r)
{
	if (t == NULL)
		return (SP_E_OK);
	/* RFC 3030 2: a failed chunk fails the transaction. */
	if (q->bdat_last || (!is_2xx(r->code) && t->final_code == 0))
		return (sp__smtp_txn_final(p, t, r));
	return (SP_E_OK);
}

static sp_err
apply(sp_smtp_parser *p, const struct pend *q, const struct sp_smtp_reply *r)
{
	struct txn	*t = q->txn;
	sp_err		 e;

	if (q->data_end)
		return (t != NULL ? sp__smtp_txn_final(p, t, r) : SP_E_OK);
	switch (q->verb) {
	/*
	 * RFC 5321 4.1.4: an accepted EHLO or HELO resets the session as
	 * RSET does; a refused one changes nothing.
	 */
	case SP_SMTP_VERB_EHLO:
	case SP_SMTP_VERB_LHLO:
		if (!is_2xx(r->code))
			return (SP_E_OK);
		if ((e = sp__smtp_txn_close(p)) != SP_E_OK)
			return (e);
		return (sp__smtp_emit_caps(p, r));
	case SP_SMTP_VERB_HELO:
		if (is_2xx(r->code))
			p->pipelining = p->chunking = p->caps_known = 0;
		return (is_2xx(r->code) ? sp__smtp_txn_close(p) : SP_E_OK);
	case SP_SMTP_VERB_MAIL:
		if (t != NULL) {
			t->mail_code = r->code;
			t->mail_enh = r->enhanced;
		}
		return (SP_E_OK);
	case SP_SMTP_VERB_RCPT:
		return (apply_rcpt(t, q, r));
	case SP_SMTP_VERB_DATA:
		return (apply_data(p, t, r));
	case SP_SMTP_VERB_BDAT:
		return (apply_bdat(p, t, q, r));
	case SP_SMTP_VERB_STARTTLS:
		if (r->code == 220)
			return (tls_begin(p, q));
		p->starttls_pending = 0;	/* 454, 5xx: plaintext goes on */
		p->inj_bytes = 0;
		return (SP_E_OK);
	case SP_SMTP_VERB_AUTH:
		return (sp__smtp_auth_end(p, r));
	default:
		return (SP_E_OK);
	}
}

/*
 * A reply nothing awaits.  After a gap inside DATA the end of the
 * content may have been lost: a final reply then closes the message.
 */
static sp_err
unmatched(sp_smtp_parser *p, struct sp_smtp_reply *r)
{
	struct txn	*t = p->msg_txn;
	sp_err		 e;

	if (p->cst == C_DATA && t != NULL && r->code >= 200 &&
	    (t->missing > 0 || t->start_missing)) {
		r->kind = SP_SMTP_REPLY_DATA_END;
		r->cmd_verb = SP_SMTP_VERB_DATA;
		r->cmd_seq = t->data_seq;
		if ((e = emit_reply(p, r)) != SP_E_OK ||
		    (e = sp__smtp_msg_end(p, 0)) != SP_E_OK)
			return (e);
		sp__smtp_set_cstate(p, C_CMD);
		if ((e = sp__smtp_txn_final(p, t, r)) != SP_E_OK)
			return (e);
		return (sp__smtp_txn_maybe_report(p, t));
	}
	r->kind = SP_SMTP_REPLY_UNMATCHED;
	if ((e = emit_reply(p, r)) != SP_E_OK || p->relaxed)
		return (e);
	if (p->last_final_txn != 0)
		return (sp__smtp_anomaly(p, SP_ANOM_SMTP_UNEXPECTED_REPLY,
		    SP_DIR_SERVER, r->offset, "%d: another reply after the "
		    "final reply of transaction %llu", r->code,
		    (unsigned long long)p->last_final_txn));
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_UNEXPECTED_REPLY,
	    SP_DIR_SERVER, r->offset, "%d: no command awaits a reply",
	    r->code));
}

/*
 * The first reply of the session is the greeting (RFC 5321 3.1: 220,
 * or 554), unless commands were queued and it does not look like one:
 * then the session was picked up after its start.  Returns 1 if r
 * was the greeting.
 */
static int
greeting(sp_smtp_parser *p, struct sp_smtp_reply *r, sp_err *e)
{
	const struct pend	*f = sp__smtp_front(p);
	int			 gcode;

	*e = SP_E_OK;
	p->greeting_done = 1;
	gcode = r->code == 220 || r->code == 421 || r->code == 554;
	if ((f == NULL && gcode) || (f != NULL && r->code == 220 &&
	    f->verb != SP_SMTP_VERB_STARTTLS)) {
		r->kind = SP_SMTP_REPLY_GREETING;
		p->info.greeting_code = r->code;
		*e = emit_reply(p, r);
		return (1);
	}
	p->info.midstream = 1;
	p->relaxed = 1;
	p->relax_until = p->cmd_seq + 1;
	*e = sp__smtp_anomaly(p, SP_ANOM_SMTP_MIDSTREAM, SP_DIR_SERVER,
	    r->offset, "first server reply %d is not a greeting", r->code);
	return (0);
}

/* The only verb a reply code can answer, or UNKNOWN. */
static enum sp_smtp_verb
verb_for_code(int code)
{
	switch (code) {
	case 221:	return (SP_SMTP_VERB_QUIT);
	case 354:	return (SP_SMTP_VERB_DATA);
	case 235:
	case 334:	return (SP_SMTP_VERB_AUTH);
	case 220:	return (SP_SMTP_VERB_STARTTLS);
	default:	return (SP_SMTP_VERB_UNKNOWN);
	}
}

/*
 * After a gap replies may have been lost, shifting the queue.  A code
 * that answers only one verb (221 QUIT, 354 DATA...) resynchronises
 * it: queued commands before that verb lost their replies.
 */
static sp_err
resync(sp_smtp_parser *p, int code)
{
	enum sp_smtp_verb	 v = verb_for_code(code);
	struct pend		 q;
	size_t			 i, at;
	sp_err			 e;

	if (!p->relaxed || v == SP_SMTP_VERB_UNKNOWN)
		return (SP_E_OK);
	for (i = 0; i < p->qlen; i++) {
		at = (p->qhead + i) % p->qcap;
		if (p->q[at].verb == v && !p->q[at].data_end)
			break;
	}
	if (i == p->qlen)
		return (SP_E_OK);
	while (i-- > 0)
		if (sp__smtp_pop(p, &q) && q.txn != NULL &&
		    (e = sp__smtp_txn_release(p, q.txn)) != SP_E_OK)
			return (e);
	return (SP_E_OK);
}

sp_err
sp__smtp_match_reply(sp_smtp_parser *p, struct sp_smtp_reply *r)
{
	const struct pend	*f;
	struct pend		 q;
	sp_err			 e;

	if (!p->greeting_done && (greeting(p, r, &e) || e != SP_E_OK))
		return (e);
	if ((e = resync(p, r->code)) != SP_E_OK)
		return (e);
	if ((f = sp__smtp_front(p)) == NULL || r->code == 0)
		return (unmatched(p, r));
	r->cmd_verb = f->verb;
	r->cmd_seq = f->seq;
	if (r->code == 334 && f->verb == SP_SMTP_VERB_AUTH && !f->data_end) {
		r->intermediate = 1;		/* RFC 4954 4: a challenge */
		p->auth.challenges++;
		return (emit_reply(p, r));
	}
	(void)sp__smtp_pop(p, &q);
	r->kind = q.data_end ? SP_SMTP_REPLY_DATA_END : SP_SMTP_REPLY_COMMAND;
	p->last_final_txn = 0;
	if (p->relaxed && q.seq >= p->relax_until)
		p->relaxed = 0;
	if ((e = emit_reply(p, r)) == SP_E_OK)
		e = apply(p, &q, r);
	if (q.txn != NULL && e == SP_E_OK)
		e = sp__smtp_txn_release(p, q.txn);
	return (e);
}
