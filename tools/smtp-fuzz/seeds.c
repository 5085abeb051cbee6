/*
 * seeds.c - seeds from files: session scripts, captures whose
 * sessions the library's converter turns into scripts (so no seed is
 * cut by hand, unlike AFLNet), and smtp-decode's JSON records
 * (--dialogue) through the reader smtp-replay uses; writing sessions
 * back as scripts.
 */
#include <stdlib.h>
#include <string.h>

#include "dialogue_json.h"
#include "fuzz.h"

#define FZ_MAX_CAPTURE_SEEDS	256

struct capconv {
	sp_script_conv	*cv[FZ_MAX_CAPTURE_SEEDS];
	size_t		 n;
	int		 (*add)(void *ud, struct fz_session *s);
	void		*ud;
	int		 added;
};

static void
capconv_done(struct capconv *x, size_t i)
{
	struct fz_session	*s;
	sp_script		*sc;

	if (x->cv[i] == NULL)
		return;
	if (sp_script_conv_finish(x->cv[i], &sc) == SP_E_OK) {
		if ((s = calloc(1, sizeof(*s))) != NULL &&
		    fz_session_from_script(s, sc) == 0 && x->add(x->ud, s) == 0)
			x->added++;
		else if (s != NULL) {
			fz_session_clear(s);
			free(s);
		}
		sp_script_free(sc);
	}
	sp_script_conv_free(x->cv[i]);
	x->cv[i] = NULL;
}

/* Each session of the capture gets its own converter. */
static int
capconv_event(void *ud, const struct sp_event *ev)
{
	struct capconv	*x = ud;
	uintptr_t	 slot;

	/* A smuggled end of data stays as it was sent: a seed worth having. */
	static const struct sp_script_conv_options co = { .raw_data = 1 };

	if (ev->kind == SP_EV_SESSION_BEGIN && x->n < FZ_MAX_CAPTURE_SEEDS &&
	    sp_script_conv_new(&x->cv[x->n], &co) == SP_E_OK) {
		*ev->user = (void *)(uintptr_t)(x->n + 1);
		x->n++;
	}
	slot = (uintptr_t)*ev->user;
	if (slot == 0 || slot > x->n || x->cv[slot - 1] == NULL)
		return (0);
	if (sp_script_conv_event(x->cv[slot - 1], ev) != SP_E_OK ||
	    ev->kind == SP_EV_SESSION_END)
		capconv_done(x, slot - 1);
	return (0);
}

static int
from_capture(const char *path, int (*add)(void *, struct fz_session *),
    void *ud)
{
	struct capconv	*x = calloc(1, sizeof(*x));
	struct sp_analyzer_options ao;
	struct sp_packet pkt;
	sp_capture	*cap;
	sp_analyzer	*an;
	char		 errbuf[256];
	int		 added;

	if (x == NULL)
		return (-1);
	x->add = add;
	x->ud = ud;
	if (sp_capture_open_file(&cap, path, NULL, NULL, errbuf,
	    sizeof(errbuf)) != SP_E_OK) {
		fprintf(stderr, "smtp-fuzz: %s\n", errbuf);
		free(x);
		return (-1);
	}
	sp_analyzer_options_default(&ao);
	ao.stream_events = 1;	/* the converter's raw_data needs them */
	if (sp_analyzer_new(&an, NULL, &ao, capconv_event, x) != SP_E_OK) {
		sp_capture_free(cap);
		free(x);
		return (-1);
	}
	while (sp_capture_next(cap, &pkt) == SP_E_OK)
		(void)sp_analyzer_packet(an, &pkt);
	(void)sp_analyzer_finish(an);
	for (size_t i = 0; i < x->n; i++)
		capconv_done(x, i);
	sp_analyzer_free(an);
	sp_capture_free(cap);
	added = x->added;
	free(x);
	return (added);
}

static int
is_capture(const char *path)
{
	static const uint8_t	magics[][4] = {
		{ 0xd4, 0xc3, 0xb2, 0xa1 }, { 0xa1, 0xb2, 0xc3, 0xd4 },
		{ 0x4d, 0x3c, 0xb2, 0xa1 }, { 0xa1, 0xb2, 0x3c, 0x4d },
		{ 0x0a, 0x0d, 0x0d, 0x0a }
	};
	uint8_t	 m[4];
	FILE	*f = fopen(path, "rb");
	size_t	 n;

	if (f == NULL)
		return (0);
	n = fread(m, 1, 4, f);
	fclose(f);
	for (size_t i = 0; n == 4 && i < sizeof(magics) / 4; i++)
		if (memcmp(m, magics[i], 4) == 0)
			return (1);
	return (0);
}

struct jsonseeds {
	int	(*add)(void *ud, struct fz_session *s);
	void	*ud;
	int	 added;
};

static int
json_record(void *ud, struct dj_record *r)
{
	struct jsonseeds	*x = ud;
	struct fz_session	*s = calloc(1, sizeof(*s));

	if (s != NULL && fz_session_from_script(s, r->script) == 0 &&
	    x->add(x->ud, s) == 0)
		x->added++;
	else if (s != NULL) {
		fz_session_clear(s);
		free(s);
	}
	return (0);	/* a seed that does not fit is skipped, not fatal */
}

