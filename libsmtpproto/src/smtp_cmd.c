/*
 * smtp_cmd.c - commands: the verb table, argument, path and parameter
 * parsing (RFC 5321 4.1.1, 4.1.2), and what each command does to the
 * session (the OpenSMTPD pattern: a table pairs each verb with a
 * proceed function).
 */
#include <ctype.h>

#include "smtp_int.h"

static const char *const verb_names[] = {
#define X(name, str)	str,
	SP_SMTP_VERB_MAP(X)
#undef X
};

const char *
sp_smtp_verb_name(enum sp_smtp_verb v)
{
	if ((unsigned)v >= SP_NELEM(verb_names))
		return ("");
	return (verb_names[v]);
}

static int
ieq(const uint8_t *s, size_t n, const char *lit)
{
	size_t	i;

	if (strlen(lit) != n)
		return (0);
	for (i = 0; i < n; i++)
		if (toupper(s[i]) != (unsigned char)lit[i])
			return (0);
	return (1);
}

/* Case-insensitive prefix test (RFC 5321 2.4: verbs ignore case). */
static int
iprefix(const uint8_t *s, size_t n, const char *lit)
{
	size_t	k = strlen(lit);

	return (n >= k && ieq(s, k, lit));
}

enum sp_smtp_verb
sp__smtp_verb_lookup(const uint8_t *s, size_t n)
{
	for (size_t v = 1; v < SP_NELEM(verb_names); v++)
		if (ieq(s, n, verb_names[v]))
			return ((enum sp_smtp_verb)v);
	return (SP_SMTP_VERB_UNKNOWN);
}

/* Length of s without its line end (any mix of CR and LF). */
size_t
sp__smtp_trim_eol(const uint8_t *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return (n);
}

static size_t
trim_ws(const uint8_t *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return (n);
}

static size_t
token_len(const uint8_t *s, size_t n)
{
	size_t	i = 0;

	while (i < n && s[i] != ' ' && s[i] != '\t')
		i++;
	return (i);
}

/* True if s (a line's content) starts with a verb we know. */
int
sp__smtp_looks_like_command(const uint8_t *s, size_t n)
{
	size_t			 k = token_len(s, n);
	enum sp_smtp_verb	 v = sp__smtp_verb_lookup(s, k);

	if (v == SP_SMTP_VERB_MAIL)
		return (iprefix(s + k, n - k, " FROM:"));
	if (v == SP_SMTP_VERB_RCPT)
		return (iprefix(s + k, n - k, " TO:"));
	return (v != SP_SMTP_VERB_UNKNOWN);
}

