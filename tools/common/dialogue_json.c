/*
 * dialogue_json.c - session scripts from smtp-decode's JSON records
 * (--dialogue): the dialogue's commands become script steps, by their
 * pipelining group, and its replies are handed to the caller in order
 * (smtp-replay compares against them; smtp-fuzz takes only the
 * script, as a seed).  The record keeps no message bytes: a message
 * comes from the .eml that smtp-decode --extract wrote, else a short
 * placeholder (noted); BDAT chunks are sent as filler bytes of the
 * recorded sizes.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "dialogue_json.h"

#define JSON_MAX_FILE	(256u * 1024 * 1024)
#define GROUP_MAX	1024

static const char PLACEHOLDER[] =
    "Subject: smtp-replay placeholder\r\n\r\n"
    "The record did not hold this message (smtp-decode --extract).\r\n";

/* The conversion state of one record. */
struct jconv {
	struct dj_record	*r;
	const struct dj_ops	*ops;
	void			*ud;
	json_object		*rec;
	const char		*dir;		/* extract folder */
	const char		*group[GROUP_MAX];
	size_t			 ngroup;
	int64_t			 group_id;
	size_t			 ndata;		/* DATA transactions seen */
	size_t			 auth;		/* AUTH exchanges seen */
	int			 in_auth;
	int			 starttls;	/* STARTTLS awaiting its 220 */
	int			 done;
	sp_err			 err;
	/* Timing (--speed): the previous item's time, the group's pause. */
	double			 speed;
	unsigned		 max_gap_ms;
	double			 last_ts;	/* s; 0: none yet */
	unsigned		 gsleep;	/* ms */
};

static void
add(struct jconv *j, const struct sp_script_step *st)
{
	if (j->err == SP_E_OK)
		j->err = sp_script_append(j->r->script, st);
}

/* Template text: '$' doubled (step text is expanded at run time). */
static char *
templ(const char *s)
{
	size_t	n = 0;
	char	*o, *q;

	for (const char *p = s; *p != '\0'; p++)
		n += *p == '$' ? 2 : 1;
	if ((o = q = malloc(n + 1)) == NULL)
		return (NULL);
	for (const char *p = s; *p != '\0'; p++) {
		*q++ = *p;
		if (*p == '$')
			*q++ = '$';
	}
	*q = '\0';
	return (o);
}

static void
add_text(struct jconv *j, enum sp_script_op op, const char *line)
{
	struct sp_script_step	 st;
	char			*t = templ(line);

	memset(&st, 0, sizeof(st));
	st.op = op;
	st.text.p = (const uint8_t *)(t != NULL ? t : "");
	st.text.len = t != NULL ? strlen(t) : 0;
	if (t == NULL)
		j->err = SP_E_NOMEM;
	add(j, &st);
	free(t);
}

/* An item's "ts" (seconds), or 0. */
static double
item_ts(json_object *it)
{
	json_object	*t;

	return (json_object_object_get_ex(it, "ts", &t) ?
	    json_object_get_double(t) : 0);
}

/*
 * The client's pause before the write item it begins: the time since
 * the previous command or reply, divided by --speed, capped; in ms.
 */
static unsigned
pause_ms(const struct jconv *j, json_object *it)
{
	double	ts = item_ts(it), ms;

	if (j->speed <= 0 || j->last_ts <= 0 || ts <= j->last_ts)
		return (0);
	ms = (ts - j->last_ts) * 1e3 / j->speed;
	return (ms >= j->max_gap_ms ? j->max_gap_ms : (unsigned)ms);
}

static void
sleep_step(struct jconv *j, unsigned ms)
{
	struct sp_script_step	st;

	if (ms == 0)
		return;
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_SLEEP;
	st.ms = ms;
	add(j, &st);
}

/* The pending group as one send or one pipeline. */
static void
flush(struct jconv *j)
{
	struct sp_script_step	 st;
	struct sp_script_text	 lines[GROUP_MAX];
	char			*t[GROUP_MAX];

	if (j->ngroup > 0)
		sleep_step(j, j->gsleep);
	j->gsleep = 0;
	if (j->ngroup == 1)
		add_text(j, SP_STEP_SEND, j->group[0]);
	else if (j->ngroup > 1) {
		memset(&st, 0, sizeof(st));
		st.op = SP_STEP_PIPELINE;
		for (size_t i = 0; i < j->ngroup; i++) {
			t[i] = templ(j->group[i]);
			lines[i].p = (const uint8_t *)(t[i] ? t[i] : "");
			lines[i].len = t[i] ? strlen(t[i]) : 0;
		}
		st.lines = lines;
		st.nlines = j->ngroup;
		add(j, &st);
		for (size_t i = 0; i < j->ngroup; i++)
			free(t[i]);
	}
	j->ngroup = 0;
}

