/*
 * record.c - analyzer events -> one JSON record per session.
 *
 * A record grows as its events arrive and is handed to the caller when
 * the session ends, so live output flows.  A message ends (with its
 * digests) before the final reply ends its transaction; the finished
 * message waits in the session until its transaction arrives.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonutil.h"
#include "record.h"

/*
 * What a session has shown so far.  The JSON record is assembled only
 * when the session ends: a capture may hold tens of thousands of open
 * sessions, and an open json-c object costs a kilobyte of tables.
 */
/*
 * Finished messages waiting for their transaction, at most this many
 * per session: past it the oldest goes into the record at once as an
 * orphan (still reported, only without its envelope).
 */
#define MAX_PARKED_MSGS	64

struct srec {
	json_object	*root, *txs, *dialogue, *anoms, *auths, *caps;
	json_object	*helo, *greet_text;	/* strings, or NULL */
	const char	*helo_verb;
	/*
	 * The last HELO/EHLO/LHLO sent and whether one was accepted: the
	 * record's "helo" is the greeting the server accepted (2xx), so
	 * an unanswered line (a STARTTLS injection, CVE-2011-0411, which
	 * the 220 discards) cannot replace it.  Until a 2xx is seen (or
	 * in a client-only capture) it is the last one sent.
	 */
	json_object	*helo_pend;
	const char	*helo_pend_verb;
	uint64_t	 helo_pend_seq;
	int		 helo_accepted;
	/*
	 * Finished messages by transaction number ("%llu" keys, in
	 * order).  Several can wait: without server replies (a one-sided
	 * capture) no transaction ends before the session does, and the
	 * next message begins long before that.
	 */
	json_object	*parked;
	size_t		 nparked;
	int		 greet_code;
	struct sp_smtp_enhanced greet_enh;
	sp_ts		 greet_ts;
	size_t		 nanoms, anoms_dropped, txs_dropped, ntx_streamed;
	uint32_t	*cmd_index;	/* command seq -> dialogue index */
	size_t		 ncmd_index;
	json_object	*msg, *headers, *parts, *urls, *part;
	uint64_t	 msg_txn;
	unsigned	 nmsg, npart;
	int		 tls_offered, tls_started;
	json_object	*tls_ts;
	int		 tls_implicit;
	FILE		*eml, *partf;
	char		*part_tmp;		/* while extracting a part */
	char		 uid[24];
};

struct recorder {
	struct record_opts	 o;
	record_fn		 done;
	record_event_fn		 each;
	void			*ud;
	unsigned		 errors;
};

static json_object *
str_json(const struct sp_smtp_str *s)
{
	return (json_bytes(s->p, s->len));
}

static json_object *
cstr(const char *s)
{
	return (json_object_new_string(s));
}

static void
close_file(struct recorder *r, FILE **f)
{
	if (*f == NULL)
		return;
	if (fclose(*f) != 0)
		r->errors++;
	*f = NULL;
}

/* FNV-1a: the uid must be stable across runs for the same session. */
static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t	*b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= UINT64_C(0x100000001b3);
	}
	return (h);
}

static void
make_uid(const struct sp_tcp_flow *f, char *buf, size_t len)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325);

	h = fnv(h, &f->first_ts, sizeof(f->first_ts));
	h = fnv(h, f->client.a, sizeof(f->client.a));
	h = fnv(h, f->server.a, sizeof(f->server.a));
	h = fnv(h, &f->client_port, sizeof(f->client_port));
	h = fnv(h, &f->server_port, sizeof(f->server_port));
	/* "S%016llx", by hand: snprintf showed in profiles. */
	if (len < 18)
		return;
	buf[0] = 'S';
	for (int i = 16; i > 0; i--, h >>= 4)
		buf[i] = "0123456789abcdef"[h & 15];
	buf[17] = '\0';
}

static json_object *
endpoint(const struct sp_addr *a, uint16_t port)
{
	json_object	*o = json_object_new_object();
	char		 buf[64];

	json_add(o, "ip", cstr(sp_addr_format(a, buf, sizeof(buf))));
	json_add(o, "port", json_object_new_int(port));
	return (o);
}

static json_object *
enhanced_json(const struct sp_smtp_enhanced *e)
{
	char	buf[32];

	if (e->cls == 0)
		return (NULL);
	snprintf(buf, sizeof(buf), "%u.%u.%u", e->cls, e->subject, e->detail);
	return (cstr(buf));
}

/* A reply object: code, enhanced code, text if there is one. */
static json_object *
reply_json(int code, const struct sp_smtp_enhanced *e,
    const struct sp_smtp_str *text, sp_ts ts)
{
	json_object	*o = json_object_new_object();

	json_add(o, "code", json_object_new_int(code));
	json_add(o, "enhanced", enhanced_json(e));
	if (text != NULL)
		json_add(o, "text", str_json(text));
	if (ts != 0)
		json_add(o, "ts", json_ts(ts));
	return (o);
}