/* RFC 5322 3.2.3 atext, plus UTF-8 (RFC 6531 3.3). */
static int
is_atext(uint8_t c)
{
	return (isalnum(c) || c >= 0x80 ||
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_domain_char(uint8_t c)
{
	return (isalnum(c) || c == '-' || c == '.' || c >= 0x80);
}

/* Local part at s[*i]: a quoted string or a dot-string.  0 if bad. */
static int
parse_local(const uint8_t *s, size_t n, size_t *i, struct sp_smtp_path *out)
{
	size_t	start = *i;

	if (*i < n && s[*i] == '"') {
		out->quoted = 1;
		for ((*i)++; *i < n && s[*i] != '"'; (*i)++) {
			if (s[*i] == '\\' && *i + 1 < n)
				(*i)++;
			if (s[*i] >= 0x80)
				out->utf8 = 1;
		}
		if (*i >= n)
			return (0);
		(*i)++;
	} else {
		while (*i < n && (is_atext(s[*i]) || s[*i] == '.')) {
			if (s[*i] >= 0x80)
				out->utf8 = 1;
			(*i)++;
		}
		if (*i == start || s[start] == '.' || s[*i - 1] == '.')
			return (0);
	}
	out->local.p = s + start;
	out->local.len = *i - start;
	return (1);
}

/* Domain or address literal at s[*i] (RFC 5321 4.1.2, 4.1.3). */
static int
parse_domain(const uint8_t *s, size_t n, size_t *i, struct sp_smtp_path *out)
{
	size_t	start = *i;

	if (*i < n && s[*i] == '[') {
		while (*i < n && s[*i] != ']' && s[*i] != '>')
			(*i)++;
		if (*i >= n || s[*i] != ']')
			return (0);
		(*i)++;
	} else {
		while (*i < n && is_domain_char(s[*i])) {
			if (s[*i] >= 0x80)
				out->utf8 = 1;
			(*i)++;
		}
		if (*i == start || s[start] == '.' || s[start] == '-')
			return (0);
	}
	out->domain.p = s + start;
	out->domain.len = *i - start;
	return (1);
}

/* The inside of "<...>" from s[*i]: [route ":"] mailbox, or empty. */
static int
parse_inside(const uint8_t *s, size_t n, size_t *i, struct sp_smtp_path *out)
{
	const uint8_t	*colon;
	size_t		 mstart;

	if (*i < n && s[*i] == '@') {		/* A-d-l, RFC 5321 4.1.2 */
		colon = memchr(s + *i, ':', n - *i);
		if (colon == NULL)
			return (0);
		out->route.p = s + *i;
		out->route.len = (size_t)(colon - (s + *i));
		*i = (size_t)(colon - s) + 1;
	}
	if (*i < n && s[*i] == '>') {
		out->null = 1;
		return (out->route.len == 0);
	}
	mstart = *i;
	if (!parse_local(s, n, i, out))
		return (0);
	if (*i < n && s[*i] == '@') {
		(*i)++;
		if (!parse_domain(s, n, i, out))
			return (0);
	} else if (!ieq(out->local.p, out->local.len, "POSTMASTER")) {
		return (0);			/* RFC 5321 4.1.1.3 */
	}
	out->mailbox.p = s + mstart;
	out->mailbox.len = *i - mstart;
	return (1);
}

/* End of a malformed bracketed path: its '>' outside quotes, or n. */
static size_t
find_close(const uint8_t *s, size_t n)
{
	int	q = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			q = !q;
		else if (s[i] == '\\' && q)
			i++;
		else if (s[i] == '>' && !q)
			return (i + 1);
	}
	return (token_len(s, n));
}

/*
 * Parse a path at the start of s.  Returns 1 if it is well formed; 0
 * otherwise, with raw still set so the text is kept.  *used is the
 * length of raw.  Paths without brackets are accepted by lax servers:
 * they parse, but are not valid.
 */
int
sp__smtp_parse_path(const uint8_t *s, size_t n, struct sp_smtp_path *out,
    size_t *used)
{
	size_t	i = 1, i_unbracketed = 0, tl;
	int	ok;

	memset(out, 0, sizeof(*out));
	out->raw.p = s;
	if (n == 0 || s[0] != '<') {
		/* No brackets: split it for the caller, but it is bad. */
		tl = token_len(s, n);
		out->raw.len = *used = tl;
		if (tl > 0)
			(void)parse_inside(s, tl, &i_unbracketed, out);
		return (0);
	}
	out->brackets = 1;
	ok = parse_inside(s, n, &i, out) && i < n && s[i] == '>';
	if (!ok) {
		out->raw.len = *used = find_close(s, n);
		out->null = 0;
		return (0);
	}
	out->raw.len = *used = i + 1;
	out->valid = 1;
	return (1);
}

static const struct {
	const char		*name;
	enum sp_smtp_param_key	 key;
} param_keys[] = {
	{ "SIZE", SP_SMTP_PARAM_SIZE }, { "BODY", SP_SMTP_PARAM_BODY },
	{ "SMTPUTF8", SP_SMTP_PARAM_SMTPUTF8 }, { "RET", SP_SMTP_PARAM_RET },
	{ "ENVID", SP_SMTP_PARAM_ENVID }, { "AUTH", SP_SMTP_PARAM_AUTH },
	{ "NOTIFY", SP_SMTP_PARAM_NOTIFY }, { "ORCPT", SP_SMTP_PARAM_ORCPT },
};

/*
 * Parameters after a path (RFC 5321 4.1.2 Mail-parameters): keywords
 * with an optional "=value", separated by spaces.  Fills at most max
 * and returns how many there were.
 */
size_t
sp__smtp_parse_params(const uint8_t *s, size_t n, struct sp_smtp_param *out,
    size_t max)
{
	size_t			 i = 0, k, count = 0;
	const uint8_t		*eq;
	struct sp_smtp_param	*pa;

	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		k = token_len(s + i, n - i);
		if (k == 0)
			break;
		if (count < max) {
			pa = &out[count];
			memset(pa, 0, sizeof(*pa));
			eq = memchr(s + i, '=', k);
			pa->key.p = s + i;
			pa->key.len = eq != NULL ? (size_t)(eq - (s + i)) : k;
			if (eq != NULL) {
				pa->has_value = 1;
				pa->value.p = eq + 1;
				pa->value.len = k - pa->key.len - 1;
			}
			for (size_t j = 0; j < SP_NELEM(param_keys); j++)
				if (ieq(pa->key.p, pa->key.len,
				    param_keys[j].name))
					pa->key_id = param_keys[j].key;
		}
		count++;
		i += k;
	}
	return (count);
}

