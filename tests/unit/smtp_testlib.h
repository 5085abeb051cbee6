/*
 * smtp_testlib.h - what the SMTP parser tests share: golden .in files
 * parsed into segments, an event logger that writes one text line per
 * event (content runs merged, so the log does not depend on how the
 * bytes were cut), and ways of feeding: whole segments, a segment cut
 * in two, one byte at a time, or right before a PROT_NONE page.
 *
 * .in notation, one item per line:
 *   C: text   new client segment, text + CRLF    (S: for the server)
 *   c: text   append text + CRLF to the current segment of that side
 *   C> text   new segment, text only (no CRLF)   (c> appends)
 *   G C n     the TCP layer lost n bytes of the client's stream
 *   ! show_secrets | implicit_tls | midstream | max_X n
 *   # comment
 * Escapes in text: \r \n \t \0 \\ \xNN.
 */
#ifndef SP_SMTP_TESTLIB_H
#define SP_SMTP_TESTLIB_H

#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtpproto/smtpproto.h"

struct seg {
	int		 dir;		/* SP_DIR_*, or -1-dir for a gap */
	uint8_t		*p;
	size_t		 len;
	uint64_t	 gap;
};

struct gcase {
	struct seg		 segs[512];
	size_t			 nsegs;
	struct sp_smtp_options	 opt;
	struct sp_limits	 lim;
};

/* A growing text; tests may use as much memory as they like. */
struct evlog {
	char	*s;
	size_t	 len, cap;
	uint8_t	*data;			/* content run not yet written */
	size_t	 dlen, dcap;
	int	 raw_secrets;
};

static inline void
tl_die(const char *what)
{
	fprintf(stderr, "fatal: %s\n", what);
	exit(2);
}

static inline void
tl_grow(void **p, size_t *cap, size_t need)
{
	size_t	ncap = *cap ? *cap : 256;

	while (ncap < need)
		ncap *= 2;
	if (ncap != *cap) {
		*p = realloc(*p, ncap);
		if (*p == NULL)
			tl_die("out of memory");
		*cap = ncap;
	}
}

static inline void
log_raw(struct evlog *l, const char *s, size_t n)
{
	tl_grow((void **)&l->s, &l->cap, l->len + n + 1);
	memcpy(l->s + l->len, s, n);
	l->len += n;
	l->s[l->len] = '\0';
}

static inline void
log_esc(struct evlog *l, const uint8_t *s, size_t n)
{
	char	b[8];

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r')
			log_raw(l, "\\r", 2);
		else if (s[i] == '\n')
			log_raw(l, "\\n", 2);
		else if (s[i] == '\\' || s[i] == '"') {
			b[0] = '\\';
			b[1] = (char)s[i];
			log_raw(l, b, 2);
		} else if (s[i] >= 0x20 && s[i] < 0x7f)
			log_raw(l, (const char *)&s[i], 1);
		else {
			snprintf(b, sizeof(b), "\\x%02x", s[i]);
			log_raw(l, b, 4);
		}
	}
}

static inline void
log_str(struct evlog *l, struct sp_smtp_str s)
{
	log_raw(l, "\"", 1);
	log_esc(l, s.p, s.len);
	log_raw(l, "\"", 1);
}

static inline void
log_flush_data(struct evlog *l)
{
	if (l->dlen == 0)
		return;
	log_raw(l, "data \"", 6);
	log_esc(l, l->data, l->dlen);
	log_raw(l, "\"\n", 2);
	l->dlen = 0;
}