static json_object *
reply_text(const struct sp_smtp_reply *r)
{
	struct sp_smtp_str	 joined;
	size_t			 n = 0, cap = 0;
	uint8_t			*buf;
	json_object		*o;

	for (size_t i = 0; i < r->nlines; i++)
		cap += r->lines[i].len + 1;
	if ((buf = malloc(cap + 1)) == NULL)
		return (cstr(""));
	for (size_t i = 0; i < r->nlines; i++) {
		if (i > 0)
			buf[n++] = '\n';
		memcpy(buf + n, r->lines[i].p, r->lines[i].len);
		n += r->lines[i].len;
	}
	joined.p = buf;
	joined.len = n;
	o = str_json(&joined);
	free(buf);
	return (o);
}

/* --- Dialogue. --- */

/* Remember where command seq sits in the dialogue list. */
static void
index_command(struct srec *s, uint64_t seq, size_t idx)
{
	uint32_t	*n;
	size_t		 want;

	if (seq == 0 || seq > 1000000)
		return;
	if (seq >= s->ncmd_index) {
		want = MAX(seq + 1, s->ncmd_index * 2);
		if ((n = realloc(s->cmd_index, want * sizeof(*n))) == NULL)
			return;
		memset(n + s->ncmd_index, 0xff,
		    (want - s->ncmd_index) * sizeof(*n));
		s->cmd_index = n;
		s->ncmd_index = want;
	}
	s->cmd_index[seq] = (uint32_t)idx;
}

/*
 * The line as it may be shown.  AUTH initial responses carry secrets
 * in base64 (RFC 4954 4), so only the verb and mechanism are kept
 * unless the user asked for secrets.
 */
static json_object *
command_line(const struct recorder *r, const struct sp_smtp_command *c)
{
	struct sp_smtp_str	 line = c->line;
	const uint8_t		*sp;
	char			 buf[128];

	while (line.len > 0 && (line.p[line.len - 1] == '\n' ||
	    line.p[line.len - 1] == '\r'))
		line.len--;
	if (c->verb != SP_SMTP_VERB_AUTH || r->o.show_secrets)
		return (str_json(&line));
	sp = c->arg.len > 0 ? memchr(c->arg.p, ' ', c->arg.len) : NULL;
	if (sp == NULL)
		return (str_json(&line));
	snprintf(buf, sizeof(buf), "%.*s %.*s [redacted]",
	    (int)MIN(c->verb_text.len, 16), c->verb_text.p,
	    (int)MIN((size_t)(sp - c->arg.p), 64), c->arg.p);
	return (cstr(buf));
}

static json_object *
command_item(const struct recorder *r, const struct sp_smtp_command *c)
{
	json_object	*o = json_object_new_object();

	json_add(o, "ts", json_ts(c->ts));
	json_add(o, "dir", cstr("client"));
	json_add(o, "type", cstr("command"));
	json_add(o, "offset", json_object_new_uint64(c->offset));
	json_add(o, "verb", c->verb != SP_SMTP_VERB_UNKNOWN ?
	    cstr(sp_smtp_verb_name(c->verb)) : str_json(&c->verb_text));
	json_add(o, "line", command_line(r, c));
	json_add(o, "group", json_object_new_uint64(c->group));
	return (o);
}

static json_object *
reply_item(const struct srec *s, const struct sp_smtp_reply *rp)
{
	json_object	*o = json_object_new_object();
	json_object	*lines = json_object_new_array();

	json_add(o, "ts", json_ts(rp->ts));
	json_add(o, "dir", cstr("server"));
	json_add(o, "type", cstr("reply"));
	json_add(o, "offset", json_object_new_uint64(rp->offset));
	json_add(o, "code", json_object_new_int(rp->code));
	json_add(o, "enhanced", enhanced_json(&rp->enhanced));
	for (size_t i = 0; i < rp->nlines; i++)
		json_object_array_add(lines, str_json(&rp->lines[i]));
	json_add(o, "lines", lines);
	if (rp->cmd_seq > 0 && rp->cmd_seq < s->ncmd_index &&
	    s->cmd_index[rp->cmd_seq] != UINT32_MAX)
		json_add(o, "answers",
		    json_object_new_int((int)s->cmd_index[rp->cmd_seq]));
	return (o);
}

static void
dialogue_add(struct recorder *r, struct srec *s, json_object *item)
{
	if (s->dialogue == NULL)
		s->dialogue = json_object_new_array();
	if (json_object_array_length(s->dialogue) >= r->o.max_dialogue) {
		json_object_put(item);
		return;
	}
	json_object_array_add(s->dialogue, item);
}

static void
helo_set(struct srec *s)
{
	json_object_put(s->helo);
	s->helo = json_object_get(s->helo_pend);
	s->helo_verb = s->helo_pend_verb;
}

static void
on_command(struct recorder *r, struct srec *s, const struct sp_smtp_command *c)
{
	switch (c->verb) {
	case SP_SMTP_VERB_EHLO:
	case SP_SMTP_VERB_HELO:
	case SP_SMTP_VERB_LHLO:
		json_object_put(s->helo_pend);
		s->helo_pend = str_json(&c->arg);
		s->helo_pend_verb = sp_smtp_verb_name(c->verb);
		s->helo_pend_seq = c->seq;
		if (!s->helo_accepted)
			helo_set(s);
		break;
	default:
		break;
	}
	if (!r->o.dialogue)
		return;
	index_command(s, c->seq, s->dialogue != NULL ?
	    json_object_array_length(s->dialogue) : 0);
	dialogue_add(r, s, command_item(r, c));
}