/*
 * Client bytes picked up mid-stream whose first line is no command:
 * most likely the middle of a message, so it is taken as DATA content
 * whose start was not seen.
 */
static sp_err
cmd_midstream_data(sp_smtp_parser *p, const struct line *l)
{
	size_t	used;
	sp_err	e;

	p->info.midstream = 1;
	p->relaxed = 1;
	p->relax_until = p->cmd_seq + 1;
	e = sp__smtp_anomaly(p, SP_ANOM_SMTP_MIDSTREAM, SP_DIR_CLIENT, l->off,
	    "first client line is not a command: taken as message content");
	if (e == SP_E_OK)
		e = sp__smtp_txn_new(p, 0, NULL, 0);
	if (e != SP_E_OK)
		return (e);
	p->cur->start_missing = 1;
	p->cur->method = SP_SMTP_METHOD_DATA;
	p->msg_txn = p->cur;
	sp__smtp_data_reset(p);
	sp__smtp_set_cstate(p, C_DATA);
	e = sp__smtp_msg_begin(p, SP_SMTP_METHOD_DATA, l->off, 1);
	if (e != SP_E_OK)
		return (e);
	return (sp__smtp_data_step(p, l->p, l->len, l->off, &used));
}

/* Plaintext after STARTTLS, before its reply: maybe injected. */
static void
note_injection(sp_smtp_parser *p, const struct line *l)
{
	size_t	n;

	if (p->inj_bytes == 0) {
		p->inj_off = l->off;
		n = SP_MIN(sp__smtp_trim_eol(l->p, l->len), sizeof(p->inj_show));
		memcpy(p->inj_show, l->p, n);
		p->inj_nshow = n;
	}
	p->inj_bytes += l->len;
}