static int
from_json(const char *path, int (*add)(void *, struct fz_session *),
    void *ud)
{
	static const struct dj_ops	 ops = { NULL, json_record };
	struct jsonseeds		 x = { add, ud, 0 };
	char				 msg[512];

	if (dj_load(path, NULL, &ops, &x, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "smtp-fuzz: %s\n", msg);
		return (-1);
	}
	return (x.added);
}

/* Decode JSON starts with '{' (NDJSON) or '[' (an array); no script does. */
static int
is_json(const char *path)
{
	FILE	*f = fopen(path, "rb");
	int	 c;

	if (f == NULL)
		return (0);
	while ((c = getc(f)) == ' ' || c == '\t' || c == '\r' || c == '\n')
		continue;
	(void)fclose(f);
	return (c == '{' || c == '[');
}

/* Returns the number of seeds added, or -1 if the file is unusable. */
int
fz_seeds_from_file(const char *path, int (*add)(void *, struct fz_session *),
    void *ud)
{
	struct sp_script_error	 err;
	struct fz_session	*s;
	sp_script		*sc;

	if (is_capture(path))
		return (from_capture(path, add, ud));
	if (is_json(path))
		return (from_json(path, add, ud));
	if (sp_script_load(&sc, path, &err) != SP_E_OK) {
		fprintf(stderr, "smtp-fuzz: %s:%u: %s\n", path, err.line,
		    err.msg);
		return (-1);
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    fz_session_from_script(s, sc) != 0 || add(ud, s) != 0) {
		if (s != NULL)
			fz_session_clear(s);
		free(s);
		sp_script_free(sc);
		return (0);
	}
	sp_script_free(sc);
	return (1);
}

static int
has_crlf(const struct fz_bytes *b)
{
	return (memchr(b->p, '\r', b->n) != NULL ||
	    memchr(b->p, '\n', b->n) != NULL);
}

static sp_err
save_pipe(sp_script *sc, const struct fz_step *st)
{
	struct sp_script_text	 t[FZ_MAX_LINES];
	struct sp_script_step	 ss;
	sp_err			 e = SP_E_NOMEM;
	size_t			 i;

	memset(&ss, 0, sizeof(ss));
	memset(t, 0, sizeof(t));
	for (i = 0; i < st->nlines; i++)
		if ((t[i].p = fz_escape(st->lines[i].p, st->lines[i].n,
		    &t[i].len)) == NULL)
			goto out;
	ss.op = SP_STEP_PIPELINE;
	ss.lines = t;
	ss.nlines = st->nlines;
	e = sp_script_append(sc, &ss);
out:
	for (i = 0; i < st->nlines; i++)
		free((void *)t[i].p);
	return (e);
}

static sp_err
save_step(sp_script *sc, const struct fz_step *st)
{
	struct sp_script_step	 ss;
	sp_err			 e = SP_E_OK;
	int			 raw = 0;

	for (size_t i = 0; i < st->nlines; i++)
		raw |= has_crlf(&st->lines[i]);
	memset(&ss, 0, sizeof(ss));
	switch (st->kind) {
	case FZ_PIPE:
		if (!raw)
			return (save_pipe(sc, st));
		/* A pipeline step cannot hold CR or LF: lines one by one. */
		/* FALLTHROUGH */
	case FZ_LINE:
		for (size_t i = 0; i < st->nlines && e == SP_E_OK; i++)
			e = fz_script_text(sc, SP_STEP_SEND, st->lines[i].p,
			    st->lines[i].n);
		return (e);
	case FZ_DATA:
		if ((e = fz_script_text(sc, SP_STEP_SEND, "DATA", 4)) != SP_E_OK)
			return (e);
		return (fz_script_text(sc, SP_STEP_DATA_BODY, st->body.p,
		    st->body.n));
	case FZ_BDAT:
		ss.op = SP_STEP_BDAT;
		ss.size = st->body.n;
		ss.last = st->last;
		ss.has_text = 1;
		if ((ss.text.p = fz_escape(st->body.p, st->body.n,
		    &ss.text.len)) == NULL)
			return (SP_E_NOMEM);
		e = sp_script_append(sc, &ss);
		free((void *)ss.text.p);
		return (e);
	case FZ_STARTTLS:
		ss.op = SP_STEP_STARTTLS;
		return (sp_script_append(sc, &ss));
	}
	return (SP_E_INVAL);
}

/* The queue format: a script without expectations (seeds read back). */
int
fz_session_save(const struct fz_session *s, const char *path)
{
	sp_script	*sc;
	char		*text;
	size_t		 len;
	FILE		*f;
	int		 rc = -1;

	if (sp_script_new(&sc) != SP_E_OK)
		return (-1);
	for (size_t i = 0; i < s->n; i++)
		if (save_step(sc, &s->steps[i]) != SP_E_OK)
			goto out;
	if (sp_script_write(sc, &text, &len) != SP_E_OK)
		goto out;
	if ((f = fopen(path, "w")) != NULL) {
		rc = fwrite(text, 1, len, f) == len ? 0 : -1;
		if (fclose(f) != 0)
			rc = -1;
	}
	free(text);
out:
	sp_script_free(sc);
	return (rc);
}