static void
on_reply(struct recorder *r, struct srec *s, const struct sp_smtp_reply *rp)
{
	if (rp->kind == SP_SMTP_REPLY_GREETING) {
		s->greet_code = rp->code;
		s->greet_enh = rp->enhanced;
		s->greet_ts = rp->ts;
		json_object_put(s->greet_text);
		s->greet_text = reply_text(rp);
	}
	if (rp->kind == SP_SMTP_REPLY_COMMAND && s->helo_pend != NULL &&
	    rp->cmd_seq == s->helo_pend_seq && rp->code / 100 == 2) {
		helo_set(s);
		s->helo_accepted = 1;
	}
	if (r->o.dialogue)
		dialogue_add(r, s, reply_item(s, rp));
}

static void
on_caps(struct srec *s, const struct sp_smtp_capabilities *c)
{
	json_object	*o = json_object_new_object();
	char		 key[128];

	for (size_t i = 0; i < c->ncaps; i++) {
		size_t	n = MIN(c->caps[i].keyword.len, sizeof(key) - 1);

		for (size_t k = 0; k < n; k++)
			key[k] = (char)toupper(c->caps[i].keyword.p[k]);
		key[n] = '\0';
		json_object_object_add(o, key, str_json(&c->caps[i].params));
	}
	json_object_put(s->caps);
	s->caps = o;
	if (c->starttls)
		s->tls_offered = 1;
}

/* --- TLS and AUTH. --- */

static void
tls_finish(struct srec *s)
{
	json_object	*o = json_object_new_object();

	json_add(o, "offered", json_object_new_boolean(s->tls_offered));
	json_add(o, "started", json_object_new_boolean(s->tls_started));
	json_add(o, "implicit", json_object_new_boolean(s->tls_implicit));
	json_add(o, "ts", s->tls_ts);
	s->tls_ts = NULL;
	json_add(s->root, "tls", o);
}

static void
on_tls(struct srec *s, const struct sp_smtp_tls *t)
{
	s->tls_started = 1;
	s->tls_implicit = t->implicit;
	json_object_put(s->tls_ts);
	s->tls_ts = json_ts(t->ts);
}

static const char *const auth_outcomes[] = {
	[SP_SMTP_AUTH_UNKNOWN] = "unknown",
	[SP_SMTP_AUTH_SUCCESS] = "success",
	[SP_SMTP_AUTH_FAILURE] = "failure",
	[SP_SMTP_AUTH_CANCELLED] = "cancelled",
};

static void
on_auth(struct recorder *r, struct srec *s, const struct sp_smtp_auth *a)
{
	json_object	*o = json_object_new_object();

	json_add(o, "mechanism", str_json(&a->mechanism));
	if (a->user.len > 0)
		json_add(o, "user", str_json(&a->user));
	/* The parser redacts unless asked; say so plainly either way. */
	if (a->secret.len > 0 || a->redacted)
		json_add(o, "secret", r->o.show_secrets && !a->redacted ?
		    str_json(&a->secret) : cstr("[redacted]"));
	if (a->code != 0)
		json_add(o, "code", json_object_new_int(a->code));
	json_add(o, "outcome", cstr((unsigned)a->outcome <
	    sizeof(auth_outcomes) / sizeof(*auth_outcomes) ?
	    auth_outcomes[a->outcome] : "unknown"));
	json_add(o, "ts", json_ts(a->ts));
	if (s->auths == NULL)
		s->auths = json_object_new_array();
	json_object_array_add(s->auths, o);
}

/* --- Transactions. --- */

static void
add_param(json_object *o, const uint8_t *k, size_t kl, json_object *v)
{
	char	key[64];
	size_t	n = MIN(kl, sizeof(key) - 1);

	for (size_t i = 0; i < n; i++)
		key[i] = (char)toupper(k[i]);
	key[n] = '\0';
	json_object_object_add(o, key, v);
}

/* "SIZE=123 BODY=8BITMIME SMTPUTF8" -> {"SIZE":"123",...,"SMTPUTF8":null}. */
static json_object *
params_text(const struct sp_smtp_str *t)
{
	json_object	*o = json_object_new_object();
	size_t		 i = 0;

	while (i < t->len) {
		size_t		 ks, ke, vs;
		json_object	*v = NULL;

		while (i < t->len && t->p[i] == ' ')
			i++;
		ks = i;
		while (i < t->len && t->p[i] != ' ' && t->p[i] != '=')
			i++;
		ke = i;
		if (i < t->len && t->p[i] == '=') {
			for (vs = ++i; i < t->len && t->p[i] != ' '; i++)
				;
			v = json_bytes(t->p + vs, i - vs);
		}
		if (ke > ks)
			add_param(o, t->p + ks, ke - ks, v);
		else
			json_object_put(v);
	}
	return (o);
}

static json_object *
params_list(const struct sp_smtp_param *p, size_t n)
{
	json_object	*o = json_object_new_object();

	for (size_t i = 0; i < n; i++)
		add_param(o, p[i].key.p, p[i].key.len, p[i].has_value ?
		    str_json(&p[i].value) : NULL);
	return (o);
}