/* Guard clauses every command goes through, each a possible anomaly. */
static sp_err
cmd_checks(sp_smtp_parser *p, const struct sp_smtp_command *c,
    const struct line *l)
{
	sp_err	e = SP_E_OK;

	if (p->quit_sent)
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_CMD_AFTER_QUIT,
		    SP_DIR_CLIENT, c->offset, NULL);
	if (e == SP_E_OK && p->after_bdat && c->verb == SP_SMTP_VERB_UNKNOWN)
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_BDAT_SIZE_MISMATCH,
		    SP_DIR_CLIENT, c->offset,
		    "line after a BDAT chunk is not a command");
	p->after_bdat = 0;
	if (p->starttls_pending)
		note_injection(p, l);
	/*
	 * RFC 2920 3.1: without PIPELINING a client waits for each reply.
	 * Only known when the server was heard (not one-sided captures).
	 */
	if (e == SP_E_OK && p->qlen > 0 && p->server_seen && !p->pipelining &&
	    !p->pipelining_flagged && !p->relaxed && !p->starttls_pending) {
		p->pipelining_flagged = 1;
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_UNADVERTISED_PIPELINING,
		    SP_DIR_CLIENT, c->offset, "%.*s sent while %zu command(s) "
		    "await replies", (int)SP_MIN(c->verb_text.len, (size_t)32),
		    (const char *)c->verb_text.p, p->qlen);
	}
	return (e);
}

/* "BDAT" SP chunk-size [SP "LAST"] (RFC 3030 2).  0 if malformed. */
static int
parse_bdat(const uint8_t *s, size_t n, uint64_t *size, int *last)
{
	size_t	i = 0;

	*size = 0;
	*last = 0;
	if (n == 0 || !isdigit(s[0]))
		return (0);
	for (; i < n && isdigit(s[i]); i++) {
		if (*size > (UINT64_MAX - 9) / 10)
			return (0);
		*size = *size * 10 + (uint64_t)(s[i] - '0');
	}
	while (i < n && s[i] == ' ')
		i++;
	if (i == n)
		return (1);
	*last = ieq(s + i, n - i, "LAST");
	return (*last);
}

/* MAIL FROM: / RCPT TO: path and parameters into p's scratch. */
static sp_err
parse_mail_rcpt(sp_smtp_parser *p, struct sp_smtp_command *c,
    const char *lead)
{
	const uint8_t	*s = c->arg.p;
	size_t		 n = c->arg.len, k = strlen(lead), used, np;
	sp_err		 e;

	if (!iprefix(s, n, lead))
		return (sp__smtp_anomaly(p, SP_ANOM_SMTP_BAD_COMMAND,
		    SP_DIR_CLIENT, c->offset, "%s without %s",
		    sp_smtp_verb_name(c->verb), lead));
	s += k;
	n -= k;
	while (n > 0 && *s == ' ') {		/* lax: "FROM: <a@b>" */
		s++;
		n--;
	}
	c->path = &p->path;
	if (!sp__smtp_parse_path(s, n, &p->path, &used)) {
		char	 show[96];

		sp__smtp_escape(show, sizeof(show), s, used);
		e = sp__smtp_anomaly(p, SP_ANOM_SMTP_BAD_PATH, SP_DIR_CLIENT,
		    c->offset, "%s", show);
		if (e != SP_E_OK)
			return (e);
	}
	np = sp__smtp_parse_params(s + used, n - used, p->params,
	    SP_SMTP_MAX_PARAMS);
	c->params = p->params;
	c->nparams = SP_MIN(np, (size_t)SP_SMTP_MAX_PARAMS);
	if (np > SP_SMTP_MAX_PARAMS)
		return (sp__smtp_anomaly(p, SP_ANOM_SMTP_BAD_COMMAND,
		    SP_DIR_CLIENT, c->offset, "%zu parameters, %d kept", np,
		    SP_SMTP_MAX_PARAMS));
	return (SP_E_OK);
}

static sp_err
cmd_parse_args(sp_smtp_parser *p, struct sp_smtp_command *c)
{
	switch (c->verb) {
	case SP_SMTP_VERB_MAIL:
		return (parse_mail_rcpt(p, c, "FROM:"));
	case SP_SMTP_VERB_RCPT:
		return (parse_mail_rcpt(p, c, "TO:"));
	case SP_SMTP_VERB_BDAT:
		if (parse_bdat(c->arg.p, c->arg.len, &c->bdat_size,
		    &c->bdat_last))
			return (SP_E_OK);
		c->bdat_size = 0;
		c->bdat_last = 0;
		return (sp__smtp_anomaly(p, SP_ANOM_SMTP_BAD_COMMAND,
		    SP_DIR_CLIENT, c->offset, "bad BDAT size"));
	default:
		return (SP_E_OK);
	}
}

