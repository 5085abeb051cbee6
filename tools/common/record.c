/*
 * record.c - analyzer events -> one JSON record per session.
 *
 * A record grows as its events arrive and is handed to the caller when
 * the session ends, so live output flows.  It is a jv tree (jv.h): a
 * few arena chunks per session instead of hundreds of json-c mallocs.  A message ends (with its
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
#include "ndjw.h"
#include "record.h"

/*
 * Finished messages waiting for their transaction, at most this many
 * per session: past it the oldest goes into the record at once as an
 * orphan (still reported, only without its envelope).
 */
#define MAX_PARKED_MSGS	64

/* Wire bytes kept until the record is assembled (helo, greeting). */
struct bytes {
	uint8_t	*p;
	size_t	 n;
	int	 set;
};

/*
 * A finished message and the arena it lives in: a message is built in
 * an arena of its own, so one dropped (past max_transactions) or
 * replaced gives its memory back at once; a kept one is adopted by
 * the session's arena.
 */
struct parked {
	uint64_t	 txn;
	struct jv	*msg;
	struct jv_arena	*a;
};

/*
 * What a session has shown so far, as parts of its record.  The record
 * itself is assembled when the session ends.  Everything lives in the
 * session's arena a except the parts that may be replaced any number
 * of times (capabilities, messages: own arenas; helo, greeting: bytes).
 */