static json_object *
path_address(const struct sp_smtp_path *p)
{
	if (p->null)
		return (cstr(""));
	return (str_json(p->valid ? &p->mailbox : &p->raw));
}

static const char *
outcome(const struct sp_smtp_transaction *t)
{
	if (t->final_code >= 200 && t->final_code < 300)
		return ("delivered");
	if (t->final_code >= 400)
		return ("rejected");
	if (t->has_mail && t->mail_code >= 400)
		return ("rejected");
	if (t->nrcpts_total > 0 && t->nrcpts_accepted == 0 &&
	    t->rcpts[0].code >= 400)
		return ("rejected");
	if (t->final_code == 0 && t->method == SP_SMTP_METHOD_NONE)
		return ("aborted");
	return ("unknown");
}

/* --- Finished messages waiting for their transaction. --- */

static void
txn_key(char *buf, size_t len, uint64_t txn)
{
	snprintf(buf, len, "%llu", (unsigned long long)txn);
}

/* The finished message of transaction txn, taken out, or NULL. */
static json_object *
unpark_message(struct srec *s, uint64_t txn)
{
	json_object	*m;
	char		 key[24];

	txn_key(key, sizeof(key), txn);
	if (s->parked == NULL ||
	    !json_object_object_get_ex(s->parked, key, &m))
		return (NULL);
	json_object_get(m);
	json_object_object_del(s->parked, key);
	s->nparked--;
	return (m);
}

/* A message whose transaction never ended still belongs in the record. */
static void
adopt_orphan(struct srec *s, uint64_t txn, json_object *msg)
{
	json_object	*tx = json_object_new_object();

	json_add(tx, "index", json_object_new_uint64(txn));
	json_add(tx, "rcpt_to", json_object_new_array());
	json_add(tx, "outcome", cstr("unknown"));
	json_add(tx, "message", msg);
	json_object_array_add(s->txs, tx);
}

/* The message just finished waits for its transaction. */
static void
park_message(struct srec *s)
{
	char	key[24];

	if (s->parked == NULL)
		s->parked = json_object_new_object();
	if (s->nparked == MAX_PARKED_MSGS) {
		json_object_object_foreach(s->parked, k, v) {
			uint64_t	txn = strtoull(k, NULL, 10);

			(void)v;
			adopt_orphan(s, txn, unpark_message(s, txn));
			break;
		}
	}
	txn_key(key, sizeof(key), s->msg_txn);
	/* A number seen twice replaces the older message (never expected). */
	if (json_object_object_get_ex(s->parked, key, NULL))
		s->nparked--;
	json_object_object_add(s->parked, key, s->msg);
	s->nparked++;
	s->msg = NULL;
}

static json_object *
rcpt_json(const struct sp_smtp_rcpt *rc)
{
	json_object	*o = json_object_new_object();

	json_add(o, "address", path_address(&rc->path));
	if (rc->params.len > 0)
		json_add(o, "params", params_text(&rc->params));
	if (rc->code != 0)
		json_add(o, "reply", reply_json(rc->code, &rc->enhanced, NULL, 0));
	json_add(o, "accepted", json_object_new_boolean(rc->accepted));
	return (o);
}

static void
on_transaction(struct recorder *r, struct srec *s,
    const struct sp_smtp_transaction *t)
{
	json_object	*o, *rcpts;

	/* A hostile session may run a million transactions: keep a cap. */
	if (json_object_array_length(s->txs) >= r->o.max_transactions) {
		s->txs_dropped++;
		json_object_put(unpark_message(s, t->seq));
		return;
	}
	o = json_object_new_object();
	rcpts = json_object_new_array();

	json_add(o, "index", json_object_new_uint64(t->seq));
	json_add(o, "ts", json_ts(t->ts_begin));
	if (t->has_mail) {
		json_object	*mf = json_object_new_object();

		json_add(mf, "address", path_address(&t->mail_from));
		json_add(mf, "params", params_list(t->mail_params,
		    t->nmail_params));
		if (t->mail_code != 0)
			json_add(mf, "reply", reply_json(t->mail_code,
			    &t->mail_enhanced, NULL, 0));
		json_add(o, "mail_from", mf);
	}
	for (size_t i = 0; i < t->nrcpts; i++)
		json_object_array_add(rcpts, rcpt_json(&t->rcpts[i]));
	json_add(o, "rcpt_to", rcpts);
	json_add(o, "rcpt_count", json_object_new_uint64(t->nrcpts_total));
	if (t->method != SP_SMTP_METHOD_NONE)
		json_add(o, "method", cstr(t->method == SP_SMTP_METHOD_DATA ?
		    "DATA" : "BDAT"));
	if (t->final_code != 0)
		json_add(o, "reply", reply_json(t->final_code,
		    &t->final_enhanced, &t->final_text, t->ts_end));
	if (t->queue_id.len > 0)
		json_add(o, "queue_id", str_json(&t->queue_id));
	json_add(o, "outcome", cstr(outcome(t)));
	json_add(o, "message", unpark_message(s, t->seq));
	json_object_array_add(s->txs, o);
}

