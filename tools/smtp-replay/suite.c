/*
 * suite.c - --suite NAME|DIR: run a folder of session scripts (the
 * conformance checks of /work/shared/CONFORMANCE.md, attack probes),
 * each on a fresh connection to --target, and print a table: check,
 * RFC section, level, verdict and the exchange that decided it.
 * Scripts whose fixtures (--var) are missing are skipped.  Exit 0 when
 * every MUST / MUST NOT check passed, 1 otherwise, 2 on usage errors,
 * 3 when the suite cannot be read or the target never answered.
 */
#define _GNU_SOURCE		/* versionsort(3) */
#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "replay.h"
#include "ropts.h"
#include "rplay.h"

#ifndef SP_SUITES_INSTALL_DIR
#define SP_SUITES_INSTALL_DIR	"/usr/local/share/smtpproto/suites"
#endif
#ifndef SP_SUITES_SOURCE_DIR
#define SP_SUITES_SOURCE_DIR	""
#endif

#define MAX_CHECKS	2000
#define EVIDENCE_MAX	90	/* characters of evidence in the table */

struct suite_opts {
	struct ropts	 r;
	const char	*suite;
	const char	*only;		/* "C1,C9": these ids only */
	unsigned	 jobs;		/* checks run at once */
	char		 dir[4096];
};

struct check {
	char			 file[4096 + 256];
	const char		*name;		/* file name */
	sp_script		*script;
	char			 load_err[300];
	enum sp_verdict		 verdict;
	int			 connect_failed;
	char			 evidence[600];
	char			 note[600];
	json_object		*steps;
};

static void
usage(FILE *f)
{
	fputs(
"usage: smtp-replay --suite NAME|DIR --target HOST:PORT [options]\n"
"  NAME is a suite installed with the tool or in the source tree\n"
"  (conformance, attacks); DIR a folder of *.smtp scripts.\n"
"\n", f);
	ropts_usage(f);
	fputs(
"  --only ID[,ID...]     run these checks only\n"
"  -j, --jobs N          run N checks at once (1 to 16, default 1)\n"
"  -h, --help\n"
"\n"
"Fixtures: --var rcpt=ADDR (a deliverable recipient), --var helo=NAME...\n"
"a check needing a fixture not given is skipped.  Exit status: 0 every\n"
"MUST / MUST NOT check passed, 1 one did not, 2 usage error, 3 the\n"
"suite could not be read or the target never answered.\n", f);
}

