/*
 * rplay.c - see rplay.h.  A session runs on a fresh connection with the
 * library's script runner, which goes on after a failure (unless
 * --stop-at-divergence), so the report shows the first divergence and
 * everything after it.  Replies of a capture's session are compared
 * semantically (compare.c) with the recorded ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "rplay.h"

#define THEN_SHOWN	20	/* steps after a divergence on stdout */

static const char *const op_names[] = {
	"?", "send", "sendraw", "pipeline", "expect", "expect-count",
	"expect-silence", "expect-close", "starttls", "data", "data-body",
	"bdat", "bdat-file", "auth", "sleep", "quit", "tls"
};

const char *
rplay_op_name(enum sp_script_op op)
{
	return ((size_t)op < sizeof(op_names) / sizeof(op_names[0]) ?
	    op_names[op] : "?");
}

void
rplay_expect_str(const struct sp_script_step *st, char *buf, size_t cap)
{
	size_t	len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < st->expect.ncodes && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s",
		    i > 0 ? "|" : "", st->expect.codes[i]);
	if (st->expect.ncodes == 0 && len < cap)
		len += (size_t)snprintf(buf + len, cap - len, "any");
	if (st->expect.pattern != NULL && len < cap)
		(void)snprintf(buf + len, cap - len, st->expect.regex ?
		    " /%s/" : " \"%s\"", st->expect.pattern);
}

void
rplay_init(struct rplay_run *run, const struct ropts *r, int stop)
{
	memset(run, 0, sizeof(*run));
	run->r = r;
	run->stop = stop;
	run->deadline = ropts_now_ms() + (unsigned long long)r->max_time_s *
	    1000ULL;
	run->sessions = json_object_new_array();
}

void
rplay_free(struct rplay_run *run)
{
	json_object_put(run->sessions);
	run->sessions = NULL;
}

/* One analysed step. */
struct an_step {
	const struct sp_step_result	*r;
	const struct sp_script_step	*st;
	const char			*cmd;	/* the last thing sent */
	char				 expected[CMP_TEXT_MAX + 32];
	char				 note[CMP_TEXT_MAX + 64];
	int				 diverged;
};

/* A session's run, as on_step sees it. */
struct watch {
	const struct rplay_run	*run;
	unsigned		 timeouts;	/* in a row */
	const char		*why;		/* stopped early: why */
};

#define MAX_TIMEOUTS	3

/*
 * Between steps: the total run time is bounded, and once the server
 * has let several replies in a row time out it is not answering as
 * recorded: waiting out every later reply would only take time.
 */
static int
on_step(void *ud, const struct sp_step_result *r)
{
	struct watch	*w = ud;

	if (ropts_now_ms() > w->run->deadline) {
		w->why = "--max-time reached";
		return (1);
	}
	if (r->note != NULL && strstr(r->note, "timed out") != NULL) {
		if (++w->timeouts >= MAX_TIMEOUTS && !w->run->stop) {
			w->why = "3 replies in a row timed out";
			return (1);
		}
	} else if (r->verdict == SP_VERDICT_PASS)
		w->timeouts = 0;
	return (0);
}

/* Compare step a with the reply recorded for it, if any. */
static void
analyse(const struct rs_session *s, struct an_step *a, size_t i)
{
	struct cmp_reply	 want, got;
	const struct rs_reply	*rec;
	char			 codes[32];

	a->diverged = a->r->verdict == SP_VERDICT_FAIL;
	(void)snprintf(a->note, sizeof(a->note), "%s",
	    a->r->note != NULL ? a->r->note : "");
	if (a->st->op == SP_STEP_EXPECT)
		rplay_expect_str(a->st, a->expected, sizeof(a->expected));
	if (i >= s->nmap || s->expect_map[i] < 0)
		return;
	rec = &s->replies[s->expect_map[i]];
	cmp_from_parts(&want, rec->code, rec->ecls, rec->esub, rec->edet,
	    rec->text);
	(void)snprintf(a->expected, sizeof(a->expected), "%s %s",
	    cmp_codes(&want, codes, sizeof(codes)), want.text);
	if (a->r->verdict != SP_VERDICT_PASS || a->r->got == NULL)
		return;
	cmp_from_got(&got, a->r->got);
	if (cmp_match(&want, &got, a->note, sizeof(a->note)) != 0)
		a->diverged = 1;
}