/* --- Messages, headers, parts. --- */

static void
on_message_begin(struct recorder *r, struct srec *s)
{
	char	path[4096];

	json_object_put(s->msg);
	s->msg = json_object_new_object();
	s->headers = json_object_new_object();
	s->parts = json_object_new_array();
	s->urls = json_object_new_array();
	s->nmsg++;
	if (r->o.extract_dir == NULL)
		return;
	/* Our own name: the uid and a counter, never one from the wire. */
	snprintf(path, sizeof(path), "%s/messages/%s-%u.eml",
	    r->o.extract_dir, s->uid, s->nmsg);
	if ((s->eml = fopen(path, "wb")) == NULL) {
		fprintf(stderr, "smtp: cannot write %s: %s\n", path,
		    strerror(errno));
		r->errors++;
	}
}

static void
write_out(struct recorder *r, FILE **f, const uint8_t *p, size_t n)
{
	if (*f != NULL && fwrite(p, 1, n, *f) != n) {
		r->errors++;
		fclose(*f);
		*f = NULL;
	}
}

/* Split an address list at commas outside quotes, brackets, comments. */
static json_object *
address_list(const uint8_t *p, size_t n)
{
	json_object	*a = json_object_new_array();
	int		 quote = 0, angle = 0, paren = 0;
	size_t		 start = 0;

	for (size_t i = 0; i <= n; i++) {
		size_t	b = start, e = i;

		if (i < n) {
			if (p[i] == '"' && (i == 0 || p[i - 1] != '\\'))
				quote = !quote;
			else if (!quote && p[i] == '<')
				angle++;
			else if (!quote && p[i] == '>' && angle > 0)
				angle--;
			else if (!quote && p[i] == '(')
				paren++;
			else if (!quote && p[i] == ')' && paren > 0)
				paren--;
			if (p[i] != ',' || quote || angle || paren)
				continue;
		}
		while (b < e && (p[b] == ' ' || p[b] == '\t'))
			b++;
		while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (e > b)
			json_object_array_add(a, json_bytes(p + b, e - b));
		start = i + 1;
	}
	return (a);
}

static void
append_to(json_object *o, const char *key, json_object *v)
{
	json_object	*arr;

	if (!json_object_object_get_ex(o, key, &arr)) {
		arr = json_object_new_array();
		json_object_object_add(o, key, arr);
	}
	json_object_array_add(arr, v);
}

static void
on_header(struct srec *s, const struct sp_mime_header *h)
{
	static const char *const single[SP_MIME_F__COUNT] = {
		[SP_MIME_F_DATE] = "date", [SP_MIME_F_FROM] = "from",
		[SP_MIME_F_REPLY_TO] = "reply_to",
		[SP_MIME_F_MESSAGE_ID] = "message_id",
		[SP_MIME_F_IN_REPLY_TO] = "in_reply_to",
		[SP_MIME_F_REFERENCES] = "references",
		[SP_MIME_F_X_MAILER] = "x_mailer",
		[SP_MIME_F_USER_AGENT] = "user_agent",
		[SP_MIME_F_X_ORIGINATING_IP] = "x_originating_ip",
	};
	const uint8_t	*d = h->decoded;
	size_t		 dn = h->decoded_len;

	/* Only the message's own header; never an attached message's. */
	if (s->headers == NULL || h->depth != 0 || h->msg_level != 0)
		return;
	if (h->field == SP_MIME_F_SUBJECT) {
		json_object	*old;

		if (json_object_object_get_ex(s->headers, "subject", &old))
			return;
		json_add(s->headers, "subject", json_bytes(d, dn));
		json_add(s->headers, "subject_raw",
		    json_bytes(h->value, h->value_len));
	} else if (h->field == SP_MIME_F_TO || h->field == SP_MIME_F_CC) {
		json_object	*l = address_list(d, dn);
		const char	*key = h->field == SP_MIME_F_TO ? "to" : "cc";

		for (size_t i = 0; i < json_object_array_length(l); i++)
			append_to(s->headers, key, json_object_get(
			    json_object_array_get_idx(l, i)));
		json_object_put(l);
	} else if (h->field == SP_MIME_F_RECEIVED) {
		append_to(s->headers, "received", json_bytes(d, dn));
	} else if (single[h->field] != NULL) {
		/* The first one counts; duplicates raise an anomaly. */
		json_object	*old;

		if (!json_object_object_get_ex(s->headers, single[h->field],
		    &old))
			json_add(s->headers, single[h->field],
			    json_bytes(d, dn));
	}
}

static const char *const disp_names[] = {
	[SP_MIME_DISP_NONE] = NULL, [SP_MIME_DISP_INLINE] = "inline",
	[SP_MIME_DISP_ATTACHMENT] = "attachment",
	[SP_MIME_DISP_OTHER] = "other",
};

