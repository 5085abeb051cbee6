/*
 * smtp_txn.c - the queue of commands awaiting replies (RFC 2920 3.2:
 * replies come in the order of the commands, so a FIFO is exact
 * whatever the segmentation; smtp_match.c pairs them), and
 * transactions: MAIL, RCPTs, DATA or BDAT, the final reply.
 *
 * A transaction is built from the client's commands as they are sent
 * (pipelined commands arrive before their replies) and filled in by
 * the replies.  It is reported once the client has moved past it and
 * no queued command still points at it, or at the end.
 */
#include "smtp_int.h"

/* Make room for one more entry, linearising the ring. */
static sp_err
queue_grow(sp_smtp_parser *p)
{
	size_t		 ncap, i;
	struct pend	*nq;

	ncap = p->qcap == 0 ? 8 : p->qcap * 2;
	ncap = SP_MIN(ncap, p->lim.max_pipeline);
	nq = sp__calloc(p->a, ncap, sizeof(*nq));
	if (nq == NULL)
		return (SP_E_NOMEM);
	for (i = 0; i < p->qlen; i++)
		nq[i] = p->q[(p->qhead + i) % p->qcap];
	sp__free(p->a, p->q);
	p->q = nq;
	p->qcap = ncap;
	p->qhead = 0;
	return (SP_E_OK);
}

/*
 * Queue a command awaiting its reply.  At max_pipeline, a session
 * whose server was never heard (a one-sided capture) forgets the
 * oldest entry; otherwise the anomaly is raised and the command is
 * not queued.
 */
sp_err
sp__smtp_push(sp_smtp_parser *p, const struct pend *e)
{
	struct pend	old;
	sp_err		err;

	if (p->qlen == p->qcap && p->qcap < p->lim.max_pipeline &&
	    (err = queue_grow(p)) != SP_E_OK)
		return (err);
	if (p->qlen == p->qcap) {
		if (p->server_seen)
			return (sp__smtp_anomaly(p, SP_ANOM_SMTP_PIPELINE_LIMIT,
			    SP_DIR_CLIENT, p->cpos,
			    "%zu commands await replies", p->qlen));
		if (sp__smtp_pop(p, &old) && old.txn != NULL &&
		    (err = sp__smtp_txn_release(p, old.txn)) != SP_E_OK)
			return (err);
	}
	p->q[(p->qhead + p->qlen) % p->qcap] = *e;
	p->qlen++;
	if (e->txn != NULL)
		e->txn->pending++;
	return (SP_E_OK);
}

const struct pend *
sp__smtp_front(const sp_smtp_parser *p)
{
	return (p->qlen > 0 ? &p->q[p->qhead] : NULL);
}

int
sp__smtp_pop(sp_smtp_parser *p, struct pend *out)
{
	if (p->qlen == 0)
		return (0);
	*out = p->q[p->qhead];
	p->qhead = (p->qhead + 1) % p->qcap;
	p->qlen--;
	return (1);
}

/*
 * Take t's end-of-DATA entry out of the queue: DATA was refused after
 * the client had already sent its content, so no reply will answer
 * the end (the server reads that content as commands).
 */
void
sp__smtp_queue_drop_data_end(sp_smtp_parser *p, struct txn *t)
{
	size_t	i, j, at, nx;

	for (i = 0; i < p->qlen; i++) {
		at = (p->qhead + i) % p->qcap;
		if (!p->q[at].data_end || p->q[at].txn != t)
			continue;
		for (j = i; j + 1 < p->qlen; j++) {
			at = (p->qhead + j) % p->qcap;
			nx = (p->qhead + j + 1) % p->qcap;
			p->q[at] = p->q[nx];
		}
		p->qlen--;
		if (SP_ALWAYS(t->pending > 0))
			t->pending--;
		return;
	}
}