/* The transaction a command belongs to, begun if there is none. */
static sp_err
need_txn(sp_smtp_parser *p)
{
	if (p->cur != NULL)
		return (SP_E_OK);
	return (sp__smtp_txn_new(p, 0, NULL, 0));
}

static sp_err
proceed_mail(sp_smtp_parser *p, const struct sp_smtp_command *c,
    struct pend *q)
{
	sp_err	e = sp__smtp_txn_close(p);
	size_t	skip = SP_MIN((size_t)5, c->arg.len);	/* "FROM:" */

	if (e == SP_E_OK)
		e = sp__smtp_txn_new(p, 1, c->arg.p + skip, c->arg.len - skip);
	q->txn = p->cur;
	return (e);
}

static sp_err
proceed_rcpt(sp_smtp_parser *p, const struct sp_smtp_command *c,
    struct pend *q)
{
	size_t	skip = SP_MIN((size_t)3, c->arg.len);	/* "TO:" */
	sp_err	e = need_txn(p);

	if (e != SP_E_OK)
		return (e);
	q->txn = p->cur;
	return (sp__smtp_txn_rcpt(p, c->arg.p + skip, c->arg.len - skip,
	    &q->rcpt));
}

/*
 * DATA: the client's next bytes are content from now on, even before
 * the 354 is seen (optimistic, so one-sided captures work); a 4xx/5xx
 * to DATA before any of them arrives turns them back into commands.
 */
static sp_err
proceed_data(sp_smtp_parser *p, const struct sp_smtp_command *c,
    struct pend *q)
{
	sp_err	e = need_txn(p);

	if (e != SP_E_OK)
		return (e);
	q->txn = p->cur;
	p->cur->method = SP_SMTP_METHOD_DATA;
	p->cur->data_seq = c->seq;
	p->msg_txn = p->cur;
	sp__smtp_data_reset(p);
	sp__smtp_set_cstate(p, C_DATA);
	return (SP_E_OK);
}

/* BDAT: exactly bdat_size octets follow, verbatim (RFC 3030 2). */
static sp_err
proceed_bdat(sp_smtp_parser *p, const struct sp_smtp_command *c,
    struct pend *q)
{
	sp_err	e;

	if (c->bdat_size == 0 && !c->bdat_last &&
	    !parse_bdat(c->arg.p, c->arg.len, &(uint64_t){0}, &(int){0}))
		return (SP_E_OK);		/* malformed: no chunk follows */
	if ((e = need_txn(p)) != SP_E_OK)
		return (e);
	q->txn = p->cur;
	q->bdat_last = c->bdat_last != 0;
	p->cur->method = SP_SMTP_METHOD_BDAT;
	p->cur->bdat_last = c->bdat_last;
	p->msg_txn = p->cur;
	if (!p->cur->msg_open && !p->cur->msg_ended) {
		e = sp__smtp_msg_begin(p, SP_SMTP_METHOD_BDAT, c->offset +
		    c->line.len, 0);
		if (e != SP_E_OK)
			return (e);
	}
	p->bdat_left = c->bdat_size;
	p->bdat_chunk_last = c->bdat_last;
	sp__smtp_set_cstate(p, C_BDAT);
	return (SP_E_OK);
}

static sp_err
proceed_reset(sp_smtp_parser *p, const struct sp_smtp_command *c,
    struct pend *q)
{
	(void)q;
	if (c->verb == SP_SMTP_VERB_QUIT)
		p->quit_sent = 1;
	return (sp__smtp_txn_close(p));
}