static void
expect(struct jconv *j, int code)
{
	struct sp_script_step	st;

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_EXPECT;
	/* A malformed recorded reply (code 0) accepts any reply. */
	if (code >= 200 && code <= 599) {
		(void)snprintf(st.expect.codes[0], sizeof(st.expect.codes[0]),
		    "%03u", (unsigned)code);
		st.expect.ncodes = 1;
	}
	add(j, &st);
}

static const char *
str(json_object *o, const char *key)
{
	json_object	*v;

	return (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL);
}

static json_object *
at(json_object *o, const char *key, size_t i)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_array) ||
	    i >= json_object_array_length(v))
		return (NULL);
	return (json_object_array_get_idx(v, i));
}

/* The whole file, NUL-terminated, at most JSON_MAX_FILE bytes. */
static char *
slurp(const char *path, size_t *len)
{
	FILE	*f;
	char	*buf = NULL, *nb;
	size_t	 cap = 0, n = 0, r;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	do {
		if (cap - n < 65536) {
			if (cap >= JSON_MAX_FILE ||
			    (nb = realloc(buf, cap + 65536 + 1)) == NULL) {
				free(buf);
				(void)fclose(f);
				return (NULL);
			}
			buf = nb;
			cap += 65536;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	(void)fclose(f);
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return (buf);
}

/* The message of the n-th DATA transaction, as a data-body step. */
static void
data_body(struct jconv *j)
{
	struct sp_script_step	 st;
	json_object		*t;
	const char		*file = NULL;
	char			 path[4096], *body = NULL, *tb;
	size_t			 len = 0, seen = 0;

	for (size_t i = 0; (t = at(j->rec, "transactions", i)) != NULL; i++) {
		json_object	*m;
		const char	*meth = str(t, "method");

		if (meth == NULL || strcmp(meth, "DATA") != 0 ||
		    seen++ != j->ndata)
			continue;
		if (json_object_object_get_ex(t, "message", &m))
			file = str(m, "file");
		break;
	}
	j->ndata++;
	if (file != NULL && snprintf(path, sizeof(path), "%s/%s", j->dir,
	    file) < (int)sizeof(path))
		body = slurp(path, &len);
	if (body == NULL || strlen(body) != len) {	/* NUL: not as text */
		free(body);
		body = NULL;
		j->r->placeholder = 1;
	}
	tb = templ(body != NULL ? body : PLACEHOLDER);
	free(body);
	if (tb == NULL) {
		j->err = SP_E_NOMEM;
		return;
	}
	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_DATA_BODY;
	st.has_text = 1;
	st.text.p = (const uint8_t *)tb;
	st.text.len = strlen(tb);
	add(j, &st);
	free(tb);
}

/* "AUTH MECH [ir]": an auth step with the record's user. */
static void
auth_step(struct jconv *j, const char *line)
{
	struct sp_script_step	 st;
	json_object		*a = at(j->rec, "auth", j->auth++);
	const char		*m = line + 5, *user = a ? str(a, "user") : NULL;
	size_t			 ml = strcspn(m, " ");

	memset(&st, 0, sizeof(st));
	st.op = SP_STEP_AUTH;
	if ((st.mech = sp_script_auth_from_name(m, ml)) == 0) {	/* not one we can answer: as it was */
		add_text(j, SP_STEP_SEND, line);
		return;
	}
	st.user = user != NULL ? user : "";
	st.secret = "$SP_AUTH_SECRET";
	j->in_auth = 1;
	add(j, &st);
}

static void
on_command(struct jconv *j, json_object *it)
{
	const char	*line = str(it, "line");
	json_object	*g;
	int64_t		 gid = json_object_object_get_ex(it, "group", &g) ?
			    json_object_get_int64(g) : -1;
	unsigned long	 n;
	char		*end;

	if (line == NULL)
		return;
	if (gid != j->group_id)
		flush(j);
	j->group_id = gid;
	if (j->ngroup == 0)
		j->gsleep = pause_ms(j, it);
	if (strncasecmp(line, "STARTTLS", 8) == 0 && line[8] == '\0') {
		flush(j);
		j->starttls = 1;
	} else if (strncasecmp(line, "AUTH ", 5) == 0) {
		flush(j);
		sleep_step(j, pause_ms(j, it));
		auth_step(j, line);
	} else if (strncasecmp(line, "BDAT ", 5) == 0) {
		struct sp_script_step	st;

		flush(j);
		sleep_step(j, pause_ms(j, it));
		n = strtoul(line + 5, &end, 10);
		memset(&st, 0, sizeof(st));
		st.op = SP_STEP_BDAT;
		st.size = n;
		st.last = strcasecmp(end, " LAST") == 0;
		add(j, &st);
	} else if (j->ngroup < GROUP_MAX)
		j->group[j->ngroup++] = line;
	else
		j->err = SP_E_LIMIT;
}

static void
on_reply(struct jconv *j, json_object *it)
{
	struct sp_smtp_str	 lines[64];
	json_object		*c, *l;
	unsigned		 enh[3] = { 0, 0, 0 };
	const char		*e = str(it, "enhanced");
	int			 code = json_object_object_get_ex(it, "code",
				    &c) ? json_object_get_int(c) : 0;
	size_t			 n = 0;

	if (code == 334 && j->in_auth)
		return;		/* inside the auth step */
	j->in_auth = 0;
	if (j->starttls) {
		j->starttls = 0;
		if (code == 220) {	/* injected lines, then the cut */
			struct sp_script_step st = { .op = SP_STEP_STARTTLS };

			for (size_t i = 0; i < j->ngroup; i++)
				add_text(j, SP_STEP_SEND, j->group[i]);
			j->ngroup = 0;
			add(j, &st);
			j->done = 1;
		} else
			add_text(j, SP_STEP_SEND, "STARTTLS");
	}
	flush(j);
	if (e != NULL)
		(void)sscanf(e, "%u.%u.%u", &enh[0], &enh[1], &enh[2]);
	while ((l = at(it, "lines", n)) != NULL && n < 64) {
		lines[n].p = (const uint8_t *)json_object_get_string(l);
		lines[n++].len = strlen(json_object_get_string(l));
	}
	if (j->ops->reply != NULL &&
	    j->ops->reply(j->ud, code, enh, lines, n) != 0)
		j->err = SP_E_NOMEM;
	if (j->done)
		return;
	expect(j, code);
	if (code == 354)
		data_body(j);
}

/* Who talked: the flow's addresses, for the caller's labels. */
static void
label(struct dj_record *r, json_object *rec)
{
	json_object	*flow, *c = NULL, *sv = NULL, *p;
	const char	*ci = NULL, *si = NULL;

	if (json_object_object_get_ex(rec, "flow", &flow)) {
		(void)json_object_object_get_ex(flow, "client", &c);
		(void)json_object_object_get_ex(flow, "server", &sv);
	}
	if (c != NULL && (ci = str(c, "ip")) != NULL &&
	    json_object_object_get_ex(c, "port", &p))
		r->client_port = (unsigned)json_object_get_int(p);
	if (sv != NULL && (si = str(sv, "ip")) != NULL &&
	    json_object_object_get_ex(sv, "port", &p))
		r->server_port = (unsigned)json_object_get_int(p);
	(void)snprintf(r->client, sizeof(r->client), "%s", ci ? ci : "?");
	(void)snprintf(r->server, sizeof(r->server), "%s", si ? si : "?");
}

/* The record's dialogue, item by item, into steps and replies. */
static void
dialogue(struct jconv *j)
{
	json_object	*it;

	for (size_t i = 0; !j->done && j->err == SP_E_OK &&
	    (it = at(j->rec, "dialogue", i)) != NULL; i++) {
		const char	*type = str(it, "type");

		if (type != NULL && strcmp(type, "command") == 0)
			on_command(j, it);
		else if (type != NULL && strcmp(type, "reply") == 0)
			on_reply(j, it);
		if (item_ts(it) > j->last_ts)
			j->last_ts = item_ts(it);
	}
	if (!j->done)
		flush(j);
}

/* What one file's conversion needs beside the record. */
struct jfile {
	const struct dj_options	*o;
	const struct dj_ops	*ops;
	void			*ud;
	const char		*base, *dir;
	size_t			 nth;
};

/* One record: a script handed to ops->record, or -1 with msg. */
static int
record(struct jfile *f, json_object *rec, char *msg, size_t cap)
{
	struct dj_record r;
	struct jconv	 j;
	int		 rc;

	memset(&j, 0, sizeof(j));
	memset(&r, 0, sizeof(r));
	j.r = &r;
	j.ops = f->ops;
	j.ud = f->ud;
	j.rec = rec;
	j.dir = f->dir;
	j.group_id = -1;
	j.speed = f->o->speed;
	j.max_gap_ms = f->o->max_gap_ms != 0 ? f->o->max_gap_ms : 10000;
	r.base = f->base;
	r.nth = ++f->nth;
	if (at(rec, "dialogue", 0) == NULL) {
		(void)snprintf(msg, cap, "%s: record %zu has no dialogue "
		    "(smtp-decode --dialogue writes it)", r.base, r.nth);
		return (-1);
	}
	if (sp_script_new(&r.script) != SP_E_OK)
		return (-1);
	r.start = item_ts(rec);
	label(&r, rec);
	dialogue(&j);
	rc = j.err == SP_E_OK ? f->ops->record(f->ud, &r) : -1;
	if (rc != 0)
		(void)snprintf(msg, cap, "%s: record %zu: %s", r.base, r.nth,
		    sp_strerror(j.err != SP_E_OK ? j.err : SP_E_NOMEM));
	sp_script_free(r.script);
	return (rc);
}

static int
value(struct jfile *f, json_object *v, char *msg, size_t cap)
{
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (value(f, json_object_array_get_idx(v, i), msg,
			    cap) != 0)
				return (-1);
		return (0);
	}
	if (!json_object_is_type(v, json_type_object)) {
		(void)snprintf(msg, cap, "%s: not a session record", f->base);
		return (-1);
	}
	return (record(f, v, msg, cap));
}

/* Every JSON value of buf, NDJSON or one document, in order. */
static int
values(struct jfile *f, const char *path, const char *buf, size_t len,
    char *msg, size_t cap)
{
	json_tokener	*tok = json_tokener_new();
	size_t		 off = 0;
	int		 rc = 0;

	if (tok == NULL)
		return (-1);
	while (rc == 0 && (off += strspn(buf + off, " \t\r\n")) < len) {
		json_object	*v = json_tokener_parse_ex(tok, buf + off,
				    (int)(len - off > 0x7fffffff ? 0x7fffffff :
				    len - off));

		if (v == NULL) {
			(void)snprintf(msg, cap, "%s: bad JSON at byte %zu: "
			    "%s", path, off, json_tokener_error_desc(
			    json_tokener_get_error(tok)));
			rc = -1;
			break;
		}
		off += json_tokener_get_parse_end(tok);
		json_tokener_reset(tok);
		rc = value(f, v, msg, cap);
		json_object_put(v);
	}
	json_tokener_free(tok);
	return (rc);
}

int
dj_load(const char *path, const struct dj_options *o,
    const struct dj_ops *ops, void *ud, char *msg, size_t cap)
{
	static const struct dj_options	 defaults;
	struct jfile	 f = { o != NULL ? o : &defaults, ops, ud, NULL,
			    NULL, 0 };
	char		*buf, *c1 = strdup(path), *c2 = strdup(path);
	size_t		 len = 0;
	int		 rc;

	if ((buf = slurp(path, &len)) == NULL || c1 == NULL || c2 == NULL) {
		(void)snprintf(msg, cap, "%s: cannot read (or over 256 MiB)",
		    path);
		free(buf);
		free(c1);
		free(c2);
		return (-1);
	}
	f.base = basename(c1);
	f.dir = f.o->extract_dir != NULL ? f.o->extract_dir : dirname(c2);
	rc = values(&f, path, buf, len, msg, cap);
	if (rc == 0 && f.nth == 0) {
		(void)snprintf(msg, cap, "%s: no session record", path);
		rc = -1;
	}
	free(buf);
	free(c1);
	free(c2);
	return (rc);
}