/* Forget every queued command (TLS began, or the end). */
void
sp__smtp_queue_clear(sp_smtp_parser *p)
{
	struct pend	q;

	while (sp__smtp_pop(p, &q))
		if (q.txn != NULL && SP_ALWAYS(q.txn->pending > 0))
			q.txn->pending--;
}

/*
 * Copy text into a transaction's buffer; *len is n, or 0 if the cap
 * was reached (the text is then not kept).  Only SP_E_NOMEM fails.
 */
static sp_err
keep(struct sp_buf *b, const uint8_t *s, size_t n, size_t *len)
{
	sp_err	e = sp__buf_append(b, s, n);

	*len = e == SP_E_OK ? n : 0;
	return (e == SP_E_LIMIT ? SP_E_OK : e);
}

static size_t
txn_str_cap(const struct sp_limits *lim)
{
	if (lim->max_rcpts > SIZE_MAX / lim->max_line - 4)
		return (SIZE_MAX);
	return ((lim->max_rcpts + 4) * lim->max_line);
}

sp_err
sp__smtp_txn_new(sp_smtp_parser *p, int has_mail, const uint8_t *arg,
    size_t n)
{
	struct txn	*t, **tail;

	if ((t = sp__calloc(p->a, 1, sizeof(*t))) == NULL)
		return (SP_E_NOMEM);
	sp__buf_init(&t->str, txn_str_cap(&p->lim), p->a);
	if (arg != NULL && keep(&t->str, arg, n, &t->mail_len) != SP_E_OK) {
		sp__free(p->a, t);
		return (SP_E_NOMEM);
	}
	t->seq = ++p->txn_seq;
	t->has_mail = has_mail;
	t->ts_begin = t->ts_end = p->ts;
	t->report = t->seq <= p->lim.max_transactions;
	for (tail = &p->txns; *tail != NULL; tail = &(*tail)->next)
		continue;
	*tail = t;
	p->cur = t;
	p->info.transactions++;
	if (t->report || p->txn_limit_flagged)
		return (SP_E_OK);
	p->txn_limit_flagged = 1;
	return (sp__smtp_anomaly(p, SP_ANOM_SMTP_TRANSACTION_LIMIT,
	    SP_DIR_CLIENT, p->cpos,
	    "more than %zu transactions: the rest are not reported",
	    p->lim.max_transactions));
}

static sp_err
rcpt_grow(sp_smtp_parser *p, struct txn *t)
{
	size_t			 ncap;
	struct rcpt_rec		*nr;
	struct sp_smtp_rcpt	*np;

	ncap = t->rcpts_cap == 0 ? 4 : t->rcpts_cap * 2;
	ncap = SP_MIN(ncap, p->lim.max_rcpts);
	nr = sp__realloc(p->a, t->rcpts, ncap * sizeof(*nr));
	if (nr == NULL)
		return (SP_E_NOMEM);
	t->rcpts = nr;
	np = sp__realloc(p->a, t->pub, ncap * sizeof(*np));
	if (np == NULL)
		return (SP_E_NOMEM);
	t->pub = np;
	t->rcpts_cap = ncap;
	return (SP_E_OK);
}

/* Record a RCPT; beyond max_rcpts it is counted, not kept (*idx -1). */
sp_err
sp__smtp_txn_rcpt(sp_smtp_parser *p, const uint8_t *arg, size_t n, long *idx)
{
	struct txn	*t = p->cur;
	struct rcpt_rec	*r;
	sp_err		 e;

	*idx = -1;
	t->nrcpts_total++;
	if (t->nrcpts >= p->lim.max_rcpts) {
		if (t->too_many)
			return (SP_E_OK);
		t->too_many = 1;
		return (sp__smtp_anomaly(p, SP_ANOM_SMTP_TOO_MANY_RCPTS,
		    SP_DIR_CLIENT, p->cpos,
		    "more than %zu recipients", p->lim.max_rcpts));
	}
	if (t->nrcpts == t->rcpts_cap && (e = rcpt_grow(p, t)) != SP_E_OK)
		return (e);
	r = &t->rcpts[t->nrcpts];
	memset(r, 0, sizeof(*r));
	r->off = t->str.len;
	if ((e = keep(&t->str, arg, n, &r->len)) != SP_E_OK)
		return (e);
	*idx = (long)t->nrcpts++;
	return (SP_E_OK);
}