struct srec {
	struct jv_arena	*a;
	struct jv	*root, *txs, *dialogue, *anoms, *auths;
	struct jv_arena	*caps_a;
	struct jv	*caps;
	struct bytes	 helo, greet_text;
	const char	*helo_verb;
	/*
	 * The last HELO/EHLO/LHLO sent and whether one was accepted: the
	 * record's "helo" is the greeting the server accepted (2xx), so
	 * an unanswered line (a STARTTLS injection, CVE-2011-0411, which
	 * the 220 discards) cannot replace it.  Until a 2xx is seen (or
	 * in a client-only capture) it is the last one sent.
	 */
	struct bytes	 helo_pend;
	const char	*helo_pend_verb;
	uint64_t	 helo_pend_seq;
	int		 helo_accepted;
	/*
	 * Finished messages by transaction number, oldest first.  Several
	 * can wait: without server replies (a one-sided capture) no
	 * transaction ends before the session does, and the next message
	 * begins long before that.
	 */
	struct parked	*parked;	/* grown up to MAX_PARKED_MSGS */
	size_t		 nparked, parked_cap;
	int		 greet_code;
	struct sp_smtp_enhanced greet_enh;
	sp_ts		 greet_ts;
	size_t		 nanoms, anoms_dropped, txs_dropped, ntx_streamed;
	uint32_t	*cmd_index;	/* command seq -> dialogue index */
	size_t		 ncmd_index;
	/* The message being read, in its arena msg_a. */
	struct jv_arena	*msg_a;
	struct jv	*msg, *headers, *parts, *urls, *part;
	uint64_t	 msg_txn;
	unsigned	 nmsg, npart;
	int		 tls_offered, tls_started;
	sp_ts		 tls_ts;
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

static struct jv *
str_json(struct jv_arena *a, const struct sp_smtp_str *s)
{
	return (jv_bytes(a, s->p, s->len));
}

static struct jv *
cstr(struct jv_arena *a, const char *s)
{
	return (jv_str(a, s));
}

/* Keep a copy of n bytes at p in b (on failure b is left unset). */
static void
bytes_set(struct bytes *b, const uint8_t *p, size_t n)
{
	uint8_t	*np;

	b->set = 0;
	if ((np = realloc(b->p, n > 0 ? n : 1)) == NULL)
		return;
	memcpy(np, p, n);
	b->p = np;
	b->n = n;
	b->set = 1;
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

static struct jv *
endpoint(struct jv_arena *a, const struct sp_addr *addr, uint16_t port)
{
	struct jv	*o = jv_object(a);
	char		 buf[64];

	jv_add(o, "ip", cstr(a, sp_addr_format(addr, buf, sizeof(buf))));
	jv_add(o, "port", jv_int(a, port));
	return (o);
}

static struct jv *
enhanced_json(struct jv_arena *a, const struct sp_smtp_enhanced *e)
{
	unsigned	v[3] = { e->cls, e->subject, e->detail };
	char		buf[3 * NDJ_NUM], d[NDJ_NUM];
	size_t		n = 0, k;

	if (e->cls == 0)
		return (NULL);
	/* "%u.%u.%u": one per reply. */
	for (int i = 0; i < 3; i++) {
		k = ndj_digits(v[i], d);
		if (i > 0)
			buf[n++] = '.';
		memcpy(buf + n, d + k, NDJ_NUM - k);
		n += NDJ_NUM - k;
	}
	return (jv_strn(a, buf, n));
}

/* A reply object: code, enhanced code, text if there is one. */
static struct jv *
reply_json(struct jv_arena *a, int code, const struct sp_smtp_enhanced *e,
    const struct sp_smtp_str *text, sp_ts ts)
{
	struct jv	*o = jv_object(a);

	jv_add(o, "code", jv_int(a, code));
	jv_add(o, "enhanced", enhanced_json(a, e));
	if (text != NULL)
		jv_add(o, "text", str_json(a, text));
	if (ts != 0)
		jv_add(o, "ts", jv_ts(a, ts));
	return (o);
}

/* The lines of a reply joined by newlines, kept in b. */
static void
reply_text(struct bytes *b, const struct sp_smtp_reply *r)
{
	size_t	 n = 0, cap = 1;
	uint8_t	*buf;

	for (size_t i = 0; i < r->nlines; i++)
		cap += r->lines[i].len + 1;
	/* Short of memory the text is empty, as before. */
	b->set = 1;
	b->n = 0;
	if ((buf = realloc(b->p, cap)) == NULL)
		return;
	b->p = buf;
	for (size_t i = 0; i < r->nlines; i++) {
		if (i > 0)
			buf[n++] = '\n';
		memcpy(buf + n, r->lines[i].p, r->lines[i].len);
		n += r->lines[i].len;
	}
	b->n = n;
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
static struct jv *
command_line(struct jv_arena *a, const struct recorder *r,
    const struct sp_smtp_command *c)
{
	struct sp_smtp_str	 line = c->line;
	const uint8_t		*sp;
	char			 buf[128];

	while (line.len > 0 && (line.p[line.len - 1] == '\n' ||
	    line.p[line.len - 1] == '\r'))
		line.len--;
	if (c->verb != SP_SMTP_VERB_AUTH || r->o.show_secrets)
		return (str_json(a, &line));
	sp = c->arg.len > 0 ? memchr(c->arg.p, ' ', c->arg.len) : NULL;
	if (sp == NULL)
		return (str_json(a, &line));
	snprintf(buf, sizeof(buf), "%.*s %.*s [redacted]",
	    (int)MIN(c->verb_text.len, 16), c->verb_text.p,
	    (int)MIN((size_t)(sp - c->arg.p), 64), c->arg.p);
	return (cstr(a, buf));
}

static struct jv *
command_item(struct jv_arena *a, const struct recorder *r,
    const struct sp_smtp_command *c)
{
	struct jv	*o = jv_object(a);

	jv_add(o, "ts", jv_ts(a, c->ts));
	jv_add(o, "dir", cstr(a, "client"));
	jv_add(o, "type", cstr(a, "command"));
	jv_add(o, "offset", jv_uint(a, c->offset));
	jv_add(o, "verb", c->verb != SP_SMTP_VERB_UNKNOWN ?
	    cstr(a, sp_smtp_verb_name(c->verb)) : str_json(a, &c->verb_text));
	jv_add(o, "line", command_line(a, r, c));
	jv_add(o, "group", jv_uint(a, c->group));
	return (o);
}

static struct jv *
reply_item(struct jv_arena *a, const struct srec *s,
    const struct sp_smtp_reply *rp)
{
	struct jv	*o = jv_object(a);
	struct jv	*lines = jv_array(a);

	jv_add(o, "ts", jv_ts(a, rp->ts));
	jv_add(o, "dir", cstr(a, "server"));
	jv_add(o, "type", cstr(a, "reply"));
	jv_add(o, "offset", jv_uint(a, rp->offset));
	jv_add(o, "code", jv_int(a, rp->code));
	jv_add(o, "enhanced", enhanced_json(a, &rp->enhanced));
	for (size_t i = 0; i < rp->nlines; i++)
		jv_push(lines, str_json(a, &rp->lines[i]));
	jv_add(o, "lines", lines);
	if (rp->cmd_seq > 0 && rp->cmd_seq < s->ncmd_index &&
	    s->cmd_index[rp->cmd_seq] != UINT32_MAX)
		jv_add(o, "answers",
		    jv_int(a, (int)s->cmd_index[rp->cmd_seq]));
	return (o);
}

/* Whether the dialogue has room for one more item (built only then). */
static int
dialogue_room(const struct recorder *r, struct srec *s)
{
	if (s->dialogue == NULL)
		s->dialogue = jv_array(s->a);
	return (jv_len(s->dialogue) < r->o.max_dialogue);
}

static void
helo_set(struct srec *s)
{
	if (s->helo_pend.set)
		bytes_set(&s->helo, s->helo_pend.p, s->helo_pend.n);
	s->helo_verb = s->helo_pend_verb;
}

static void
on_command(struct recorder *r, struct srec *s, const struct sp_smtp_command *c)
{
	switch (c->verb) {
	case SP_SMTP_VERB_EHLO:
	case SP_SMTP_VERB_HELO:
	case SP_SMTP_VERB_LHLO:
		bytes_set(&s->helo_pend, c->arg.p, c->arg.len);
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
	index_command(s, c->seq, jv_len(s->dialogue));
	if (dialogue_room(r, s))
		jv_push(s->dialogue, command_item(s->a, r, c));
}

static void
on_reply(struct recorder *r, struct srec *s, const struct sp_smtp_reply *rp)
{
	if (rp->kind == SP_SMTP_REPLY_GREETING) {
		s->greet_code = rp->code;
		s->greet_enh = rp->enhanced;
		s->greet_ts = rp->ts;
		reply_text(&s->greet_text, rp);
	}
	if (rp->kind == SP_SMTP_REPLY_COMMAND && s->helo_pend.set &&
	    rp->cmd_seq == s->helo_pend_seq && rp->code / 100 == 2) {
		helo_set(s);
		s->helo_accepted = 1;
	}
	if (r->o.dialogue && dialogue_room(r, s))
		jv_push(s->dialogue, reply_item(s->a, s, rp));
}

static void
on_caps(struct srec *s, const struct sp_smtp_capabilities *c)
{
	struct jv_arena	*a = jv_arena_new();
	struct jv	*o = jv_object(a);
	char		 key[128];

	for (size_t i = 0; i < c->ncaps; i++) {
		size_t	n = MIN(c->caps[i].keyword.len, sizeof(key) - 1);

		for (size_t k = 0; k < n; k++)
			key[k] = (char)toupper(c->caps[i].keyword.p[k]);
		key[n] = '\0';
		jv_put(o, key, str_json(a, &c->caps[i].params));
	}
	/* Each EHLO reply replaces the last: its arena goes with it. */
	jv_arena_free(s->caps_a);
	s->caps_a = a;
	s->caps = o;
	if (c->starttls)
		s->tls_offered = 1;
}

/* --- TLS and AUTH. --- */

static void
tls_finish(struct srec *s)
{
	struct jv_arena	*a = s->a;
	struct jv	*o = jv_object(a);

	jv_add(o, "offered", jv_bool(a, s->tls_offered));
	jv_add(o, "started", jv_bool(a, s->tls_started));
	jv_add(o, "implicit", jv_bool(a, s->tls_implicit));
	if (s->tls_started)
		jv_add(o, "ts", jv_ts(a, s->tls_ts));
	jv_add(s->root, "tls", o);
}

static void
on_tls(struct srec *s, const struct sp_smtp_tls *t)
{
	s->tls_started = 1;
	s->tls_implicit = t->implicit;
	s->tls_ts = t->ts;
}

static const char *const auth_outcomes[] = {
	[SP_SMTP_AUTH_UNKNOWN] = "unknown",
	[SP_SMTP_AUTH_SUCCESS] = "success",
	[SP_SMTP_AUTH_FAILURE] = "failure",
	[SP_SMTP_AUTH_CANCELLED] = "cancelled",
};

static void
on_auth(struct recorder *r, struct srec *s, const struct sp_smtp_auth *au)
{
	struct jv_arena	*a = s->a;
	struct jv	*o = jv_object(a);

	jv_add(o, "mechanism", str_json(a, &au->mechanism));
	if (au->user.len > 0)
		jv_add(o, "user", str_json(a, &au->user));
	/* The parser redacts unless asked; say so plainly either way. */
	if (au->secret.len > 0 || au->redacted)
		jv_add(o, "secret", r->o.show_secrets && !au->redacted ?
		    str_json(a, &au->secret) : cstr(a, "[redacted]"));
	if (au->code != 0)
		jv_add(o, "code", jv_int(a, au->code));
	jv_add(o, "outcome", cstr(a, (unsigned)au->outcome <
	    sizeof(auth_outcomes) / sizeof(*auth_outcomes) ?
	    auth_outcomes[au->outcome] : "unknown"));
	jv_add(o, "ts", jv_ts(a, au->ts));
	if (s->auths == NULL)
		s->auths = jv_array(a);
	jv_push(s->auths, o);
}

/* --- Transactions. --- */

/* A NULL v is the value null ("SMTPUTF8" without "="). */
static void
add_param(struct jv *o, const uint8_t *k, size_t kl, struct jv *v)
{
	char	key[64];
	size_t	n = MIN(kl, sizeof(key) - 1);

	for (size_t i = 0; i < n; i++)
		key[i] = (char)toupper(k[i]);
	key[n] = '\0';
	jv_put(o, key, v);
}

/* "SIZE=123 BODY=8BITMIME SMTPUTF8" -> {"SIZE":"123",...,"SMTPUTF8":null}. */
static struct jv *
params_text(struct jv_arena *a, const struct sp_smtp_str *t)
{
	struct jv	*o = jv_object(a);
	size_t		 i = 0;

	while (i < t->len) {
		size_t	ks, ke, vs = 0;
		int	has_value = 0;

		while (i < t->len && t->p[i] == ' ')
			i++;
		ks = i;
		while (i < t->len && t->p[i] != ' ' && t->p[i] != '=')
			i++;
		ke = i;
		if (i < t->len && t->p[i] == '=') {
			for (vs = ++i; i < t->len && t->p[i] != ' '; i++)
				;
			has_value = 1;
		}
		if (ke > ks)
			add_param(o, t->p + ks, ke - ks, has_value ?
			    jv_bytes(a, t->p + vs, i - vs) : NULL);
	}
	return (o);
}

static struct jv *
params_list(struct jv_arena *a, const struct sp_smtp_param *p, size_t n)
{
	struct jv	*o = jv_object(a);

	for (size_t i = 0; i < n; i++)
		add_param(o, p[i].key.p, p[i].key.len, p[i].has_value ?
		    str_json(a, &p[i].value) : NULL);
	return (o);
}

static struct jv *
path_address(struct jv_arena *a, const struct sp_smtp_path *p)
{
	if (p->null)
		return (cstr(a, ""));
	return (str_json(a, p->valid ? &p->mailbox : &p->raw));
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

/* Take out parked entry i, keeping the others in order. */
static struct parked
unpark_at(struct srec *s, size_t i)
{
	struct parked	p = s->parked[i];

	memmove(s->parked + i, s->parked + i + 1,
	    (s->nparked - i - 1) * sizeof(*s->parked));
	s->nparked--;
	return (p);
}

/* The finished message of transaction txn, taken out; msg NULL if none. */
static struct parked
unpark_message(struct srec *s, uint64_t txn)
{
	struct parked	none = { txn, NULL, NULL };

	for (size_t i = 0; i < s->nparked; i++)
		if (s->parked[i].txn == txn)
			return (unpark_at(s, i));
	return (none);
}

/* The message goes into the record: its arena lives as long as it. */
static struct jv *
keep_message(struct srec *s, struct parked p)
{
	jv_arena_adopt(s->a, p.a);
	return (p.msg);
}

/* A message whose transaction never ended still belongs in the record. */
static void
adopt_orphan(struct srec *s, struct parked p)
{
	struct jv_arena	*a = s->a;
	struct jv	*tx = jv_object(a);

	jv_add(tx, "index", jv_uint(a, p.txn));
	jv_add(tx, "rcpt_to", jv_array(a));
	jv_add(tx, "outcome", cstr(a, "unknown"));
	jv_add(tx, "message", keep_message(s, p));
	jv_push(s->txs, tx);
}

static int
parked_grow(struct srec *s)
{
	size_t		 want = MIN(MAX(s->parked_cap * 2, 4), MAX_PARKED_MSGS);
	struct parked	*n = realloc(s->parked, want * sizeof(*n));

	if (n == NULL)
		return (-1);
	s->parked = n;
	s->parked_cap = want;
	return (0);
}

/* The message just finished waits for its transaction. */
static void
park_message(struct srec *s)
{
	struct parked	p = { s->msg_txn, s->msg, s->msg_a };

	s->msg = s->headers = s->parts = s->urls = s->part = NULL;
	s->msg_a = NULL;
	/* A number seen twice replaces the older message (never expected). */
	for (size_t i = 0; i < s->nparked; i++) {
		if (s->parked[i].txn == p.txn) {
			jv_arena_free(s->parked[i].a);
			s->parked[i] = p;
			return;
		}
	}
	if (s->nparked == MAX_PARKED_MSGS)
		adopt_orphan(s, unpark_at(s, 0));
	if (s->nparked == s->parked_cap && parked_grow(s) != 0) {
		adopt_orphan(s, p);	/* short of memory: no envelope */
		return;
	}
	s->parked[s->nparked++] = p;
}

static struct jv *
rcpt_json(struct jv_arena *a, const struct sp_smtp_rcpt *rc)
{
	struct jv	*o = jv_object(a);

	jv_add(o, "address", path_address(a, &rc->path));
	if (rc->params.len > 0)
		jv_add(o, "params", params_text(a, &rc->params));
	if (rc->code != 0)
		jv_add(o, "reply", reply_json(a, rc->code, &rc->enhanced,
		    NULL, 0));
	jv_add(o, "accepted", jv_bool(a, rc->accepted));
	return (o);
}

static void
on_transaction(struct recorder *r, struct srec *s,
    const struct sp_smtp_transaction *t)
{
	struct jv_arena	*a = s->a;
	struct jv	*o, *rcpts;

	/* A hostile session may run a million transactions: keep a cap. */
	if (jv_len(s->txs) >= r->o.max_transactions) {
		s->txs_dropped++;
		jv_arena_free(unpark_message(s, t->seq).a);
		return;
	}
	o = jv_object(a);
	rcpts = jv_array(a);

	jv_add(o, "index", jv_uint(a, t->seq));
	jv_add(o, "ts", jv_ts(a, t->ts_begin));
	if (t->has_mail) {
		struct jv	*mf = jv_object(a);

		jv_add(mf, "address", path_address(a, &t->mail_from));
		jv_add(mf, "params", params_list(a, t->mail_params,
		    t->nmail_params));
		if (t->mail_code != 0)
			jv_add(mf, "reply", reply_json(a, t->mail_code,
			    &t->mail_enhanced, NULL, 0));
		jv_add(o, "mail_from", mf);
	}
	for (size_t i = 0; i < t->nrcpts; i++)
		jv_push(rcpts, rcpt_json(a, &t->rcpts[i]));
	jv_add(o, "rcpt_to", rcpts);
	jv_add(o, "rcpt_count", jv_uint(a, t->nrcpts_total));
	if (t->method != SP_SMTP_METHOD_NONE)
		jv_add(o, "method", cstr(a, t->method == SP_SMTP_METHOD_DATA ?
		    "DATA" : "BDAT"));
	if (t->final_code != 0)
		jv_add(o, "reply", reply_json(a, t->final_code,
		    &t->final_enhanced, &t->final_text, t->ts_end));
	if (t->queue_id.len > 0)
		jv_add(o, "queue_id", str_json(a, &t->queue_id));
	jv_add(o, "outcome", cstr(a, outcome(t)));
	jv_add(o, "message", keep_message(s, unpark_message(s, t->seq)));
	jv_push(s->txs, o);
}

/* --- Messages, headers, parts. --- */

static void
on_message_begin(struct recorder *r, struct srec *s)
{
	struct jv_arena	*a;
	char		 path[4096];

	/* A message never ended is dropped (the analyzer ends them all). */
	jv_arena_free(s->msg_a);
	s->msg_a = a = jv_arena_new();
	s->part = NULL;
	s->msg = jv_object(a);
	s->headers = jv_object(a);
	s->parts = jv_array(a);
	s->urls = jv_array(a);
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

/* Add v to the array under key, made when the first value comes. */
static void
append_to(struct jv_arena *a, struct jv *o, const char *key, struct jv *v)
{
	struct jv	*arr = jv_get(o, key);

	if (arr == NULL) {
		arr = jv_array(a);
		jv_add(o, key, arr);
	}
	jv_push(arr, v);
}

/* Split an address list at commas outside quotes, brackets, comments. */
static void
address_list(struct jv_arena *a, struct jv *o, const char *key,
    const uint8_t *p, size_t n)
{
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
			append_to(a, o, key, jv_bytes(a, p + b, e - b));
		start = i + 1;
	}
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
	struct jv_arena	*a = s->msg_a;
	const uint8_t	*d = h->decoded;
	size_t		 dn = h->decoded_len;

	/* Only the message's own header; never an attached message's. */
	if (s->headers == NULL || h->depth != 0 || h->msg_level != 0)
		return;
	if (h->field == SP_MIME_F_SUBJECT) {
		if (jv_has(s->headers, "subject"))
			return;
		jv_add(s->headers, "subject", jv_bytes(a, d, dn));
		jv_add(s->headers, "subject_raw",
		    jv_bytes(a, h->value, h->value_len));
	} else if (h->field == SP_MIME_F_TO || h->field == SP_MIME_F_CC) {
		address_list(a, s->headers, h->field == SP_MIME_F_TO ?
		    "to" : "cc", d, dn);
	} else if (h->field == SP_MIME_F_RECEIVED) {
		append_to(a, s->headers, "received", jv_bytes(a, d, dn));
	} else if (single[h->field] != NULL) {
		/* The first one counts; duplicates raise an anomaly. */
		if (!jv_has(s->headers, single[h->field]))
			jv_add(s->headers, single[h->field],
			    jv_bytes(a, d, dn));
	}
}

static const char *const disp_names[] = {
	[SP_MIME_DISP_NONE] = NULL, [SP_MIME_DISP_INLINE] = "inline",
	[SP_MIME_DISP_ATTACHMENT] = "attachment",
	[SP_MIME_DISP_OTHER] = "other",
};

/* "type/subtype", the JSON's content_type. */
static struct jv *
content_type(struct jv_arena *a, const struct sp_mime_part *p)
{
	size_t	t = strlen(p->type), st = strlen(p->subtype);
	char	buf[256];

	/* The parser bounds both (64 and 128 bytes); cut as snprintf did. */
	t = MIN(t, (size_t)127);
	st = MIN(st, sizeof(buf) - 1 - t);
	memcpy(buf, p->type, t);
	buf[t] = '/';
	memcpy(buf + t + 1, p->subtype, st);
	return (jv_strn(a, buf, t + 1 + st));
}

static void
on_part_begin(struct recorder *r, struct srec *s, const struct sp_mime_part *p)
{
	struct jv_arena	*a = s->msg_a;

	if (p->kind != SP_MIME_LEAF || s->msg == NULL)
		return;
	/* One begun and never ended stays in the arena until the message. */
	s->part = jv_object(a);
	jv_add(s->part, "path", cstr(a, p->path[0] != '\0' ? p->path : "0"));
	jv_add(s->part, "depth", jv_int(a, (int)p->depth));
	jv_add(s->part, "content_type", content_type(a, p));
	if (p->charset[0] != '\0')
		jv_add(s->part, "charset", cstr(a, p->charset));
	if (disp_names[p->disposition] != NULL)
		jv_add(s->part, "disposition",
		    cstr(a, disp_names[p->disposition]));
	if (p->filename[0] != '\0')
		jv_add(s->part, "filename", jv_bytes(a,
		    (const uint8_t *)p->filename, strlen(p->filename)));
	jv_add(s->part, "encoding", cstr(a, sp_mime_cte_name(p->cte)));
	if (p->msg_level > 0)
		jv_add(s->part, "in_attached_message", jv_bool(a, 1));
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
add_digests(struct jv_arena *a, struct jv *o, const struct sp_digests *d)
{
	jv_add(o, "sha256", cstr(a, d->sha256));
	if (d->md5[0] != '\0')
		jv_add(o, "md5", cstr(a, d->md5));
	if (d->sha1[0] != '\0')
		jv_add(o, "sha1", cstr(a, d->sha1));
}

static void
on_part_end(struct recorder *r, struct srec *s, const struct sp_mime_part *p,
    const struct sp_digests *d)
{
	struct jv_arena	*a = s->msg_a;
	char		 path[4096];

	if (p->kind != SP_MIME_LEAF || s->part == NULL)
		return;
	jv_add(s->part, "size", jv_uint(a, p->decoded_size));
	add_digests(a, s->part, d);
	jv_add(s->part, "complete", jv_bool(a, p->complete));
	if (p->missing > 0)
		jv_add(s->part, "missing_bytes", jv_uint(a, p->missing));
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
			jv_add(s->part, "file", cstr(a, path));
		}
	}
	free(s->part_tmp);
	s->part_tmp = NULL;
	jv_push(s->parts, s->part);
	s->part = NULL;
}

static void
on_message_end(struct recorder *r, struct srec *s,
    const struct sp_smtp_message *m, const struct sp_digests *d)
{
	struct jv_arena	*a = s->msg_a;
	char		 path[256];

	if (s->msg == NULL)
		return;
	jv_add(s->msg, "size", jv_uint(a, m->size));
	add_digests(a, s->msg, d);
	jv_add(s->msg, "complete", jv_bool(a, m->complete));
	jv_add(s->msg, "missing_bytes", jv_uint(a, m->missing));
	if (s->eml != NULL) {
		close_file(r, &s->eml);
		snprintf(path, sizeof(path), "messages/%s-%u.eml", s->uid,
		    s->nmsg);
		jv_add(s->msg, "file", cstr(a, path));
	}
	jv_add(s->msg, "headers", s->headers);
	jv_add(s->msg, "parts", s->parts);
	jv_add(s->msg, "urls", s->urls);
	s->msg_txn = m->txn_seq;
	park_message(s);
}

static struct jv *
anomaly_json(struct jv_arena *a, const struct sp_event *ev)
{
	struct jv	*o = jv_object(a);

	jv_add(o, "name", cstr(a, sp_anomaly_name(ev->u.anomaly.code)));
	jv_add(o, "dir", cstr(a, dir_name(ev->dir)));
	jv_add(o, "ts", jv_ts(a, ev->ts));
	jv_add(o, "offset", jv_uint(a, ev->offset));
	if (ev->u.anomaly.detail != NULL)
		jv_add(o, "detail", jv_bytes(a,
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
	jv_push(s->anoms, anomaly_json(s->a, ev));
}

/* --- Session begin and end. --- */

static struct srec *
srec_new(const struct sp_event *ev)
{
	struct srec	*s = calloc(1, sizeof(*s));

	if (s == NULL)
		return (NULL);
	if ((s->a = jv_arena_new()) == NULL) {
		free(s);
		return (NULL);
	}
	make_uid(ev->flow, s->uid, sizeof(s->uid));
	s->txs = jv_array(s->a);
	s->anoms = jv_array(s->a);
	return (s);
}

static struct jv *
flow_json(struct jv_arena *a, const struct sp_tcp_flow *f,
    enum sp_flow_end why)
{
	struct jv	*flow = jv_object(a);

	jv_add(flow, "ip_version", jv_int(a, f->client.family));
	jv_add(flow, "client", endpoint(a, &f->client, f->client_port));
	jv_add(flow, "server", endpoint(a, &f->server, f->server_port));
	if (f->nvlan > 0) {
		struct jv	*v = jv_array(a);

		for (unsigned i = 0; i < f->nvlan; i++)
			jv_push(v, jv_int(a, f->vlan[i]));
		jv_add(flow, "vlan", v);
	}
	jv_add(flow, "handshake", jv_bool(a, f->handshake));
	jv_add(flow, "end", cstr(a, sp_flow_end_name(why)));
	return (flow);
}

static struct jv *
dir_stats(struct jv_arena *a, const struct sp_tcp_dir_stats *d,
    uint64_t tls_bytes)
{
	struct jv	*o = jv_object(a);

	jv_add(o, "packets", jv_uint(a, d->packets));
	jv_add(o, "bytes", jv_uint(a, d->bytes));
	jv_add(o, "gaps", jv_uint(a, d->gaps));
	jv_add(o, "missing_bytes", jv_uint(a, d->gap_bytes));
	jv_add(o, "duplicate_bytes", jv_uint(a, d->dup_bytes));
	jv_add(o, "dropped_bytes", jv_uint(a, d->dropped_bytes));
	jv_add(o, "tls_bytes", jv_uint(a, tls_bytes));
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
	/* The record and everything it adopted go with the session arena. */
	jv_arena_free(s->a);
	jv_arena_free(s->caps_a);
	jv_arena_free(s->msg_a);
	for (size_t i = 0; i < s->nparked; i++)
		jv_arena_free(s->parked[i].a);
	free(s->parked);
	free(s->helo.p);
	free(s->helo_pend.p);
	free(s->greet_text.p);
	free(s->cmd_index);
	free(s);
}

static void
adopt_orphan_messages(struct srec *s)
{
	struct parked	p = { s->msg_txn, s->msg, s->msg_a };

	while (s->nparked > 0)
		adopt_orphan(s, unpark_at(s, 0));
	if (s->msg != NULL)
		adopt_orphan(s, p);
	else
		jv_arena_free(s->msg_a);
	s->msg = s->headers = s->parts = s->urls = s->part = NULL;
	s->msg_a = NULL;
}

static void
session_end(struct recorder *r, struct srec *s, const struct sp_event *ev)
{
	const struct sp_tcp_flow	*f = ev->flow;
	struct jv_arena			*a = s->a;
	struct jv			*st, *g;

	adopt_orphan_messages(s);
	/* Assembled in reading order. */
	s->root = jv_object(a);
	jv_add(s->root, "uid", cstr(a, s->uid));
	jv_add(s->root, "ts", jv_ts(a, f->first_ts));
	jv_add(s->root, "ts_end", jv_ts(a, f->last_ts));
	jv_add(s->root, "flow", flow_json(a, f, ev->u.end.why));
	if (s->greet_text.set) {
		g = reply_json(a, s->greet_code, &s->greet_enh, NULL,
		    s->greet_ts);
		jv_add(g, "text", jv_bytes(a, s->greet_text.p,
		    s->greet_text.n));
		jv_add(s->root, "greeting", g);
	}
	if (s->helo.set)
		jv_add(s->root, "helo", jv_bytes(a, s->helo.p, s->helo.n));
	if (s->helo_verb != NULL)
		jv_add(s->root, "helo_verb", cstr(a, s->helo_verb));
	jv_add(s->root, "capabilities", s->caps);
	jv_arena_adopt(a, s->caps_a);
	s->caps_a = NULL;
	tls_finish(s);
	jv_add(s->root, "auth", s->auths);
	jv_add(s->root, "transactions", s->txs);
	jv_add(s->root, "dialogue", s->dialogue);
	jv_add(s->root, "anomalies", s->anoms);
	if (s->anoms_dropped > 0)
		jv_add(s->root, "anomalies_dropped",
		    jv_uint(a, s->anoms_dropped));
	if (s->txs_dropped > 0)
		jv_add(s->root, "transactions_dropped",
		    jv_uint(a, s->txs_dropped));
	st = jv_object(a);
	jv_add(st, "client", dir_stats(a, &f->dir[SP_DIR_CLIENT],
	    ev->u.end.info->tls_bytes[SP_DIR_CLIENT]));
	jv_add(st, "server", dir_stats(a, &f->dir[SP_DIR_SERVER],
	    ev->u.end.info->tls_bytes[SP_DIR_SERVER]));
	jv_add(s->root, "stats", st);
	r->done(r->ud, s->root);
}

/* --- Streaming events (--events). --- */

/*
 * One event as {"uid", "event", the body's members}, built in an arena
 * of its own that goes once the callback has written it.
 */
static void
stream_event(struct recorder *r, struct srec *s, struct jv_arena *a,
    const char *type, const struct jv *body)
{
	struct jv	*o = jv_object(a);

	jv_add(o, "uid", cstr(a, s->uid));
	jv_add(o, "event", cstr(a, type));
	for (const struct jv_member *m = jv_first(body); m != NULL;
	    m = jv_next(m))
		jv_put(o, jv_key(m), jv_val(m));
	r->each(r->ud, o);
}

static void
stream(struct recorder *r, struct srec *s, const struct sp_event *ev)
{
	struct jv_arena	*a;
	size_t		 n;

	/* Build nothing unless --events asked for it. */
	if (r->each == NULL || (a = jv_arena_new()) == NULL)
		return;
	switch (ev->kind) {
	case SP_EV_COMMAND:
		stream_event(r, s, a, "command",
		    command_item(a, r, ev->u.command));
		break;
	case SP_EV_REPLY:
		stream_event(r, s, a, "reply", reply_item(a, s, ev->u.reply));
		break;
	case SP_EV_ANOMALY:
		stream_event(r, s, a, "anomaly", anomaly_json(a, ev));
		break;
	case SP_EV_TRANSACTION:
		/* Only a transaction the record kept (see max_transactions). */
		n = jv_len(s->txs);
		if (n == s->ntx_streamed)
			break;
		s->ntx_streamed = n;
		stream_event(r, s, a, "transaction", jv_last(s->txs));
		break;
	default:
		break;
	}
	jv_arena_free(a);
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
			jv_push(s->urls, jv_bytes(s->msg_a, ev->u.url->url,
			    ev->u.url->len));
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