static inline void
evf(struct evlog *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline void
evf(struct evlog *l, const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	n;

	log_flush_data(l);
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		tl_die("vsnprintf");
	log_raw(l, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static inline void
log_enh(struct evlog *l, const struct sp_smtp_enhanced *e)
{
	if (e->cls != 0)
		evf(l, " %u.%u.%u", e->cls, e->subject, e->detail);
}

static inline void
log_path(struct evlog *l, const struct sp_smtp_path *p)
{
	log_raw(l, " path=", 6);
	log_str(l, p->raw);
	if (!p->valid)
		log_raw(l, " INVALID", 8);
	if (p->null)
		log_raw(l, " null", 5);
	if (p->route.len) {
		log_raw(l, " route=", 7);
		log_str(l, p->route);
	}
	if (p->mailbox.len) {
		log_raw(l, " local=", 7);
		log_str(l, p->local);
		log_raw(l, " domain=", 8);
		log_str(l, p->domain);
	}
	if (p->quoted)
		log_raw(l, " quoted", 7);
	if (p->utf8)
		log_raw(l, " utf8", 5);
}

static inline void
log_params(struct evlog *l, const struct sp_smtp_param *pa, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		evf(l, " param%d:", (int)pa[i].key_id);
		log_esc(l, pa[i].key.p, pa[i].key.len);
		if (pa[i].has_value) {
			log_raw(l, "=", 1);
			log_esc(l, pa[i].value.p, pa[i].value.len);
		}
	}
}

static inline int
ev_command(void *ud, const struct sp_smtp_command *c)
{
	struct evlog	*l = ud;

	evf(l, "cmd #%llu g%llu @%llu %s ", (unsigned long long)c->seq,
	    (unsigned long long)c->group, (unsigned long long)c->offset,
	    c->verb == SP_SMTP_VERB_UNKNOWN ? "?" : sp_smtp_verb_name(c->verb));
	log_str(l, c->verb_text);
	log_raw(l, " ", 1);
	log_str(l, c->arg);
	if (c->truncated)
		log_raw(l, " TRUNCATED", 10);
	if (c->path != NULL)
		log_path(l, c->path);
	log_params(l, c->params, c->nparams);
	if (c->verb == SP_SMTP_VERB_BDAT)
		evf(l, " size=%llu%s", (unsigned long long)c->bdat_size,
		    c->bdat_last ? " last" : "");
	log_raw(l, "\n", 1);
	return (0);
}

static const char *const kind_names[] = {
	"cmd", "greeting", "data-end", "unmatched"
};

static inline int
ev_reply(void *ud, const struct sp_smtp_reply *r)
{
	struct evlog	*l = ud;

	evf(l, "reply %d", r->code);
	log_enh(l, &r->enhanced);
	evf(l, " %s", kind_names[r->kind]);
	if (r->kind == SP_SMTP_REPLY_COMMAND ||
	    r->kind == SP_SMTP_REPLY_DATA_END)
		evf(l, "=%s#%llu", sp_smtp_verb_name(r->cmd_verb),
		    (unsigned long long)r->cmd_seq);
	evf(l, " @%llu lines=%zu/%zu%s", (unsigned long long)r->offset,
	    r->nlines, r->nlines_total, r->intermediate ? " more" : "");
	for (size_t i = 0; i < r->nlines; i++) {
		log_raw(l, " ", 1);
		log_str(l, r->lines[i]);
	}
	log_raw(l, "\n", 1);
	return (0);
}

static inline int
ev_caps(void *ud, const struct sp_smtp_capabilities *k)
{
	struct evlog	*l = ud;

	evf(l, "caps");
	for (size_t i = 0; i < k->ncaps; i++) {
		log_raw(l, " ", 1);
		log_esc(l, k->caps[i].keyword.p, k->caps[i].keyword.len);
		if (k->caps[i].params.len) {
			log_raw(l, "(", 1);
			log_esc(l, k->caps[i].params.p, k->caps[i].params.len);
			log_raw(l, ")", 1);
		}
	}
	evf(l, " [%s%s%s%s%s%s%s%s size=%d:%llu auth=",
	    k->pipelining ? "P" : "", k->chunking ? "C" : "",
	    k->starttls ? "T" : "", k->eightbitmime ? "8" : "",
	    k->smtputf8 ? "U" : "", k->dsn ? "D" : "",
	    k->enhancedstatuscodes ? "E" : "", k->binarymime ? "B" : "",
	    k->has_size, (unsigned long long)k->size);
	log_str(l, k->auth);
	log_raw(l, "]\n", 2);
	return (0);
}

static inline int
ev_txn(void *ud, const struct sp_smtp_transaction *t)
{
	struct evlog	*l = ud;
	static const char *const m[] = { "none", "DATA", "BDAT" };

	evf(l, "txn %llu", (unsigned long long)t->seq);
	if (t->has_mail) {
		log_path(l, &t->mail_from);
		log_params(l, t->mail_params, t->nmail_params);
		evf(l, " mail=%d", t->mail_code);
		log_enh(l, &t->mail_enhanced);
	} else {
		log_raw(l, " no-mail", 8);
	}
	evf(l, " rcpts=%zu/%zu accepted=%zu\n", t->nrcpts, t->nrcpts_total,
	    t->nrcpts_accepted);
	for (size_t i = 0; i < t->nrcpts; i++) {
		evf(l, "  rcpt");
		log_path(l, &t->rcpts[i].path);
		if (t->rcpts[i].params.len) {
			log_raw(l, " params=", 8);
			log_str(l, t->rcpts[i].params);
		}
		evf(l, " %d", t->rcpts[i].code);
		log_enh(l, &t->rcpts[i].enhanced);
		evf(l, "%s\n", t->rcpts[i].accepted ? " accepted" : "");
	}
	evf(l, "  %s final=%d", m[t->method], t->final_code);
	log_enh(l, &t->final_enhanced);
	log_raw(l, " ", 1);
	log_str(l, t->final_text);
	log_raw(l, " qid=", 5);
	log_str(l, t->queue_id);
	evf(l, " size=%llu seen=%d complete=%d missing=%llu%s\n",
	    (unsigned long long)t->message_size, t->message_seen, t->complete,
	    (unsigned long long)t->missing,
	    t->start_missing ? " start-missing" : "");
	return (0);
}

static inline int
ev_msg_begin(void *ud, const struct sp_smtp_message *m)
{
	evf(ud, "msg-begin txn=%llu %s @%llu%s\n",
	    (unsigned long long)m->txn_seq,
	    m->method == SP_SMTP_METHOD_BDAT ? "BDAT" : "DATA",
	    (unsigned long long)m->offset,
	    m->start_missing ? " start-missing" : "");
	return (0);
}

static inline int
ev_msg_data(void *ud, const uint8_t *p, size_t n)
{
	struct evlog	*l = ud;

	if (n == 0)
		log_raw(l, "EMPTY-DATA-EVENT\n", 17);
	tl_grow((void **)&l->data, &l->dcap, l->dlen + n);
	memcpy(l->data + l->dlen, p, n);
	l->dlen += n;
	return (0);
}

static inline int
ev_msg_end(void *ud, const struct sp_smtp_message *m)
{
	evf(ud, "msg-end txn=%llu size=%llu complete=%d missing=%llu\n",
	    (unsigned long long)m->txn_seq, (unsigned long long)m->size,
	    m->complete, (unsigned long long)m->missing);
	return (0);
}

static inline int
ev_tls(void *ud, const struct sp_smtp_tls *t)
{
	evf(ud, "tls %s cmd=#%llu c@%llu s@%llu\n",
	    t->implicit ? "implicit" : "starttls",
	    (unsigned long long)t->cmd_seq,
	    (unsigned long long)t->client_offset,
	    (unsigned long long)t->server_offset);
	return (0);
}

static inline int
ev_auth(void *ud, const struct sp_smtp_auth *a)
{
	struct evlog	*l = ud;
	static const char *const o[] = { "unknown", "success", "failure",
	    "cancelled" };

	evf(l, "auth #%llu ", (unsigned long long)a->cmd_seq);
	log_str(l, a->mechanism);
	log_raw(l, " user=", 6);
	log_str(l, a->user);
	log_raw(l, " authz=", 7);
	log_str(l, a->authzid);
	log_raw(l, " secret=", 8);
	log_str(l, a->secret);
	evf(l, " code=%d", a->code);
	log_enh(l, &a->enhanced);
	evf(l, " %s responses=%zu\n", o[a->outcome], a->responses);
	return (0);
}

static inline int
ev_anomaly(void *ud, enum sp_anomaly a, enum sp_dir dir, uint64_t off,
    const char *detail)
{
	struct evlog	*l = ud;
	char		 b[128];

	/*
	 * Not through evf(): content runs are not flushed by anomalies,
	 * whose place among content bytes depends on the feed cuts (the
	 * offset says where they are).
	 */
	snprintf(b, sizeof(b), "anomaly %s %c @%llu", sp_anomaly_name(a),
	    dir == SP_DIR_CLIENT ? 'C' : 'S', (unsigned long long)off);
	log_raw(l, b, strlen(b));
	if (detail != NULL) {
		log_raw(l, " ", 1);
		log_str(l, (struct sp_smtp_str){ (const uint8_t *)detail,
		    strlen(detail) });
	}
	log_raw(l, "\n", 1);
	return (0);
}

static const struct sp_smtp_callbacks log_callbacks = {
	ev_command, ev_reply, ev_caps, ev_txn, ev_msg_begin, ev_msg_data,
	ev_msg_end, ev_tls, ev_auth, ev_anomaly
};

static inline void
evlog_free(struct evlog *l)
{
	free(l->s);
	free(l->data);
	memset(l, 0, sizeof(*l));
}

/* ---- .in files ---- */

static inline int
hexv(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

static inline void
seg_add(struct seg *s, const char *t, size_t n, int crlf)
{
	size_t	i;

	s->p = realloc(s->p, s->len + n + 3);
	if (s->p == NULL)
		tl_die("out of memory");
	for (i = 0; i < n; i++) {
		uint8_t	c = (uint8_t)t[i];

		if (c == '\\' && i + 1 < n) {
			i++;
			switch (t[i]) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case 'x':
				if (i + 2 < n && hexv(t[i + 1]) >= 0 &&
				    hexv(t[i + 2]) >= 0) {
					c = (uint8_t)(hexv(t[i + 1]) * 16 +
					    hexv(t[i + 2]));
					i += 2;
				}
				break;
			default: c = (uint8_t)t[i]; break;
			}
		}
		s->p[s->len++] = c;
	}
	if (crlf) {
		s->p[s->len++] = '\r';
		s->p[s->len++] = '\n';
	}
}

static inline void
option_line(struct gcase *g, const char *s)
{
	unsigned long	v = 0;
	char		name[64];

	if (sscanf(s, "%63s %lu", name, &v) < 1)
		tl_die("bad option line");
	if (strcmp(name, "show_secrets") == 0)
		g->opt.show_secrets = 1;
	else if (strcmp(name, "implicit_tls") == 0)
		g->opt.implicit_tls = 1;
	else if (strcmp(name, "midstream") == 0)
		g->opt.midstream = 1;
	else if (strcmp(name, "max_line") == 0)
		g->lim.max_line = v;
	else if (strcmp(name, "max_rcpts") == 0)
		g->lim.max_rcpts = v;
	else if (strcmp(name, "max_reply_lines") == 0)
		g->lim.max_reply_lines = v;
	else if (strcmp(name, "max_pipeline") == 0)
		g->lim.max_pipeline = v;
	else if (strcmp(name, "max_transactions") == 0)
		g->lim.max_transactions = v;
	else
		tl_die("unknown option");
}

static inline void
gcase_line(struct gcase *g, char *s, size_t n)
{
	struct seg	*cur = g->nsegs ? &g->segs[g->nsegs - 1] : NULL;
	int		 dir, append;

	if (n == 0 || s[0] == '#')
		return;
	if (s[0] == '!') {
		option_line(g, s + 1);
		return;
	}
	if (s[0] == 'G') {
		if (g->nsegs == (sizeof(g->segs) / sizeof(g->segs[0])))
			tl_die("too many segments");
		cur = &g->segs[g->nsegs++];
		memset(cur, 0, sizeof(*cur));
		cur->dir = s[2] == 'C' ? -1 : -2;
		cur->gap = strtoull(s + 4, NULL, 10);
		return;
	}
	if (n < 3 || (s[1] != ':' && s[1] != '>') || s[2] != ' ')
		tl_die("bad .in line");
	dir = (s[0] == 'C' || s[0] == 'c') ? SP_DIR_CLIENT : SP_DIR_SERVER;
	append = s[0] == 'c' || s[0] == 's';
	if (!append || cur == NULL || cur->dir != dir) {
		if (g->nsegs == (sizeof(g->segs) / sizeof(g->segs[0])))
			tl_die("too many segments");
		cur = &g->segs[g->nsegs++];
		memset(cur, 0, sizeof(*cur));
		cur->dir = dir;
	}
	seg_add(cur, s + 3, n - 3, s[1] == ':');
}

static inline int
gcase_load(struct gcase *g, const char *path)
{
	FILE	*f = fopen(path, "r");
	char	 line[70000];
	size_t	 n;

	memset(g, 0, sizeof(*g));
	sp_limits_default(&g->lim);
	if (f == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strlen(line);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		gcase_line(g, line, n);
	}
	fclose(f);
	return (0);
}

static inline void
gcase_free(struct gcase *g)
{
	for (size_t i = 0; i < g->nsegs; i++)
		free(g->segs[i].p);
}

/* ---- feeding ---- */

/* A buffer whose end touches a PROT_NONE page. */
struct guard {
	uint8_t	*base;
	size_t	 size, page;
};

static inline void
guard_init(struct guard *gd, size_t max)
{
	gd->page = (size_t)sysconf(_SC_PAGESIZE);
	gd->size = (max + gd->page - 1) / gd->page * gd->page + gd->page;
	gd->base = mmap(NULL, gd->size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (gd->base == MAP_FAILED)
		tl_die("mmap");
	if (mprotect(gd->base + gd->size - gd->page, gd->page, PROT_NONE) != 0)
		tl_die("mprotect");
}

static inline const uint8_t *
guard_place(struct guard *gd, const uint8_t *p, size_t n)
{
	uint8_t	*dst = gd->base + gd->size - gd->page - n;

	if (n > gd->size - gd->page)
		tl_die("guard too small");
	memcpy(dst, p, n);
	return (dst);
}

static inline void
guard_free(struct guard *gd)
{
	munmap(gd->base, gd->size);
}

enum feed_mode { FEED_WHOLE, FEED_SPLIT, FEED_BYTE };

struct feeder {
	enum feed_mode	 mode;
	size_t		 split_seg, cut;
	struct guard	*guard;		/* NULL: feed from the segments */
	sp_err		 err;		/* first error seen */
};

static inline sp_err
feed_piece(sp_smtp_parser *p, struct feeder *fd, int dir, sp_ts ts,
    const uint8_t *b, size_t n)
{
	size_t	used = 0;
	sp_err	e;

	if (fd->guard != NULL)
		b = guard_place(fd->guard, b, n);
	e = sp_smtp_parser_feed(p, (enum sp_dir)dir, ts, b, n, &used);
	if (e == SP_E_OK && used != n)
		tl_die("feed did not consume everything");
	return (e);
}

static inline sp_err
feed_seg(sp_smtp_parser *p, struct feeder *fd, const struct seg *s,
    size_t idx)
{
	sp_ts	ts = (sp_ts)idx * 1000;
	sp_err	e = SP_E_OK;

	if (s->dir < 0)
		return (sp_smtp_parser_gap(p, (enum sp_dir)(-1 - s->dir), ts,
		    s->gap));
	if (fd->mode == FEED_BYTE) {
		for (size_t i = 0; i < s->len && e == SP_E_OK; i++)
			e = feed_piece(p, fd, s->dir, ts, s->p + i, 1);
		return (e);
	}
	if (fd->mode == FEED_SPLIT && idx == fd->split_seg) {
		e = feed_piece(p, fd, s->dir, ts, s->p, fd->cut);
		if (e == SP_E_OK)
			e = feed_piece(p, fd, s->dir, ts, s->p + fd->cut,
			    s->len - fd->cut);
		return (e);
	}
	return (feed_piece(p, fd, s->dir, ts, s->p, s->len));
}

/*
 * Run a case into a log.  Returns the first error (after which the
 * parser is freed); the log says "error X" too.
 */
static inline sp_err
run_case(const struct gcase *g, struct feeder *fd, struct evlog *l,
    const struct sp_limits *lim_override)
{
	sp_smtp_parser	*p;
	sp_err		 e;
	size_t		 i;

	e = sp_smtp_parser_new(&p, lim_override ? lim_override : &g->lim,
	    &log_callbacks, l);
	if (e != SP_E_OK)
		return (e);
	e = sp_smtp_parser_set_options(p, &g->opt);
	for (i = 0; i < g->nsegs && e == SP_E_OK; i++)
		e = feed_seg(p, fd, &g->segs[i], i);
	if (e == SP_E_OK)
		e = sp_smtp_parser_finish(p, (sp_ts)g->nsegs * 1000);
	if (e != SP_E_OK)
		evf(l, "error %s\n", sp_errname(e));
	log_flush_data(l);
	sp_smtp_parser_free(p);
	return (e);
}

static inline char *
read_text(const char *path)
{
	FILE	*f = fopen(path, "rb");
	char	*s;
	long	 n;

	if (f == NULL)
		return (NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	if (s == NULL || fread(s, 1, (size_t)n, f) != (size_t)n)
		tl_die("read");
	s[n] = '\0';
	fclose(f);
	return (s);
}

/* The golden cases, sorted; exits 77 (skip) if there are none. */
static inline glob_t
golden_cases(void)
{
	glob_t	g;

	if (glob("tests/golden/smtp/*.in", 0, NULL, &g) != 0) {
		fprintf(stderr, "no tests/golden/smtp/*.in (run from the "
		    "source tree)\n");
		exit(77);
	}
	return (g);
}

/* foo.in -> foo.ref, in a static buffer. */
static inline const char *
ref_path(const char *in)
{
	static char	buf[4096];
	size_t		n = strlen(in);

	if (n < 3 || n + 2 > sizeof(buf))
		tl_die("bad path");
	memcpy(buf, in, n - 3);
	memcpy(buf + n - 3, ".ref", 5);
	return (buf);
}

#endif /* SP_SMTP_TESTLIB_H */