/* A path stored as "<...> params"; returns where the params start. */
static size_t
reparse_path(struct sp_smtp_str s, struct sp_smtp_path *path)
{
	size_t	skip = 0, used = 0;

	while (skip < s.len && s.p[skip] == ' ')
		skip++;
	(void)sp__smtp_parse_path(s.p + skip, s.len - skip, path, &used);
	return (skip + used);
}

static void
fill_rcpts(struct txn *t)
{
	for (size_t i = 0; i < t->nrcpts; i++) {
		struct sp_smtp_rcpt	*o = &t->pub[i];
		struct sp_smtp_str	 s;
		size_t			 used;

		memset(o, 0, sizeof(*o));
		s = sp__smtp_slice(&t->str, t->rcpts[i].off, t->rcpts[i].len);
		while (s.len > 0 && *s.p == ' ') {
			s.p++;
			s.len--;
		}
		used = reparse_path(s, &o->path);
		o->params.p = s.p + used;
		o->params.len = s.len - used;
		while (o->params.len > 0 && *o->params.p == ' ') {
			o->params.p++;
			o->params.len--;
		}
		o->code = t->rcpts[i].code;
		o->enhanced = t->rcpts[i].enh;
		o->accepted = o->code >= 200 && o->code < 300;
	}
}

static void
fill_final(const struct txn *t, struct sp_smtp_transaction *x)
{
	x->method = t->method;
	x->final_code = t->final_code;
	x->final_enhanced = t->final_enh;
	x->final_text = sp__smtp_slice(&t->str, t->final_off, t->final_len);
	x->queue_id = sp__smtp_slice(&t->str, 0, 0);
	if (t->final_code >= 200 && t->final_code < 300)
		(void)sp_smtp_queue_id(x->final_text.p, x->final_text.len,
		    &x->queue_id);
	x->message_size = t->msg_size;
	x->message_seen = t->msg_seen;
	x->complete = t->msg_complete;
	x->missing = t->missing;
	x->start_missing = t->start_missing;
	x->ts_begin = t->ts_begin;
	x->ts_end = t->ts_end;
}