static void
on_part_begin(struct recorder *r, struct srec *s, const struct sp_mime_part *p)
{
	char	buf[256];

	if (p->kind != SP_MIME_LEAF || s->msg == NULL)
		return;
	json_object_put(s->part);
	s->part = json_object_new_object();
	json_add(s->part, "path", cstr(p->path[0] != '\0' ? p->path : "0"));
	json_add(s->part, "depth", json_object_new_int((int)p->depth));
	snprintf(buf, sizeof(buf), "%s/%s", p->type, p->subtype);
	json_add(s->part, "content_type", cstr(buf));
	if (p->charset[0] != '\0')
		json_add(s->part, "charset", cstr(p->charset));
	if (disp_names[p->disposition] != NULL)
		json_add(s->part, "disposition",
		    cstr(disp_names[p->disposition]));
	if (p->filename[0] != '\0')
		json_add(s->part, "filename", json_bytes(
		    (const uint8_t *)p->filename, strlen(p->filename)));
	json_add(s->part, "encoding", cstr(sp_mime_cte_name(p->cte)));
	if (p->msg_level > 0)
		json_add(s->part, "in_attached_message",
		    json_object_new_boolean(1));
	if (r->o.extract_dir == NULL)
		return;
	/* Written under a temporary name, renamed to its digest at the end. */
	if (s->part_tmp == NULL && (s->part_tmp = malloc(PATH_MAX)) == NULL) {
		r->errors++;
		return;
	}
	snprintf(s->part_tmp, PATH_MAX, "%s/parts/.tmp-%s-%u",
	    r->o.extract_dir, s->uid, ++s->npart);
	if ((s->partf = fopen(s->part_tmp, "wb")) == NULL)
		r->errors++;
}

static void
add_digests(json_object *o, const struct sp_digests *d)
{
	json_add(o, "sha256", cstr(d->sha256));
	if (d->md5[0] != '\0')
		json_add(o, "md5", cstr(d->md5));
	if (d->sha1[0] != '\0')
		json_add(o, "sha1", cstr(d->sha1));
}

static void
on_part_end(struct recorder *r, struct srec *s, const struct sp_mime_part *p,
    const struct sp_digests *d)
{
	char	path[4096];

	if (p->kind != SP_MIME_LEAF || s->part == NULL)
		return;
	json_add(s->part, "size", json_object_new_uint64(p->decoded_size));
	add_digests(s->part, d);
	json_add(s->part, "complete", json_object_new_boolean(p->complete));
	if (p->missing > 0)
		json_add(s->part, "missing_bytes",
		    json_object_new_uint64(p->missing));
	if (s->partf != NULL) {
		close_file(r, &s->partf);
		snprintf(path, sizeof(path), "%s/parts/%s", r->o.extract_dir,
		    d->sha256);
		/* Same digest, same bytes: an existing file is this one. */
		if (rename(s->part_tmp, path) != 0) {
			r->errors++;
			unlink(s->part_tmp);
		} else {
			snprintf(path, sizeof(path), "parts/%s", d->sha256);
			json_add(s->part, "file", cstr(path));
		}
	}
	free(s->part_tmp);
	s->part_tmp = NULL;
	json_object_array_add(s->parts, s->part);
	s->part = NULL;
}

static void
on_message_end(struct recorder *r, struct srec *s,
    const struct sp_smtp_message *m, const struct sp_digests *d)
{
	char	path[256];

	if (s->msg == NULL)
		return;
	json_add(s->msg, "size", json_object_new_uint64(m->size));
	add_digests(s->msg, d);
	json_add(s->msg, "complete", json_object_new_boolean(m->complete));
	json_add(s->msg, "missing_bytes", json_object_new_uint64(m->missing));
	if (s->eml != NULL) {
		close_file(r, &s->eml);
		snprintf(path, sizeof(path), "messages/%s-%u.eml", s->uid,
		    s->nmsg);
		json_add(s->msg, "file", cstr(path));
	}
	json_add(s->msg, "headers", s->headers);
	json_add(s->msg, "parts", s->parts);
	json_add(s->msg, "urls", s->urls);
	s->headers = s->parts = s->urls = NULL;
	s->msg_txn = m->txn_seq;
	park_message(s);
}

static json_object *
anomaly_json(const struct sp_event *ev)
{
	json_object	*o = json_object_new_object();

	json_add(o, "name", cstr(sp_anomaly_name(ev->u.anomaly.code)));
	json_add(o, "dir", cstr(dir_name(ev->dir)));
	json_add(o, "ts", json_ts(ev->ts));
	json_add(o, "offset", json_object_new_uint64(ev->offset));
	if (ev->u.anomaly.detail != NULL)
		json_add(o, "detail", json_bytes(
		    (const uint8_t *)ev->u.anomaly.detail,
		    strlen(ev->u.anomaly.detail)));
	return (o);
}

static void
on_anomaly(struct recorder *r, struct srec *s, const struct sp_event *ev)
{
	if (s->nanoms >= r->o.max_anomalies) {
		s->anoms_dropped++;
		return;
	}
	s->nanoms++;
	json_object_array_add(s->anoms, anomaly_json(ev));
}

/* --- Session begin and end. --- */

static struct srec *
srec_new(const struct sp_event *ev)
{
	struct srec	*s = calloc(1, sizeof(*s));

	if (s == NULL)
		return (NULL);
	make_uid(ev->flow, s->uid, sizeof(s->uid));
	s->txs = json_object_new_array();
	s->anoms = json_object_new_array();
	return (s);
}