static const struct option longopts[] = {
	ROPTS_LONGOPTS,
	{ "suite",	required_argument, NULL, 3001 },
	{ "only",	required_argument, NULL, 3002 },
	{ "jobs",	required_argument, NULL, 'j' },
	{ "help",	no_argument,	   NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static int
is_dir(const char *p)
{
	struct stat	st;

	return (stat(p, &st) == 0 && S_ISDIR(st.st_mode));
}

/*
 * A path is taken as it is; a bare name is looked up in $SP_SUITES_DIR,
 * the installed share folder, then the source tree.
 */
static int
resolve_suite(struct suite_opts *o)
{
	const char	*roots[3];

	if (strchr(o->suite, '/') != NULL || is_dir(o->suite)) {
		(void)snprintf(o->dir, sizeof(o->dir), "%s", o->suite);
		return (is_dir(o->dir) ? 0 : -1);
	}
	roots[0] = getenv("SP_SUITES_DIR");
	roots[1] = SP_SUITES_INSTALL_DIR;
	roots[2] = SP_SUITES_SOURCE_DIR;
	for (size_t i = 0; i < 3; i++) {
		if (roots[i] == NULL || roots[i][0] == '\0')
			continue;
		(void)snprintf(o->dir, sizeof(o->dir), "%s/%s", roots[i],
		    o->suite);
		if (is_dir(o->dir))
			return (0);
	}
	return (-1);
}

static int
parse_args(struct suite_opts *o, int argc, char **argv)
{
	int	ch, r;

	while ((ch = getopt_long(argc, argv, ROPTS_SHORTOPTS "hj:", longopts,
	    NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			exit(0);
		}
		if (ch == 'j') {
			char		*end;
			unsigned long	 n = strtoul(optarg, &end, 10);

			if (*end != '\0' || n < 1 || n > 16) {
				fprintf(stderr, "smtp-replay: --jobs is 1 "
				    "to 16\n");
				return (2);
			}
			o->jobs = (unsigned)n;
		} else if (ch == 3001)
			o->suite = optarg;
		else if (ch == 3002)
			o->only = optarg;
		else if ((r = ropts_option(&o->r, ch, optarg)) <= 0) {
			if (r == 0)
				usage(stderr);
			return (2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "smtp-replay: --suite takes no other input: "
		    "%s\n", argv[optind]);
		return (2);
	}
	if (o->suite == NULL || ropts_check(&o->r, "--suite") != 0)
		return (2);
	if (resolve_suite(o) != 0) {
		fprintf(stderr, "smtp-replay: no suite %s (a folder, or a "
		    "name under $SP_SUITES_DIR, %s or the source tree)\n",
		    o->suite, SP_SUITES_INSTALL_DIR);
		return (2);
	}
	return (0);
}

static int
script_file(const struct dirent *d)
{
	size_t	n = strlen(d->d_name);

	return (d->d_name[0] != '.' && n > 5 &&
	    strcmp(d->d_name + n - 5, ".smtp") == 0);
}

/* Is id in the comma-separated list? */
static int
wanted(const char *only, const char *id)
{
	size_t	n = strlen(id);

	if (only == NULL)
		return (1);
	for (const char *p = only; *p != '\0';) {
		size_t	k = strcspn(p, ",");

		if (k == n && strncmp(p, id, n) == 0)
			return (1);
		p += k + (p[k] == ',');
	}
	return (0);
}

/*
 * For the table: "NOOP\r\n" -> "NOOP"; a multi-line reply shortened
 * to its first line and how many followed.
 */
static const char *
trim(const char *s, char *buf, size_t cap)
{
	const char	*nl;
	size_t		 n, more = 0;

	(void)snprintf(buf, cap, "%s", s != NULL ? s : "");
	n = strlen(buf);
	while (n >= 4 && strcmp(buf + n - 4, "\\r\\n") == 0)
		buf[n -= 4] = '\0';
	if ((nl = strstr(buf, "\\r\\n")) == NULL)
		return (buf);
	for (const char *p = nl; p != NULL; p = strstr(p + 4, "\\r\\n"))
		more++;
	n = (size_t)(nl - buf);
	(void)snprintf(buf + n, cap - n, " (+%zu line%s)", more,
	    more == 1 ? "" : "s");
	return (buf);
}

/* The closing QUIT of a passed check decides nothing. */
static int
closing(const struct sp_step_result *r, const char *cmd)
{
	return (r->op == SP_STEP_QUIT || (r->op == SP_STEP_EXPECT &&
	    cmd != NULL && strncmp(cmd, "QUIT", 4) == 0));
}

/*
 * The exchange that decided the verdict: the first step that failed,
 * or, for a pass, the last reply read before the closing QUIT; with
 * the command it answered and why it failed.
 */
static void
evidence(struct check *c, const struct sp_script_report *rep)
{
	const struct sp_step_result *d = NULL;
	const char	*cmd = NULL, *dcmd = NULL;
	char		 a[300], b[300];
	int		 failed = 0;

	for (size_t i = 0; i < rep->nsteps; i++) {
		const struct sp_step_result *r = &rep->steps[i];
		const char	*rc = r->sent != NULL ? r->sent : cmd;

		if (r->verdict == SP_VERDICT_FAIL ||
		    r->verdict == SP_VERDICT_ERROR) {
			d = r;
			dcmd = rc;
			failed = 1;
			break;
		}
		if (r->got != NULL && r->verdict == SP_VERDICT_PASS &&
		    (d == NULL || !closing(r, rc))) {
			d = r;
			dcmd = rc;
		}
		if (r->sent != NULL)
			cmd = r->sent;
	}
	if (d == NULL) {
		(void)snprintf(c->evidence, sizeof(c->evidence), "%s",
		    rep->note != NULL ? rep->note : "");
		return;
	}
	(void)snprintf(c->evidence, sizeof(c->evidence), "%s%s%s%s%s",
	    failed && d->note != NULL ? d->note : "", failed && d->note !=
	    NULL ? ": " : "", dcmd != NULL ? trim(dcmd, a, sizeof(a)) : "",
	    dcmd != NULL ? " -> " : "", d->got != NULL ? trim(d->got, b,
	    sizeof(b)) : "(nothing)");
}

static json_object *
steps_json(const struct sp_script_report *rep)
{
	json_object	*a = json_object_new_array();

	for (size_t i = 0; i < rep->nsteps; i++) {
		const struct sp_step_result *r = &rep->steps[i];
		json_object	*j = json_object_new_object();

		json_object_object_add(j, "line", json_object_new_int(
		    (int)r->line));
		json_object_object_add(j, "op", json_object_new_string(
		    rplay_op_name(r->op)));
		json_object_object_add(j, "verdict", json_object_new_string(
		    sp_verdict_name(r->verdict)));
		if (r->sent != NULL)
			json_object_object_add(j, "sent",
			    json_object_new_string(r->sent));
		if (r->got != NULL)
			json_object_object_add(j, "got",
			    json_object_new_string(r->got));
		if (r->note != NULL)
			json_object_object_add(j, "note",
			    json_object_new_string(r->note));
		json_object_object_add(j, "latency_ms",
		    json_object_new_double((double)r->latency_ns / 1e6));
		json_object_array_add(a, j);
	}
	return (a);
}

/*
 * A check needing a fixture that was not given is skipped before a
 * connection is made (the runner would skip it too, but only after).
 */
static int
missing_fixture(const struct suite_opts *o, const sp_script *s, char *msg,
    size_t cap)
{
	const struct sp_script_meta *m = sp_script_get_meta(s);

	for (size_t i = 0; i < m->nfixtures; i++) {
		size_t	k;

		for (k = 0; k < o->r.nvars; k++)
			if (strcmp(o->r.vars[k].name, m->fixtures[i]) == 0)
				break;
		if (k == o->r.nvars) {
			(void)snprintf(msg, cap, "needs fixture %s (--var "
			    "%s=...)", m->fixtures[i], m->fixtures[i]);
			return (1);
		}
	}
	return (0);
}

static void
run_check(const struct suite_opts *o, struct check *c,
    unsigned long long deadline)
{
	struct sp_script_run_options	 ro;
	struct sp_script_report		*rep = NULL;
	sp_client			*cl;
	char				 msg[600];

	if (c->script == NULL) {
		c->verdict = SP_VERDICT_ERROR;
		(void)snprintf(c->evidence, sizeof(c->evidence), "%s",
		    c->load_err);
		return;
	}
	if (ropts_now_ms() > deadline) {
		c->verdict = SP_VERDICT_SKIP;
		(void)snprintf(c->evidence, sizeof(c->evidence),
		    "not run: --max-time reached");
		return;
	}
	memset(&ro, 0, sizeof(ro));
	ro.vars = o->r.vars;
	ro.nvars = o->r.nvars;
	ro.allow_env = 1;
	ro.default_ms = o->r.timeout_ms;
	if (missing_fixture(o, c->script, msg, sizeof(msg))) {
		c->verdict = SP_VERDICT_SKIP;
		(void)snprintf(c->evidence, sizeof(c->evidence), "%s", msg);
		return;
	}
	if ((cl = ropts_connect(&o->r, msg, sizeof(msg))) == NULL) {
		c->verdict = SP_VERDICT_ERROR;
		c->connect_failed = 1;
		(void)snprintf(c->evidence, sizeof(c->evidence), "%s", msg);
		return;
	}
	if (sp_script_run(c->script, cl, &ro, &rep) != SP_E_OK) {
		c->verdict = SP_VERDICT_ERROR;
		(void)snprintf(c->evidence, sizeof(c->evidence),
		    "out of memory");
	} else {
		c->verdict = rep->verdict;
		evidence(c, rep);
		if (rep->note != NULL)
			(void)snprintf(c->note, sizeof(c->note), "%s",
			    rep->note);
		c->steps = steps_json(rep);
	}
	sp_script_report_free(rep);
	sp_client_free(cl);
}

static const char *
level_name(enum sp_script_level l)
{
	switch (l) {
	case SP_LEVEL_MUST: return ("MUST");
	case SP_LEVEL_MUST_NOT: return ("MUST NOT");
	case SP_LEVEL_SHOULD: return ("SHOULD");
	case SP_LEVEL_SHOULD_NOT: return ("SHOULD NOT");
	case SP_LEVEL_MAY: return ("MAY");
	default: return ("-");
	}
}


static const char *
meta_id(const struct check *c)
{
	const struct sp_script_meta *m = c->script ?
	    sp_script_get_meta(c->script) : NULL;

	return (m != NULL && m->id != NULL ? m->id : c->name);
}

static int
is_must(const struct check *c)
{
	const struct sp_script_meta *m = c->script ?
	    sp_script_get_meta(c->script) : NULL;

	/* An unreadable script cannot show a SHOULD passed: it counts. */
	return (m == NULL || m->level == SP_LEVEL_MUST ||
	    m->level == SP_LEVEL_MUST_NOT);
}

/* The suite's scripts, in version order (C2 before C11). */
static int
load_checks(struct suite_opts *o, struct check **out, size_t *n)
{
	struct dirent	**ents;
	struct check	 *v;
	int		  k;

	*n = 0;
	if ((k = scandir(o->dir, &ents, script_file, versionsort)) < 0)
		return (-1);
	v = calloc((size_t)k + 1, sizeof(*v));
	for (int i = 0; i < k; i++) {
		struct sp_script_error	 err;
		struct check		*c = &v[*n];

		if (v != NULL && *n < MAX_CHECKS) {
			if (snprintf(c->file, sizeof(c->file), "%s/%s",
			    o->dir, ents[i]->d_name) >= (int)sizeof(c->file))
				c->file[0] = '\0';	/* cannot happen */
			c->name = strrchr(c->file, '/') + 1;
			if (sp_script_load(&c->script, c->file, &err) !=
			    SP_E_OK)
				(void)snprintf(c->load_err,
				    sizeof(c->load_err), "%s:%u: %s",
				    c->name, err.line, err.msg);
			if (wanted(o->only, meta_id(c)))
				(*n)++;
			else
				sp_script_free(c->script);
		}
		free(ents[i]);
	}
	free(ents);
	*out = v;
	return (v == NULL ? -1 : 0);
}

static void
print_table(const struct check *v, size_t n)
{
	char	ev[EVIDENCE_MAX + 8];

	printf("%-10s %-20s %-10s %-7s %s\n", "CHECK", "RFC", "LEVEL",
	    "VERDICT", "EVIDENCE");
	for (size_t i = 0; i < n; i++) {
		const struct sp_script_meta *m = v[i].script ?
		    sp_script_get_meta(v[i].script) : NULL;

		printf("%-10s %-20s %-10s %-7s %s\n", meta_id(&v[i]),
		    m && m->rfc ? m->rfc : "-", level_name(m ? m->level :
		    SP_LEVEL_NONE), sp_verdict_name(v[i].verdict),
		    ropts_shorten(v[i].evidence, EVIDENCE_MAX, ev,
		    sizeof(ev)));
	}
}

static json_object *
check_json(struct check *c)
{
	const struct sp_script_meta *m = c->script ?
	    sp_script_get_meta(c->script) : NULL;
	json_object	*j = json_object_new_object();

	json_object_object_add(j, "id", json_object_new_string(meta_id(c)));
	json_object_object_add(j, "file", json_object_new_string(c->name));
	if (m != NULL && m->title != NULL)
		json_object_object_add(j, "title",
		    json_object_new_string(m->title));
	if (m != NULL && m->rfc != NULL)
		json_object_object_add(j, "rfc", json_object_new_string(
		    m->rfc));
	json_object_object_add(j, "level", json_object_new_string(
	    level_name(m ? m->level : SP_LEVEL_NONE)));
	json_object_object_add(j, "verdict", json_object_new_string(
	    sp_verdict_name(c->verdict)));
	json_object_object_add(j, "evidence", json_object_new_string(
	    c->evidence));
	if (c->note[0] != '\0')
		json_object_object_add(j, "note", json_object_new_string(
		    c->note));
	if (c->steps != NULL) {
		json_object_object_add(j, "steps", c->steps);
		c->steps = NULL;
	}
	return (j);
}

static int
write_json(const struct suite_opts *o, struct check *v, size_t n,
    const size_t *count, size_t must_failed, int rc)
{
	json_object	*top = json_object_new_object(), *a, *sum;
	static const char *const names[] = { "pass", "fail", "error", "skip" };
	int		 ok;

	a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, check_json(&v[i]));
	sum = json_object_new_object();
	json_object_object_add(sum, "checks", json_object_new_int64(
	    (int64_t)n));
	for (size_t i = 0; i < 4; i++)
		json_object_object_add(sum, names[i], json_object_new_int64(
		    (int64_t)count[i]));
	json_object_object_add(sum, "must_failed", json_object_new_int64(
	    (int64_t)must_failed));
	json_object_object_add(top, "tool", json_object_new_string(
	    "smtp-replay"));
	json_object_object_add(top, "mode", json_object_new_string("suite"));
	json_object_object_add(top, "suite", json_object_new_string(o->dir));
	json_object_object_add(top, "target", json_object_new_string(
	    o->r.host));
	json_object_object_add(top, "port", json_object_new_string(o->r.port));
	json_object_object_add(top, "summary", sum);
	json_object_object_add(top, "checks", a);
	json_object_object_add(top, "exit", json_object_new_int(rc));
	ok = json_object_to_file_ext(o->r.json_path, top,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE) == 0;
	json_object_put(top);
	if (!ok)
		fprintf(stderr, "smtp-replay: cannot write %s\n",
		    o->r.json_path);
	return (ok ? rc : 3);
}

/* The checks shared by --jobs workers: each takes the next one. */
struct pool {
	const struct suite_opts	*o;
	struct check		*v;
	size_t			 n, next;
	unsigned long long	 deadline;
	pthread_mutex_t		 mu;
};

static void *
worker(void *arg)
{
	struct pool	*p = arg;

	for (;;) {
		size_t	i;

		(void)pthread_mutex_lock(&p->mu);
		i = p->next < p->n ? p->next++ : p->n;
		(void)pthread_mutex_unlock(&p->mu);
		if (i == p->n)
			return (NULL);
		run_check(p->o, &p->v[i], p->deadline);
	}
}

/* Every check, on o->jobs connections at a time at most. */
static void
run_checks(const struct suite_opts *o, struct check *v, size_t n)
{
	struct pool	p = { o, v, n, 0, ropts_now_ms() +
			    (unsigned long long)o->r.max_time_s * 1000ULL,
			    PTHREAD_MUTEX_INITIALIZER };
	pthread_t	t[16];
	unsigned	k, started = 0;

	for (k = 1; k < o->jobs && k < n; k++)
		if (pthread_create(&t[started], NULL, worker, &p) == 0)
			started++;
	(void)worker(&p);
	for (k = 0; k < started; k++)
		(void)pthread_join(t[k], NULL);
}

static int
run_suite(struct suite_opts *o, struct check *v, size_t n)
{
	size_t		 count[4] = { 0, 0, 0, 0 }, must_failed = 0, refused = 0;
	int		 rc;

	run_checks(o, v, n);
	for (size_t i = 0; i < n; i++) {
		if ((size_t)v[i].verdict < 4)
			count[v[i].verdict]++;
		must_failed += is_must(&v[i]) &&
		    (v[i].verdict == SP_VERDICT_FAIL ||
		    v[i].verdict == SP_VERDICT_ERROR);
		refused += v[i].connect_failed != 0;
	}
	print_table(v, n);
	printf("%zu checks: %zu pass, %zu fail, %zu error, %zu skip; %zu "
	    "MUST check%s not passed\n", n, count[0], count[1], count[2],
	    count[3], must_failed, must_failed == 1 ? "" : "s");
	/* Not one connection: the target is down, nothing was checked. */
	rc = n > 0 && refused == n - count[3] && refused > 0 ? 3 :
	    must_failed > 0 ? 1 : 0;
	if (o->r.json_path != NULL)
		rc = write_json(o, v, n, count, must_failed, rc);
	return (rc);
}

int
suite_main(int argc, char **argv)
{
	struct suite_opts	 o;
	struct check		*v = NULL;
	size_t			 n = 0;
	int			 rc;

	memset(&o, 0, sizeof(o));
	ropts_init(&o.r);
	o.jobs = 1;
	if ((rc = parse_args(&o, argc, argv)) != 0)
		goto out;
	if (load_checks(&o, &v, &n) != 0 || n == 0) {
		fprintf(stderr, "smtp-replay: no *.smtp scripts%s in %s\n",
		    o.only != NULL ? " matching --only" : "", o.dir);
		rc = 3;
		goto out;
	}
	rc = run_suite(&o, v, n);
out:
	for (size_t i = 0; i < n; i++) {
		sp_script_free(v[i].script);
		json_object_put(v[i].steps);
	}
	free(v);
	for (size_t i = 0; i < o.r.nvars; i++)
		free((char *)o.r.vars[i].name);
	return (rc);
}