/* Report t through on_transaction, unlink and free it. */
static sp_err
txn_report(sp_smtp_parser *p, struct txn *t)
{
	struct sp_smtp_transaction	 x;
	struct sp_smtp_str		 m;
	struct txn			**pp;
	size_t				 used, np;
	sp_err				 e = SP_E_OK;

	memset(&x, 0, sizeof(x));
	x.seq = t->seq;
	x.has_mail = t->has_mail;
	if (t->has_mail) {
		m = sp__smtp_slice(&t->str, t->mail_off, t->mail_len);
		used = reparse_path(m, &x.mail_from);
		np = sp__smtp_parse_params(m.p + used, m.len - used, p->params,
		    SP_SMTP_MAX_PARAMS);
		x.mail_params = p->params;
		x.nmail_params = SP_MIN(np, (size_t)SP_SMTP_MAX_PARAMS);
	}
	x.mail_code = t->mail_code;
	x.mail_enhanced = t->mail_enh;
	fill_rcpts(t);
	x.rcpts = t->pub;
	x.nrcpts = t->nrcpts;
	x.nrcpts_total = t->nrcpts_total;
	x.nrcpts_accepted = t->naccepted;
	fill_final(t, &x);
	if (t->report && p->cb.on_transaction != NULL)
		e = sp__smtp_cb(p, p->cb.on_transaction(p->ud, &x));
	for (pp = &p->txns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	if (p->cur == t)
		p->cur = NULL;
	if (p->msg_txn == t)
		p->msg_txn = NULL;
	sp__buf_free(&t->str);
	sp__free(p->a, t->rcpts);
	sp__free(p->a, t->pub);
	sp__free(p->a, t);
	return (e);
}

/*
 * The client moved past the current transaction (RSET, MAIL, HELO,
 * EHLO, QUIT, STARTTLS; RFC 5321 4.1.4, RFC 3207 4.2).  A message
 * still open (BDAT chunks without LAST) ends incomplete.
 */
sp_err
sp__smtp_txn_close(sp_smtp_parser *p)
{
	struct txn	*t = p->cur;
	sp_err		 e;

	if (t == NULL)
		return (SP_E_OK);
	if (p->msg_txn == t && t->msg_open &&
	    (e = sp__smtp_msg_end(p, 0)) != SP_E_OK)
		return (e);
	return (sp__smtp_txn_done(p, t));
}

/* No more client commands belong to t; report it if nothing waits. */
sp_err
sp__smtp_txn_done(sp_smtp_parser *p, struct txn *t)
{
	if (p->cur == t)
		p->cur = NULL;
	t->done = 1;
	return (sp__smtp_txn_maybe_report(p, t));
}

/*
 * Report t once the client is past it, no queued command points at it
 * and its message (if any) has ended: a final reply may arrive before
 * the last chunk octets do.
 */
sp_err
sp__smtp_txn_maybe_report(sp_smtp_parser *p, struct txn *t)
{
	if (t->done && t->pending == 0 && !t->msg_open)
		return (txn_report(p, t));
	return (SP_E_OK);
}

sp_err
sp__smtp_txn_release(sp_smtp_parser *p, struct txn *t)
{
	if (SP_ALWAYS(t->pending > 0))
		t->pending--;
	return (sp__smtp_txn_maybe_report(p, t));
}

/* The reply that decides the transaction (end of DATA, BDAT LAST...). */
sp_err
sp__smtp_txn_final(sp_smtp_parser *p, struct txn *t,
    const struct sp_smtp_reply *r)
{
	/*
	 * The last line kept: in a multi-line final reply it carries the
	 * verdict and the queue id (Exim after BDAT LAST: "250- 4404
	 * byte chunk, total 4404" then "250 OK id=..."), as Zeek's
	 * last_reply shows.
	 */
	const struct sp_smtp_str *l = r->nlines > 0 ?
	    &r->lines[r->nlines - 1] : NULL;
	size_t	n = l != NULL ? l->len : 0;

	t->final_code = r->code;
	t->final_enh = r->enhanced;
	t->final_off = t->str.len;
	t->final_len = 0;
	if (n > 0 && keep(&t->str, l->p, n, &t->final_len) != SP_E_OK)
		return (SP_E_NOMEM);
	t->ts_end = r->ts;
	p->last_final_txn = t->seq;
	if (p->cur == t)
		p->cur = NULL;
	t->done = 1;		/* reported when its queue entry is released */
	return (SP_E_OK);
}

/* The end: report everything still held. */
sp_err
sp__smtp_txn_flush(sp_smtp_parser *p)
{
	sp_err	e;

	sp__smtp_queue_clear(p);
	p->cur = NULL;
	while (p->txns != NULL)
		if ((e = txn_report(p, p->txns)) != SP_E_OK)
			return (e);
	return (SP_E_OK);
}

void
sp__smtp_txn_free_all(sp_smtp_parser *p)
{
	struct txn	*t, *next;

	for (t = p->txns; t != NULL; t = next) {
		next = t->next;
		sp__buf_free(&t->str);
		sp__free(p->a, t->rcpts);
		sp__free(p->a, t->pub);
		sp__free(p->a, t);
	}
	p->txns = p->cur = p->msg_txn = NULL;
	sp__free(p->a, p->q);
	p->q = NULL;
	p->qlen = p->qcap = p->qhead = 0;
}