static json_object *
flow_json(const struct sp_tcp_flow *f, enum sp_flow_end why)
{
	json_object	*flow = json_object_new_object();

	json_add(flow, "ip_version", json_object_new_int(f->client.family));
	json_add(flow, "client", endpoint(&f->client, f->client_port));
	json_add(flow, "server", endpoint(&f->server, f->server_port));
	if (f->nvlan > 0) {
		json_object	*v = json_object_new_array();

		for (unsigned i = 0; i < f->nvlan; i++)
			json_object_array_add(v, json_object_new_int(f->vlan[i]));
		json_add(flow, "vlan", v);
	}
	json_add(flow, "handshake", json_object_new_boolean(f->handshake));
	json_add(flow, "end", cstr(sp_flow_end_name(why)));
	return (flow);
}

static json_object *
dir_stats(const struct sp_tcp_dir_stats *d, uint64_t tls_bytes)
{
	json_object	*o = json_object_new_object();

	json_add(o, "packets", json_object_new_uint64(d->packets));
	json_add(o, "bytes", json_object_new_uint64(d->bytes));
	json_add(o, "gaps", json_object_new_uint64(d->gaps));
	json_add(o, "missing_bytes", json_object_new_uint64(d->gap_bytes));
	json_add(o, "duplicate_bytes", json_object_new_uint64(d->dup_bytes));
	json_add(o, "dropped_bytes", json_object_new_uint64(d->dropped_bytes));
	json_add(o, "tls_bytes", json_object_new_uint64(tls_bytes));
	return (o);
}

static void
srec_free(struct recorder *r, struct srec *s)
{
	close_file(r, &s->eml);
	close_file(r, &s->partf);
	if (s->part_tmp != NULL)
		unlink(s->part_tmp);
	free(s->part_tmp);
	/* Arrays not yet attached to the record are ours to drop. */
	json_object_put(s->txs);
	json_object_put(s->anoms);
	json_object_put(s->dialogue);
	json_object_put(s->auths);
	json_object_put(s->caps);
	json_object_put(s->headers);
	json_object_put(s->parts);
	json_object_put(s->urls);
	json_object_put(s->tls_ts);
	json_object_put(s->helo);
	json_object_put(s->helo_pend);
	json_object_put(s->greet_text);
	json_object_put(s->root);
	json_object_put(s->msg);
	json_object_put(s->parked);
	json_object_put(s->part);
	free(s->cmd_index);
	free(s);
}

static void
adopt_orphan_messages(struct srec *s)
{
	uint64_t	txn;

	while (s->nparked > 0) {
		json_object_object_foreach(s->parked, key, val) {
			txn = strtoull(key, NULL, 10);
			adopt_orphan(s, txn, unpark_message(s, txn));
			break;
		}
		(void)val;
	}
	if (s->msg != NULL)
		adopt_orphan(s, s->msg_txn, s->msg);
	s->msg = NULL;
}

static void
session_end(struct recorder *r, struct srec *s, const struct sp_event *ev)
{
	const struct sp_tcp_flow	*f = ev->flow;
	json_object			*st, *g;

	adopt_orphan_messages(s);
	/* Assembled in reading order; the record owns the parts now. */
	s->root = json_object_new_object();
	json_add(s->root, "uid", cstr(s->uid));
	json_add(s->root, "ts", json_ts(f->first_ts));
	json_add(s->root, "ts_end", json_ts(f->last_ts));
	json_add(s->root, "flow", flow_json(f, ev->u.end.why));
	if (s->greet_text != NULL) {
		g = reply_json(s->greet_code, &s->greet_enh, NULL, s->greet_ts);
		json_add(g, "text", s->greet_text);
		json_add(s->root, "greeting", g);
	}
	json_add(s->root, "helo", s->helo);
	if (s->helo_verb != NULL)
		json_add(s->root, "helo_verb", cstr(s->helo_verb));
	json_add(s->root, "capabilities", s->caps);
	tls_finish(s);
	json_add(s->root, "auth", s->auths);
	json_add(s->root, "transactions", s->txs);
	json_add(s->root, "dialogue", s->dialogue);
	json_add(s->root, "anomalies", s->anoms);
	s->greet_text = s->helo = NULL;
	s->caps = s->auths = s->txs = s->dialogue = s->anoms = NULL;
	if (s->anoms_dropped > 0)
		json_add(s->root, "anomalies_dropped",
		    json_object_new_uint64(s->anoms_dropped));
	if (s->txs_dropped > 0)
		json_add(s->root, "transactions_dropped",
		    json_object_new_uint64(s->txs_dropped));
	st = json_object_new_object();
	json_add(st, "client", dir_stats(&f->dir[SP_DIR_CLIENT],
	    ev->u.end.info->tls_bytes[SP_DIR_CLIENT]));
	json_add(st, "server", dir_stats(&f->dir[SP_DIR_SERVER],
	    ev->u.end.info->tls_bytes[SP_DIR_SERVER]));
	json_add(s->root, "stats", st);
	r->done(r->ud, s->root);
}

/* --- Streaming events (--events). --- */