static json_object *
step_json(const struct an_step *a)
{
	json_object	*j = json_object_new_object();
	const struct sp_step_result *r = a->r;

	json_object_object_add(j, "step", json_object_new_int64(
	    (int64_t)r->index + 1));
	if (r->line > 0)
		json_object_object_add(j, "line", json_object_new_int(
		    (int)r->line));
	json_object_object_add(j, "op", json_object_new_string(
	    rplay_op_name(r->op)));
	json_object_object_add(j, "verdict", json_object_new_string(
	    a->diverged ? "diverged" : sp_verdict_name(r->verdict)));
	if (r->sent != NULL)
		json_object_object_add(j, "sent", json_object_new_string(
		    r->sent));
	else if (a->cmd != NULL && r->op == SP_STEP_EXPECT)
		json_object_object_add(j, "answering",
		    json_object_new_string(a->cmd));
	if (a->expected[0] != '\0')
		json_object_object_add(j, "expected", json_object_new_string(
		    a->expected));
	if (r->got != NULL)
		json_object_object_add(j, "got", json_object_new_string(
		    r->got));
	if (a->note[0] != '\0')
		json_object_object_add(j, "note", json_object_new_string(
		    a->note));
	if (r->code != 0)
		json_object_object_add(j, "code", json_object_new_int(r->code));
	json_object_object_add(j, "latency_ms", json_object_new_double(
	    (double)r->latency_ns / 1e6));
	return (j);
}

static void
print_step(const char *lead, const struct an_step *a)
{
	char	b1[160], b2[160];

	printf("%sstep %zu", lead, a->r->index + 1);
	if (a->r->line > 0)
		printf(" (line %u)", a->r->line);
	printf(" %s: %s", rplay_op_name(a->r->op), a->diverged ? "DIVERGED" :
	    sp_verdict_name(a->r->verdict));
	if (a->r->sent != NULL)
		printf("  sent %s", ropts_shorten(a->r->sent, 70, b1,
		    sizeof(b1)));
	if (a->r->got != NULL)
		printf("  got %s", ropts_shorten(a->r->got, 70, b2,
		    sizeof(b2)));
	printf("\n");
}

/* The first divergence in detail, then what followed, shortened. */
static void
print_divergence(const struct an_step *v, size_t n, size_t d, int quiet)
{
	char	b[400];

	printf("    at step %zu", v[d].r->index + 1);
	if (v[d].r->line > 0)
		printf(" (script line %u)", v[d].r->line);
	printf(", %s\n", rplay_op_name(v[d].r->op));
	if (v[d].r->sent != NULL || (v[d].cmd != NULL &&
	    v[d].r->op == SP_STEP_EXPECT))
		printf("    sent:     %s\n", ropts_shorten(v[d].r->sent ?
		    v[d].r->sent : v[d].cmd, 300, b, sizeof(b)));
	if (v[d].expected[0] != '\0')
		printf("    expected: %s\n", ropts_shorten(v[d].expected, 300,
		    b, sizeof(b)));
	printf("    got:      %s\n", ropts_shorten(v[d].r->got ? v[d].r->got :
	    "(nothing)", 300, b, sizeof(b)));
	if (v[d].note[0] != '\0')
		printf("    why:      %s\n", ropts_shorten(v[d].note, 300, b,
		    sizeof(b)));
	if (quiet || d + 1 >= n)
		return;
	printf("    then:\n");
	for (size_t i = d + 1; i < n && i < d + 1 + THEN_SHOWN; i++)
		print_step("      ", &v[i]);
	if (n > d + 1 + THEN_SHOWN)
		printf("      ... %zu more steps (see -o)\n",
		    n - d - 1 - THEN_SHOWN);
}