static sp_err
proceed_starttls(sp_smtp_parser *p, const struct sp_smtp_command *c,
    struct pend *q)
{
	(void)c;
	(void)q;
	p->starttls_pending = 1;
	p->inj_bytes = 0;
	return (SP_E_OK);
}

typedef sp_err proceed_fn(sp_smtp_parser *, const struct sp_smtp_command *,
    struct pend *);

static proceed_fn *
proceed_for(enum sp_smtp_verb v)
{
	switch (v) {
	case SP_SMTP_VERB_MAIL:		return (proceed_mail);
	case SP_SMTP_VERB_RCPT:		return (proceed_rcpt);
	case SP_SMTP_VERB_DATA:		return (proceed_data);
	case SP_SMTP_VERB_BDAT:		return (proceed_bdat);
	case SP_SMTP_VERB_RSET:
	case SP_SMTP_VERB_QUIT:		return (proceed_reset);
	case SP_SMTP_VERB_STARTTLS:	return (proceed_starttls);
	default:			return (NULL);
	}
}

static void
split_command(struct sp_smtp_command *c, const struct line *l)
{
	size_t	n = sp__smtp_trim_eol(l->p, l->len), k, i;

	k = token_len(l->p, n);
	c->verb_text.p = l->p;
	c->verb_text.len = k;
	c->verb = sp__smtp_verb_lookup(l->p, k);
	for (i = k; i < n && (l->p[i] == ' ' || l->p[i] == '\t'); i++)
		continue;
	c->arg.p = l->p + i;
	c->arg.len = trim_ws(l->p + i, n - i);
	c->line.p = l->p;
	c->line.len = l->len;
	c->offset = l->off;
	c->truncated = l->truncated != 0;
}

/* One command line from the client, in state C_CMD. */
sp_err
sp__smtp_command_line(sp_smtp_parser *p, const struct line *l)
{
	struct sp_smtp_command	 c;
	struct pend		 q;
	proceed_fn		*fn;
	sp_err			 e;
	size_t			 n = sp__smtp_trim_eol(l->p, l->len);

	if (p->info.commands == 0 && (!p->server_seen || p->opt.midstream) &&
	    !sp__smtp_looks_like_command(l->p, n) && !p->quit_sent)
		return (cmd_midstream_data(p, l));
	if ((e = sp__smtp_line_check(p, SP_DIR_CLIENT, l)) != SP_E_OK)
		return (e);
	memset(&c, 0, sizeof(c));
	split_command(&c, l);
	c.ts = p->ts;
	c.seq = ++p->cmd_seq;
	p->info.commands++;
	if ((e = cmd_checks(p, &c, l)) != SP_E_OK)
		return (e);
	if (p->qlen == 0)
		p->group++;
	c.group = p->group;
	if ((e = cmd_parse_args(p, &c)) != SP_E_OK)
		return (e);
	if (p->cb.on_command != NULL &&
	    (e = sp__smtp_cb(p, p->cb.on_command(p->ud, &c))) != SP_E_OK)
		return (e);
	memset(&q, 0, sizeof(q));
	q.verb = c.verb;
	q.seq = c.seq;
	q.rcpt = -1;
	fn = proceed_for(c.verb);
	if (fn != NULL && (e = fn(p, &c, &q)) != SP_E_OK)
		return (e);
	if ((e = sp__smtp_push(p, &q)) != SP_E_OK)
		return (e);
	if (c.verb == SP_SMTP_VERB_AUTH)
		return (sp__smtp_auth_begin(p, l, c.arg.p, c.arg.len, c.seq));
	/* "BDAT 0 LAST": the chunk ends right here, not at the next feed. */
	if (c.verb == SP_SMTP_VERB_BDAT && p->cst == C_BDAT &&
	    p->bdat_left == 0)
		return (sp__smtp_bdat_step(p, l->p, 0, l->off, &(size_t){0}));
	return (SP_E_OK);
}