static void
stream_event(struct recorder *r, struct srec *s, const char *type,
    json_object *body)
{
	json_object	*o;

	if (r->each == NULL) {
		json_object_put(body);
		return;
	}
	o = json_object_new_object();
	json_add(o, "uid", cstr(s->uid));
	json_add(o, "event", cstr(type));
	json_object_object_foreach(body, k, v)
		json_object_object_add(o, k, json_object_get(v));
	json_object_put(body);
	r->each(r->ud, o);
	json_object_put(o);
}

static void
stream(struct recorder *r, struct srec *s, const struct sp_event *ev)
{
	json_object	*last;
	size_t		 n;

	/* Build nothing unless --events asked for it. */
	if (r->each == NULL)
		return;
	switch (ev->kind) {
	case SP_EV_COMMAND:
		stream_event(r, s, "command", command_item(r, ev->u.command));
		break;
	case SP_EV_REPLY:
		stream_event(r, s, "reply", reply_item(s, ev->u.reply));
		break;
	case SP_EV_ANOMALY:
		stream_event(r, s, "anomaly", anomaly_json(ev));
		break;
	case SP_EV_TRANSACTION:
		/* Only a transaction the record kept (see max_transactions). */
		n = json_object_array_length(s->txs);
		if (n == s->ntx_streamed)
			break;
		s->ntx_streamed = n;
		last = json_object_array_get_idx(s->txs, n - 1);
		stream_event(r, s, "transaction", json_object_get(last));
		break;
	default:
		break;
	}
}

/* --- Dispatch. --- */

static void
dispatch(struct recorder *r, struct srec *s, const struct sp_event *ev)
{
	switch (ev->kind) {
	case SP_EV_COMMAND:	on_command(r, s, ev->u.command); break;
	case SP_EV_REPLY:	on_reply(r, s, ev->u.reply); break;
	case SP_EV_CAPABILITIES: on_caps(s, ev->u.caps); break;
	case SP_EV_TLS:		on_tls(s, ev->u.tls); break;
	case SP_EV_AUTH:	on_auth(r, s, ev->u.auth); break;
	case SP_EV_TRANSACTION:	on_transaction(r, s, ev->u.transaction); break;
	case SP_EV_MESSAGE_BEGIN: on_message_begin(r, s); break;
	case SP_EV_MESSAGE_DATA:
		write_out(r, &s->eml, ev->u.data.p, ev->u.data.n);
		break;
	case SP_EV_MESSAGE_END:
		on_message_end(r, s, ev->u.message.msg, ev->u.message.digests);
		break;
	case SP_EV_HEADER:	on_header(s, ev->u.header); break;
	case SP_EV_PART_BEGIN:	on_part_begin(r, s, ev->u.part.part); break;
	case SP_EV_PART_DATA:
		write_out(r, &s->partf, ev->u.data.p, ev->u.data.n);
		break;
	case SP_EV_PART_END:
		on_part_end(r, s, ev->u.part.part, ev->u.part.digests);
		break;
	case SP_EV_URL:
		if (s->urls != NULL)
			json_object_array_add(s->urls,
			    json_bytes(ev->u.url->url, ev->u.url->len));
		break;
	case SP_EV_ANOMALY:	on_anomaly(r, s, ev); break;
	default:
		break;
	}
}

int
recorder_event(void *ud, const struct sp_event *ev)
{
	struct recorder	*r = ud;
	struct srec	*s = *ev->user;

	if (ev->kind == SP_EV_SESSION_BEGIN) {
		if ((s = srec_new(ev)) == NULL)
			return (1);
		*ev->user = s;
		return (0);
	}
	if (s == NULL)
		return (0);
	if (ev->kind == SP_EV_SESSION_END) {
		session_end(r, s, ev);
		*ev->user = NULL;
		srec_free(r, s);
		return (0);
	}
	dispatch(r, s, ev);
	stream(r, s, ev);
	return (0);
}

static int
make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return (0);
	fprintf(stderr, "smtp: cannot create %s: %s\n", path, strerror(errno));
	return (-1);
}

struct recorder *
recorder_new(const struct record_opts *o, record_fn done,
    record_event_fn each, void *ud)
{
	struct recorder	*r = calloc(1, sizeof(*r));
	char		 path[4096];

	if (r == NULL)
		return (NULL);
	r->o = *o;
	if (r->o.max_anomalies == 0)
		r->o.max_anomalies = 1000;
	/* Bounds on one record's size: at most a few tens of MB. */
	if (r->o.max_dialogue == 0)
		r->o.max_dialogue = 10000;
	if (r->o.max_transactions == 0)
		r->o.max_transactions = 1000;
	r->done = done;
	r->each = each;
	r->ud = ud;
	if (o->extract_dir == NULL)
		return (r);
	if (make_dir(o->extract_dir) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/messages", o->extract_dir);
	if (make_dir(path) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/parts", o->extract_dir);
	if (make_dir(path) != 0)
		goto fail;
	return (r);
fail:
	free(r);
	return (NULL);
}

void
recorder_free(struct recorder *r)
{
	free(r);
}

unsigned
recorder_errors(const struct recorder *r)
{
	return (r->errors);
}