static json_object *
session_json(const struct rs_session *s, const char *verdict)
{
	json_object	*j = json_object_new_object();

	json_object_object_add(j, "session", json_object_new_int64(
	    (int64_t)s->index));
	json_object_object_add(j, "source", json_object_new_string(
	    s->source));
	json_object_object_add(j, "verdict", json_object_new_string(verdict));
	json_object_object_add(j, "steps", json_object_new_int64(
	    (int64_t)sp_script_nsteps(s->script)));
	if (s->stopped_tls)
		json_object_object_add(j, "stopped_at_starttls",
		    json_object_new_boolean(1));
	if (s->placeholder)
		json_object_object_add(j, "placeholder_message",
		    json_object_new_boolean(1));
	return (j);
}

/* Could not run, or skipped before any step: one line and the JSON. */
static void
session_not_run(struct rplay_run *run, const struct rs_session *s,
    const char *verdict, const char *why)
{
	json_object	*j = session_json(s, verdict);

	json_object_object_add(j, "note", json_object_new_string(why));
	json_object_array_add(run->sessions, j);
	printf("%-8s session %zu: %s\n    %s\n", strcmp(verdict, "skip") ==
	    0 ? "SKIP" : "ERROR", s->index, s->source, why);
	if (strcmp(verdict, "skip") == 0)
		run->skipped++;
	else
		run->errors++;
}

/* Steps analysed; returns the first divergence or error, or n. */
static size_t
analyse_all(const struct rs_session *s, const struct sp_script_report *rep,
    struct an_step *v, int *error)
{
	const char	*cmd = NULL;
	size_t		 first = rep->nsteps;

	*error = 0;
	for (size_t i = 0; i < rep->nsteps; i++) {
		const struct sp_step_result *r = &rep->steps[i];

		v[i].r = r;
		v[i].st = sp_script_step_at(s->script, r->index);
		v[i].cmd = cmd;
		analyse(s, &v[i], r->index);
		if (r->sent != NULL)
			cmd = r->sent;
		if (first == rep->nsteps && (v[i].diverged ||
		    r->verdict == SP_VERDICT_ERROR)) {
			first = i;
			*error = !v[i].diverged;
		}
	}
	return (first);
}

static void
report_session(struct rplay_run *run, const struct rs_session *s,
    const struct sp_script_report *rep, struct an_step *v, const char *why)
{
	json_object	*j, *steps = json_object_new_array();
	size_t		 d, notes = 0;
	int		 error;
	const char	*verdict;

	d = analyse_all(s, rep, v, &error);
	verdict = d < rep->nsteps ? (error ? "error" : "diverged") :
	    rep->verdict == SP_VERDICT_SKIP ? "skip" : "pass";
	for (size_t i = 0; i < rep->nsteps; i++) {
		json_object_array_add(steps, step_json(&v[i]));
		notes += i < d && v[i].note[0] != '\0';
	}
	j = session_json(s, verdict);
	json_object_object_add(j, "results", steps);
	if (rep->note != NULL)
		json_object_object_add(j, "note", json_object_new_string(
		    rep->note));
	if (d < rep->nsteps)
		json_object_object_add(j, "first_divergence",
		    json_object_new_int64((int64_t)v[d].r->index + 1));
	if (why != NULL)
		json_object_object_add(j, "stopped", json_object_new_string(
		    why));
	json_object_array_add(run->sessions, j);
	printf("%-8s session %zu: %s (%zu steps)\n", verdict[0] == 'p' ?
	    "PASS" : verdict[0] == 's' ? "SKIP" : verdict[0] == 'e' ?
	    "ERROR" : "DIVERGED", s->index, s->source, rep->nsteps);
	if (rep->note != NULL)
		printf("    %s\n", rep->note);
	if (d < rep->nsteps)
		print_divergence(v, rep->nsteps, d, run->r->quiet);
	else if (notes > 0 && !run->r->quiet)
		printf("    %zu replies held with a different text (see -o)"
		    "\n", notes);
	if (why != NULL)
		printf("    stopped after %zu of %zu steps: %s\n", rep->nsteps,
		    sp_script_nsteps(s->script), why);
	if (s->placeholder)
		printf("    a message was not in the record: a placeholder "
		    "was sent\n");
	if (s->stopped_tls)
		printf("    stopped at STARTTLS: what followed it in the "
		    "capture was encrypted\n");
	if (verdict[0] == 'p')
		run->passed++;
	else if (verdict[0] == 's')
		run->skipped++;
	else if (verdict[0] == 'e')
		run->errors++;
	else
		run->diverged++;
}

void
rplay_session(struct rplay_run *run, struct rs_session *s)
{
	struct sp_script_run_options	 ro;
	struct sp_script_report		*rep = NULL;
	struct an_step			*v;
	struct watch			 w = { run, 0, NULL };
	sp_client			*c;
	char				 msg[600];

	if (ropts_now_ms() > run->deadline) {
		session_not_run(run, s, "error", "not run: --max-time reached");
		return;
	}
	if ((c = ropts_connect(run->r, msg, sizeof(msg))) == NULL) {
		session_not_run(run, s, "error", msg);
		return;
	}
	memset(&ro, 0, sizeof(ro));
	ro.vars = run->r->vars;
	ro.nvars = run->r->nvars;
	ro.allow_env = 1;
	ro.keep_going = !run->stop;
	ro.default_ms = run->r->timeout_ms;
	ro.on_step = on_step;
	ro.ud = &w;
	if (sp_script_run(s->script, c, &ro, &rep) != SP_E_OK ||
	    (v = calloc(rep->nsteps ? rep->nsteps : 1, sizeof(*v))) == NULL) {
		session_not_run(run, s, "error", "out of memory");
		sp_script_report_free(rep);
		sp_client_free(c);
		return;
	}
	report_session(run, s, rep, v, w.why);
	free(v);
	sp_script_report_free(rep);
	sp_client_free(c);
}

int
rplay_finish(struct rplay_run *run)
{
	json_object	*top, *sum;
	size_t		 n = run->passed + run->diverged + run->skipped +
			    run->errors;
	int		 rc;

	rc = n == 0 || run->errors > 0 ? 3 : run->diverged > 0 ? 1 : 0;
	printf("%zu session%s: %zu passed, %zu diverged, %zu skipped, %zu "
	    "could not run\n", n, n == 1 ? "" : "s", run->passed,
	    run->diverged, run->skipped, run->errors);
	if (n == 0)
		fprintf(stderr, "smtp-replay: no session selected\n");
	if (run->r->json_path == NULL)
		return (rc);
	top = json_object_new_object();
	sum = json_object_new_object();
	json_object_object_add(top, "tool", json_object_new_string(
	    "smtp-replay"));
	json_object_object_add(top, "mode", json_object_new_string("replay"));
	json_object_object_add(top, "target", json_object_new_string(
	    run->r->host));
	json_object_object_add(top, "port", json_object_new_string(
	    run->r->port));
	json_object_object_add(sum, "sessions", json_object_new_int64(
	    (int64_t)n));
	json_object_object_add(sum, "passed", json_object_new_int64(
	    (int64_t)run->passed));
	json_object_object_add(sum, "diverged", json_object_new_int64(
	    (int64_t)run->diverged));
	json_object_object_add(sum, "skipped", json_object_new_int64(
	    (int64_t)run->skipped));
	json_object_object_add(sum, "errors", json_object_new_int64(
	    (int64_t)run->errors));
	json_object_object_add(top, "summary", sum);
	json_object_object_add(top, "sessions", json_object_get(
	    run->sessions));
	json_object_object_add(top, "exit", json_object_new_int(rc));
	if (json_object_to_file_ext(run->r->json_path, top,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE) != 0) {
		fprintf(stderr, "smtp-replay: cannot write %s\n",
		    run->r->json_path);
		rc = 3;
	}
	json_object_put(top);
	return (rc);
}
