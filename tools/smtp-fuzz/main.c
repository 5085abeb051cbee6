/*
 * smtp-fuzz - a stateful SMTP fuzzer (issue 7).
 *
 *   smtp-fuzz --target HOST:PORT --out DIR [--seeds FILE]...
 *             [--duration S | --iterations N] [--seed N] [-j N]
 *             [--timeout MS] [--quiet MS] [--dict FILE] [--auth USER:PASS]
 *             [--ca FILE] [--restart-cmd CMD] [--exec CMD | --pid PID]
 *
 * Test cases are sessions (fuzz.h), one connection each.  Each reply
 * gives a state; a case that reaches a new state or transition joins
 * the queue.  Each seed runs as it is, then through the deterministic
 * stage (det.c); after that cases are drawn with a weight favouring
 * rare states and states with few explored transitions (graph.c).  A
 * case that trips an oracle (exec.c) is deduplicated (oracle, last
 * state, trigger), rechecked, minimised by removing steps, and saved in
 * DIR/findings/ as a session script that passes while the bug is there
 * (smtp-replay reproduces it) and a JSON report.  DIR keeps the queue
 * and the graph, so a second run resumes.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fuzz.h"

#define FZ_MAX_WORKERS	16
#define FZ_MAX_SEEN	1024
#define FZ_MAX_DICT	1024
#define FZ_MAX_FINDINGS	256
#define FZ_MAX_HANGS	64
#define FZ_MAX_DEATHS	32

struct qent {
	struct fz_session	 s;
	uint64_t		 h[FZ_MAX_PATH];
	size_t			 nh;
	double			 w;
};

struct fuzzer {
	struct fz_target	 t;
	struct fz_target	 t_plain;	/* no hang avoidance */
	char			 host[256], port[16];
	const char		*out;
	const char		*restart_cmd, *exec_cmd;
	char			*auth_user, *auth_pass;	/* --auth */
	long			 watch_pid;
	pid_t			 child;
	char			 logpath[4096];
	off_t			 logseen;
	struct {
		double	at;
		char	why[200];
	}			 deaths[FZ_MAX_DEATHS];	/* target_died */
	size_t			 ndeaths;
	uint64_t		 seed, max_iter;
	double			 duration, start;
	int			 jobs;
	double			 lat_factor;

	pthread_mutex_t		 mu;
	struct fz_graph		*g;
	struct qent		*q[FZ_MAX_QUEUE];
	size_t			 nq, qsaved, nseeds, calibrated;
	size_t			 det_first, det_seed, det_k;	/* det.c */
	unsigned		 det_stage;
	char			*dict[FZ_MAX_DICT];
	size_t			 ndict;
	char			 seen[FZ_MAX_SEEN][FZ_KEY_LEN + 64];
	size_t			 nseen;
	uint64_t		 execs, execs_before, lat_sum, lat_n;
	size_t			 nfindings, flaky, policy;
	char			 summary[FZ_MAX_FINDINGS][160];
	struct {
		char	state[FZ_KEY_LEN];
		char	verb[16];
	}			 hangs[FZ_MAX_HANGS];
	size_t			 nhangs;
	int			 fatal;
};

static volatile sig_atomic_t	stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static int
done(struct fuzzer *f)
{
	return (stop || f->fatal || (f->max_iter > 0 &&
	    f->execs >= f->max_iter) || (f->duration > 0 &&
	    now() - f->start >= f->duration));
}

/* ------------------------------------------------------------ queue */

/* Called with mu held (or before the workers start). */
static int
queue_add(struct fuzzer *f, struct fz_session *s, const struct fz_result *res,
    int save)
{
	struct qent	*e;
	char		 path[4200];

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return (-1);
	if (f->nq >= FZ_MAX_QUEUE) {
		/* Full: the entry of least weight (most common states) goes. */
		size_t lo = 0;
		for (size_t i = 1; i < f->nq; i++)
			if (f->q[i]->w < f->q[lo]->w)
				lo = i;
		fz_session_clear(&f->q[lo]->s);
		free(f->q[lo]);
		f->q[lo] = f->q[--f->nq];
	}
	e->s = *s;		/* takes the steps' memory */
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; res != NULL && i < res->npath; i++)
		e->h[e->nh++] = fz_hash(res->path[i]);
	e->w = 1.0;
	f->q[f->nq++] = e;
	if (save) {
		snprintf(path, sizeof(path), "%s/queue/%06zu.script", f->out,
		    f->qsaved++);
		(void)fz_session_save(&e->s, path);
	}
	return (0);
}

static int
seed_add(void *ud, struct fz_session *s)
{
	struct fuzzer	*f = ud;

	if (queue_add(f, s, NULL, 0) != 0)
		return (-1);
	free(s);
	return (0);
}

/* Weighted draw; the weights are refreshed every 64 executions. */
static size_t
queue_pick(struct fuzzer *f, struct fz_rng *r)
{
	double	total = 0.0, x;

	/* One draw in eight goes to a seed: they never fade away. */
	if (f->nseeds > 0 && fz_below(r, 8) == 0)
		return (fz_below(r, f->nseeds < f->nq ? f->nseeds : f->nq));

	if (f->execs % 64 == 0)
		for (size_t i = 0; i < f->nq; i++)
			f->q[i]->w = 0.05 + fz_graph_weight(f->g, f->q[i]->h,
			    f->q[i]->nh);
	for (size_t i = 0; i < f->nq; i++)
		total += f->q[i]->w;
	x = (double)(fz_rand(r) >> 11) / 9007199254740992.0 * total;
	for (size_t i = 0; i < f->nq; i++) {
		if (x < f->q[i]->w)
			return (i);
		x -= f->q[i]->w;
	}
	return (f->nq - 1);
}

/* ----------------------------------------------------------- target */

static int
spawn_target(struct fuzzer *f)
{
	pid_t	pid = fork();

	if (pid < 0)
		return (-1);
	if (pid == 0) {
		FILE *log = fopen(f->logpath, "a");
		if (log != NULL)
			(void)dup2(fileno(log), 2);
		execl("/bin/sh", "sh", "-c", f->exec_cmd, (char *)NULL);
		_exit(127);
	}
	f->child = pid;
	return (0);
}

/* Wait (bounded) until the target accepts connections again. */
static int
await_target(struct fuzzer *f, double secs)
{
	double	end = now() + secs;

	while (now() < end && !stop) {
		if (fz_reachable(&f->t))
			return (1);
		usleep(50000);
	}
	return (0);
}

/*
 * Deaths read from the target's log: a forking server's master logs
 * its children's deaths (Postfix: "process ... pid N killed by signal
 * 11"), sanitizers write their reports.  Each is claimed by one case
 * that saw its connection end (with -j N two cases may end at once,
 * and each must get its own death); unclaimed ones expire, so that a
 * death is never taken for a later, unrelated close.
 */
#define FZ_DEATH_TTL	2.0	/* seconds a death may be claimed */

static const char *const death_marks[] = {
	"killed by signal", "ERROR: AddressSanitizer", "runtime error:",
	"ERROR: LeakSanitizer"
};

static void
death_add(struct fuzzer *f, const char *line)
{
	for (size_t i = 0; i < sizeof(death_marks) / sizeof(death_marks[0]);
	    i++) {
		if (strstr(line, death_marks[i]) == NULL)
			continue;
		if (f->ndeaths < FZ_MAX_DEATHS) {
			f->deaths[f->ndeaths].at = now();
			snprintf(f->deaths[f->ndeaths].why,
			    sizeof(f->deaths[0].why), "%s in %.120s",
			    i == 0 ? "a server process was killed by a signal" :
			    "sanitizer report", f->logpath);
			f->ndeaths++;
		}
		return;
	}
}

/* Read the complete lines the log got since the last scan. */
static void
log_scan(struct fuzzer *f)
{
	char	 line[1024];
	FILE	*log;

	if (f->exec_cmd == NULL || (log = fopen(f->logpath, "r")) == NULL)
		return;
	if (fseeko(log, f->logseen, SEEK_SET) == 0)
		while (fgets(line, sizeof(line), log) != NULL) {
			size_t n = strlen(line);
			/* A line being written is read next time (a long
			   line is scanned in pieces). */
			if (line[n - 1] != '\n' && n + 1 < sizeof(line))
				break;
			f->logseen += (off_t)n;
			death_add(f, line);
		}
	fclose(log);
}

/* Claim the oldest unexpired death; 1 with why filled. */
static int
death_claim(struct fuzzer *f, char *why, size_t cap)
{
	while (f->ndeaths > 0 && now() - f->deaths[0].at > FZ_DEATH_TTL) {
		memmove(&f->deaths[0], &f->deaths[1],
		    --f->ndeaths * sizeof(f->deaths[0]));
	}
	if (f->ndeaths == 0)
		return (0);
	snprintf(why, cap, "%s", f->deaths[0].why);
	memmove(&f->deaths[0], &f->deaths[1],
	    --f->ndeaths * sizeof(f->deaths[0]));
	return (1);
}

/*
 * After a case: did the watched process exit, or a server process die
 * (death_add)?  Fills why (a crash reason) and returns 1 if so.  mu
 * held.
 */
static int
target_died(struct fuzzer *f, char *why, size_t cap)
{
	int	status;

	if (f->child > 0 && waitpid(f->child, &status, WNOHANG) == f->child) {
		f->child = 0;
		if (WIFSIGNALED(status))
			snprintf(why, cap, "target killed by signal %d",
			    WTERMSIG(status));
		else
			snprintf(why, cap, "target exited with status %d",
			    WEXITSTATUS(status));
		return (1);
	}
	if (f->watch_pid > 0 && kill((pid_t)f->watch_pid, 0) != 0 &&
	    errno == ESRCH) {
		snprintf(why, cap, "process %ld is gone", f->watch_pid);
		f->watch_pid = 0;
		return (1);
	}
	log_scan(f);
	return (death_claim(f, why, cap));
}

/* Bring the target back after a crash; 0 if it stays down. */
static int
revive(struct fuzzer *f)
{
	if (f->child <= 0 && f->exec_cmd != NULL && spawn_target(f) != 0)
		return (0);
	if (await_target(f, f->exec_cmd != NULL ? 10.0 : 0.5))
		return (1);
	if (f->restart_cmd != NULL) {
		int rc = system(f->restart_cmd);
		(void)rc;
		return (await_target(f, 10.0));
	}
	return (0);
}

/*
 * Run one case and ask the watched process: a death or a sanitizer
 * report during the case makes it a crash, whatever the wire showed.
 */
static void
run_case(struct fuzzer *f, const struct fz_target *t,
    const struct fz_session *s, uint64_t lim, sp_script *rec,
    struct fz_result *res)
{
	char	why[256];
	int	died = 0;

	fz_exec(t, s, lim, rec, res);
	/* Only a case the server hung up on may own a death in the log:
	   with -j N another worker's crash must not be taken for ours. */
	if ((f->exec_cmd == NULL && f->watch_pid <= 0) || (res->connected &&
	    res->oracle != FZ_RFC_CLOSE && res->oracle != FZ_CRASH))
		return;
	/* The master reaps and logs a child a moment after its death. */
	for (int i = 0; i < 6 && !died; i++) {
		pthread_mutex_lock(&f->mu);
		died = target_died(f, why, sizeof(why));
		pthread_mutex_unlock(&f->mu);
		if (died || (res->oracle != FZ_RFC_CLOSE &&
		    res->oracle != FZ_CRASH))
			break;
		usleep(50000);
	}
	if (!died)
		return;
	if (res->oracle == FZ_OK || res->oracle == FZ_RFC_CLOSE ||
	    res->oracle == FZ_CRASH) {
		/* Not connected: the process died before this case. */
		if (res->oracle == FZ_OK) {
			char v[16];
			res->trigger = s->n > 0 ? s->n - 1 : 0;
			snprintf(res->trigger_verb, sizeof(res->trigger_verb),
			    "%s", s->n > 0 ? fz_step_verb(&s->steps[
			    res->trigger], v, sizeof(v)) : "-");
			res->trigger_state = res->npath;
		}
		res->oracle = FZ_CRASH;
		snprintf(res->detail, sizeof(res->detail), "%s", why);
	}
}

/* --------------------------------------------------------- findings */

static void
dedup_key(const struct fz_result *res, char *out, size_t cap)
{
	/* The state the trigger step started from, not the replies it
	   got: those vary with what else a pipelined group held. */
	size_t	k = res->trigger_state < res->npath ? res->trigger_state :
		    res->npath;

	const char *st = k > 0 ? res->path[k - 1] : "-";
	/* Of that state, the command and reply code ("RCPT 250"): the
	   rest (capabilities, depth) tells paths apart, not bugs. */
	const char *sp = strchr(st, ' ');
	int n = sp != NULL && strchr(sp + 1, ' ') != NULL ?
	    (int)(strchr(sp + 1, ' ') - st) : (int)strlen(st);

	snprintf(out, cap, "%s|%.*s|%s", fz_oracle_name(res->oracle), n, st,
	    res->trigger_verb);
}

/* 1 if key was new (and is now recorded).  mu held. */
static int
seen_add(struct fuzzer *f, const char *key)
{
	for (size_t i = 0; i < f->nseen; i++)
		if (strcmp(f->seen[i], key) == 0)
			return (0);
	if (f->nseen < FZ_MAX_SEEN)
		snprintf(f->seen[f->nseen++], sizeof(f->seen[0]), "%s", key);
	return (1);
}

static void
seen_drop(struct fuzzer *f, const char *key)
{
	for (size_t i = 0; i < f->nseen; i++)
		if (strcmp(f->seen[i], key) == 0) {
			memmove(f->seen[i], f->seen[f->nseen - 1],
			    sizeof(f->seen[0]));
			f->nseen--;
			return;
		}
}

/* 1 if verb from state is a known hang.  mu held. */
static int
hang_known(const struct fuzzer *f, const char *state, const char *verb)
{
	for (size_t i = 0; i < f->nhangs; i++)
		if (strcmp(f->hangs[i].verb, verb) == 0 &&
		    strcmp(f->hangs[i].state, state) == 0)
			return (1);
	return (0);
}

/* Known hangs, by full state key and verb (fz_target.avoid). */
static int
avoid_hang(void *ud, const char *state, const char *verb)
{
	struct fuzzer	*f = ud;
	int		 hit;

	pthread_mutex_lock(&f->mu);
	hit = hang_known(f, state, verb);
	pthread_mutex_unlock(&f->mu);
	return (hit);
}

static void
hang_add(struct fuzzer *f, const struct fz_result *res)
{
	size_t		 k = res->trigger_state;
	const char	*st;

	if (res->oracle != FZ_HANG || k == 0 || k > res->npath)
		return;
	st = res->path[k - 1];
	pthread_mutex_lock(&f->mu);
	if (f->nhangs < FZ_MAX_HANGS && !hang_known(f, st, res->trigger_verb)) {
		snprintf(f->hangs[f->nhangs].state, FZ_KEY_LEN, "%s", st);
		snprintf(f->hangs[f->nhangs].verb, 16, "%s",
		    res->trigger_verb);
		f->nhangs++;
	}
	pthread_mutex_unlock(&f->mu);
}

static int
same_bug(const struct fz_result *a, const struct fz_result *b)
{
	return (a->oracle == b->oracle &&
	    strcmp(a->trigger_verb, b->trigger_verb) == 0);
}

/*
 * Delta debugging on steps: drop each step in turn, keep the drop when
 * the same oracle fires on the same verb.  At most 3 passes.
 */
static void
minimise(struct fuzzer *f, struct fz_session *s, const struct fz_result *want)
{
	struct fz_session	*t = calloc(1, sizeof(*t));
	struct fz_result	*res = malloc(sizeof(*res));
	int			 changed = 1;

	/* Steps after the trigger cannot have caused it. */
	while (s->n > want->trigger + 1)
		fz_session_remove(s, s->n - 1);
	for (int pass = 0; pass < 3 && changed && t && res && !stop; pass++) {
		changed = 0;
		for (size_t i = s->n; i-- > 0 && !stop;) {
			if (fz_session_copy(t, s) != 0)
				break;
			fz_session_remove(t, i);
			run_case(f, &f->t_plain, t, 0, NULL, res);
			if (!same_bug(res, want)) {
				fz_session_clear(t);
				if (res->oracle == FZ_CRASH)
					(void)revive(f);
				continue;
			}
			fz_session_clear(s);
			*s = *t;
			memset(t, 0, sizeof(*t));
			changed = 1;
			(void)revive(f);
		}
	}
	free(t);
	free(res);
}

static json_object *
finding_json(const struct fuzzer *f, const struct fz_result *res,
    const char *key, size_t orig_steps, size_t min_steps, int replayed,
    double found_s, const char *script)
{
	json_object	*o = json_object_new_object(), *p;

	json_object_object_add(o, "oracle",
	    json_object_new_string(fz_oracle_name(res->oracle)));
	json_object_object_add(o, "detail", json_object_new_string(res->detail));
	json_object_object_add(o, "trigger_step",
	    json_object_new_int64((int64_t)res->trigger));
	json_object_object_add(o, "trigger_verb",
	    json_object_new_string(res->trigger_verb));
	json_object_object_add(o, "dedup_key", json_object_new_string(key));
	p = json_object_new_array();
	for (size_t i = 0; i < res->npath; i++)
		json_object_array_add(p, json_object_new_string(res->path[i]));
	json_object_object_add(o, "state_path", p);
	json_object_object_add(o, "steps_found",
	    json_object_new_int64((int64_t)orig_steps));
	json_object_object_add(o, "steps_minimised",
	    json_object_new_int64((int64_t)min_steps));
	json_object_object_add(o, "reproduced", json_object_new_boolean(replayed));
	json_object_object_add(o, "seconds", json_object_new_double(found_s));
	json_object_object_add(o, "execs",
	    json_object_new_int64((int64_t)f->execs));
	json_object_object_add(o, "seed", json_object_new_int64((int64_t)f->seed));
	json_object_object_add(o, "target", json_object_new_string(f->host));
	json_object_object_add(o, "script", json_object_new_string(script));
	return (o);
}

/* Record the minimised case as a script; 1 if the bug showed again. */
static int
record(struct fuzzer *f, const struct fz_session *s,
    const struct fz_result *want, struct fz_result *res, sp_script **out)
{
	struct sp_script_meta	 m;
	const char		*tags[] = { "smtp-fuzz",
				    fz_oracle_name(want->oracle) };

	if (sp_script_new(out) != SP_E_OK)
		return (0);
	memset(&m, 0, sizeof(m));
	m.id = fz_oracle_name(want->oracle);
	m.title = want->detail;
	m.tags = tags;
	m.ntags = 2;
	(void)sp_script_set_meta(*out, &m);
	run_case(f, &f->t_plain, s, 0, *out, res);
	return (same_bug(res, want));
}

static void
save_finding(struct fuzzer *f, const struct fz_result *res, const char *key,
    sp_script *sc, size_t orig_steps, size_t min_steps, int replayed,
    double found_s)
{
	char		 base[4200], path[4300], *text = NULL;
	size_t		 id, len = 0;
	json_object	*o;
	FILE		*fp;

	pthread_mutex_lock(&f->mu);
	id = f->nfindings++;
	if (id < FZ_MAX_FINDINGS)
		snprintf(f->summary[id], sizeof(f->summary[0]),
		    "%03zu %-30s %-8s %6.1fs %zu steps %s", id + 1,
		    fz_oracle_name(res->oracle), res->trigger_verb, found_s,
		    min_steps, replayed ? "reproduced" : "NOT reproduced");
	pthread_mutex_unlock(&f->mu);
	snprintf(base, sizeof(base), "%s/findings/%03zu-%s", f->out, id + 1,
	    fz_oracle_name(res->oracle));
	snprintf(path, sizeof(path), "%s.script", base);
	if (sp_script_write(sc, &text, &len) == SP_E_OK &&
	    (fp = fopen(path, "w")) != NULL) {
		fwrite(text, 1, len, fp);
		fclose(fp);
	}
	free(text);
	o = finding_json(f, res, key, orig_steps, min_steps, replayed,
	    found_s, path);
	snprintf(path, sizeof(path), "%s.json", base);
	(void)json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY);
	json_object_put(o);
	fprintf(stderr, "\nsmtp-fuzz: finding %zu: %s after %s (%s), %.1f s, "
	    "%zu steps: %s.script\n", id + 1, fz_oracle_name(res->oracle),
	    res->trigger_verb, res->detail, found_s, min_steps, base);
}

/*
 * A server may close on purpose (too many errors, a limit): then it
 * closes after the steps before the trigger too, trigger or not.  A
 * crash is a close the trigger step caused.
 */
static int
policy_close(struct fuzzer *f, const struct fz_session *s,
    const struct fz_result *first)
{
	struct fz_session	*p = calloc(1, sizeof(*p));
	struct fz_result	*res = malloc(sizeof(*res));
	struct fz_target	 t = f->t;
	int			 closed = 0;

	if (p != NULL && res != NULL && fz_session_copy(p, s) == 0) {
		while (p->n > first->trigger)
			fz_session_remove(p, p->n - 1);
		t.linger_ms = 2 * t.quiet_ms;
		run_case(f, &t, p, 0, NULL, res);
		closed = res->oracle == FZ_CRASH ||
		    res->oracle == FZ_RFC_CLOSE || res->peer_closed;
		fz_session_clear(p);
	}
	free(p);
	free(res);
	return (closed);
}

/*
 * Run the case again: 1 if the same bug shows (and is not a close the
 * server makes by policy), else the finding is dropped.
 */
static int
recheck(struct fuzzer *f, const struct fz_session *s,
    const struct fz_result *first, const char *key, struct fz_result *res)
{
	if (first->oracle == FZ_CRASH)
		(void)revive(f);
	run_case(f, &f->t_plain, s, 0, NULL, res);
	if (!same_bug(res, first)) {
		if (getenv("SMTP_FUZZ_DEBUG") != NULL)
			fprintf(stderr, "not confirmed: %s after %s (%s); the "
			    "recheck gave %s after %s\n",
			    fz_oracle_name(first->oracle), first->trigger_verb,
			    first->detail, fz_oracle_name(res->oracle),
			    res->trigger_verb);
		pthread_mutex_lock(&f->mu);
		seen_drop(f, key);
		f->flaky++;
		pthread_mutex_unlock(&f->mu);
		return (0);
	}
	hang_add(f, res);
	(void)revive(f);
	if ((first->oracle == FZ_CRASH || first->oracle == FZ_RFC_CLOSE) &&
	    policy_close(f, s, first)) {
		pthread_mutex_lock(&f->mu);
		f->policy++;
		pthread_mutex_unlock(&f->mu);
		return (0);
	}
	return (1);
}

/*
 * Minimise s and record it as a script; if the minimised case does not
 * hold up, the original is recorded.  1 if the recording showed the
 * bug (res then holds its result).
 */
static int
shrink_record(struct fuzzer *f, struct fz_session *s,
    const struct fz_session *orig, const struct fz_result *first,
    struct fz_result *res, sp_script **sc)
{
	int	ok;

	minimise(f, s, first);
	if (!(ok = record(f, s, first, res, sc))) {
		sp_script_free(*sc);
		*sc = NULL;
		fz_session_clear(s);
		if (fz_session_copy(s, orig) != 0)
			return (0);
		(void)revive(f);
		ok = record(f, s, first, res, sc);
	}
	(void)revive(f);
	return (ok);
}

/* Recheck, minimise, record and save one finding (no lock held). */
static void
report(struct fuzzer *f, const struct fz_session *orig,
    const struct fz_result *first)
{
	struct fz_session	*s = calloc(1, sizeof(*s));
	struct fz_result	*res = malloc(sizeof(*res));
	sp_script		*sc = NULL;
	char			 key[FZ_KEY_LEN + 64], mkey[FZ_KEY_LEN + 64];
	double			 found_s = now() - f->start;
	int			 fresh, ok;

	dedup_key(first, key, sizeof(key));
	pthread_mutex_lock(&f->mu);
	fresh = seen_add(f, key);
	pthread_mutex_unlock(&f->mu);
	if (!fresh)	/* known; a hang from another state is still */
		hang_add(f, first);	/* not worth waiting for again */
	if (!fresh || s == NULL || res == NULL ||
	    fz_session_copy(s, orig) != 0 || !recheck(f, s, first, key, res))
		goto out;
	if ((ok = shrink_record(f, s, orig, first, res, &sc))) {
		/* The minimised case may be one already reported. */
		dedup_key(res, mkey, sizeof(mkey));
		pthread_mutex_lock(&f->mu);
		fresh = strcmp(mkey, key) == 0 || seen_add(f, mkey);
		pthread_mutex_unlock(&f->mu);
	}
	if (fresh && sc != NULL)
		save_finding(f, ok ? res : first, key, sc, orig->n, s->n, ok,
		    found_s);
out:
	sp_script_free(sc);
	if (s != NULL)
		fz_session_clear(s);
	free(s);
	free(res);
}

/* ---------------------------------------------------------- workers */

struct worker {
	struct fuzzer	*f;
	struct fz_rng	 rng;
};

static uint64_t
latency_limit(struct fuzzer *f)
{
	uint64_t	mean, lim;

	if (f->lat_factor <= 0 || f->lat_n < 200)
		return (0);
	mean = f->lat_sum / f->lat_n;
	lim = (uint64_t)((double)mean * f->lat_factor);
	return (lim > 500000000ULL ? lim : 500000000ULL);
}

/*
 * The next deterministic case (det.c): stage by stage over the seeds
 * [det_first, nseeds).  mu held.  Returns 1 with the case in s, 0 when
 * the stage is over for every seed, -1 out of memory.
 */
static int
draw_det(struct fuzzer *f, struct fz_session *s)
{
	while (f->det_stage < FZ_DET_STAGES && f->det_seed < f->nseeds) {
		const struct fz_session *seed = &f->q[f->det_seed]->s;
		if (f->det_k >= fz_det_count(seed, f->det_stage)) {
			f->det_k = 0;
			if (++f->det_seed >= f->nseeds) {
				f->det_seed = f->det_first;
				f->det_stage++;
			}
			continue;
		}
		if (fz_session_copy(s, seed) != 0)
			return (-1);
		int rc = fz_det_apply(s, f->det_stage, f->det_k++);
		if (rc == 0)
			return (1);
		fz_session_clear(s);
		if (rc < 0)
			return (-1);
	}
	return (0);
}

/*
 * The next case into s: each seed as it is (calibration), then the
 * deterministic stage, then random mutations of a queue entry drawn by
 * the rarity of its states, with a donor for splicing.  mu held.
 */
static int
draw_case(struct worker *w, struct fz_session *s)
{
	struct fuzzer	*f = w->f;
	int		 rc;

	if (f->calibrated < f->nseeds)
		return (fz_session_copy(s, &f->q[f->calibrated++]->s));
	if ((rc = draw_det(f, s)) != 0)
		return (rc > 0 ? 0 : -1);
	size_t i = queue_pick(f, &w->rng);
	size_t d = fz_below(&w->rng, f->nq);
	if (fz_session_copy(s, &f->q[i]->s) != 0)
		return (-1);
	fz_mutate(&w->rng, s, &f->q[d]->s, (const char *const *)f->dict,
	    f->ndict);
	return (0);
}

/* What the case taught: states, transitions, a new queue entry. */
static void
learn(struct fuzzer *f, const struct fz_session *s,
    const struct fz_result *res)
{
	struct fz_session	*keep;

	pthread_mutex_lock(&f->mu);
	f->execs++;
	if (res->max_latency_ns > 0) {
		f->lat_sum += res->max_latency_ns;
		f->lat_n++;
	}
	if (fz_graph_add(f->g, res) > 0 && (res->oracle == FZ_OK ||
	    fz_soft(res->oracle)) &&
	    (keep = calloc(1, sizeof(*keep))) != NULL) {
		if (fz_session_copy(keep, s) != 0 ||
		    queue_add(f, keep, res, 1) != 0)
			fz_session_clear(keep);
		free(keep);
	}
	pthread_mutex_unlock(&f->mu);
}

/* One test case: draw, mutate, run, learn, judge. */
static void
fuzz_one(struct worker *w, struct fz_session *s, struct fz_result *res)
{
	struct fuzzer	*f = w->f;
	uint64_t	 lim;
	int		 rc;

	pthread_mutex_lock(&f->mu);
	rc = draw_case(w, s);
	lim = latency_limit(f);
	pthread_mutex_unlock(&f->mu);
	if (rc != 0)
		goto out;
	double t0 = now();
	run_case(f, &f->t, s, lim, NULL, res);
	if (getenv("SMTP_FUZZ_DEBUG") != NULL)
		fprintf(stderr, "exec %.3fs steps %zu states %zu oracle %s "
		    "%s\n", now() - t0, s->n, res->npath,
		    fz_oracle_name(res->oracle), res->detail);
	learn(f, s, res);
	if (res->oracle != FZ_OK)
		report(f, s, res);
	/* A stop cuts revive()'s wait short: the target is not lost. */
	if ((!res->connected || res->oracle == FZ_CRASH) && !revive(f) &&
	    !stop) {
		fprintf(stderr, "\nsmtp-fuzz: %s:%s is unreachable and cannot "
		    "be restarted; stopping\n", f->host, f->port);
		f->fatal = 1;
	}
out:
	fz_session_clear(s);
}

static void *
worker_main(void *arg)
{
	struct worker		*w = arg;
	struct fz_session	*s = calloc(1, sizeof(*s));
	struct fz_result	*res = malloc(sizeof(*res));

	while (s != NULL && res != NULL && !done(w->f))
		fuzz_one(w, s, res);
	free(s);
	free(res);
	return (NULL);
}

static void
status_line(struct fuzzer *f, int final)
{
	double	el = now() - f->start;

	pthread_mutex_lock(&f->mu);
	fprintf(stderr, "%s%.0fs execs %llu (%.1f/s) states %zu "
	    "transitions %zu queue %zu findings %zu%s", final ? "" : "\r",
	    el, (unsigned long long)f->execs,
	    el > 0 ? (double)(f->execs - f->execs_before) / el : 0.0,
	    fz_graph_nstates(f->g), fz_graph_nedges(f->g), f->nq,
	    f->nfindings, final ? "\n" : "   ");
	pthread_mutex_unlock(&f->mu);
}

static void
save_state(struct fuzzer *f)
{
	char		 dot[4200], js[4200];
	json_object	*o;

	snprintf(dot, sizeof(dot), "%s/graph.dot", f->out);
	snprintf(js, sizeof(js), "%s/graph.json", f->out);
	pthread_mutex_lock(&f->mu);
	(void)fz_graph_write(f->g, dot, js);
	o = json_object_new_object();
	json_object_object_add(o, "execs", json_object_new_int64(
	    (int64_t)f->execs));
	json_object_object_add(o, "seconds",
	    json_object_new_double(now() - f->start));
	json_object_object_add(o, "execs_per_s", json_object_new_double(
	    (double)(f->execs - f->execs_before) /
	    fmax(now() - f->start, 1e-3)));
	json_object_object_add(o, "states",
	    json_object_new_int64((int64_t)fz_graph_nstates(f->g)));
	json_object_object_add(o, "transitions",
	    json_object_new_int64((int64_t)fz_graph_nedges(f->g)));
	json_object_object_add(o, "queue",
	    json_object_new_int64((int64_t)f->nq));
	json_object_object_add(o, "findings",
	    json_object_new_int64((int64_t)f->nfindings));
	json_object_object_add(o, "flaky",
	    json_object_new_int64((int64_t)f->flaky));
	json_object_object_add(o, "seed", json_object_new_int64(
	    (int64_t)f->seed));
	snprintf(js, sizeof(js), "%s/stats.json", f->out);
	(void)json_object_to_file_ext(js, o, JSON_C_TO_STRING_PRETTY);
	json_object_put(o);
	pthread_mutex_unlock(&f->mu);
}

/* ----------------------------------------------------------- resume */

/* The findings already saved: counted, and their keys not reported again. */
static void
resume_findings(struct fuzzer *f)
{
	char		 path[4400];
	struct dirent	*de;
	DIR		*d;
	json_object	*o, *v;

	snprintf(path, sizeof(path), "%s/findings", f->out);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/findings/%s", f->out,
		    de->d_name);
		if ((o = json_object_from_file(path)) == NULL)
			continue;
		if (json_object_object_get_ex(o, "dedup_key", &v))
			(void)seen_add(f, json_object_get_string(v));
		json_object_put(o);
		f->nfindings++;
	}
	closedir(d);
}

/* The saved queue back as seeds; how many entries were taken. */
static int
resume_queue(struct fuzzer *f)
{
	char		 path[4400];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/queue", f->out);
	if ((d = opendir(path)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL && f->nq < FZ_MAX_QUEUE) {
		if (strstr(de->d_name, ".script") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/queue/%s", f->out,
		    de->d_name);
		if (fz_seeds_from_file(path, seed_add, f) > 0)
			n++;
		f->qsaved++;
	}
	closedir(d);
	return (n);
}

/* A previous run's output folder: graph, counters, findings, queue. */
static void
resume(struct fuzzer *f)
{
	char		 path[4400];
	json_object	*o, *v;
	int		 n;

	snprintf(path, sizeof(path), "%s/graph.json", f->out);
	(void)fz_graph_load(f->g, path);
	snprintf(path, sizeof(path), "%s/stats.json", f->out);
	if ((o = json_object_from_file(path)) != NULL) {
		if (json_object_object_get_ex(o, "execs", &v))
			f->execs = f->execs_before =
			    (uint64_t)json_object_get_int64(v);
		json_object_put(o);
	}
	resume_findings(f);
	if ((n = resume_queue(f)) > 0)
		fprintf(stderr, "smtp-fuzz: resumed %d queue entries, %zu "
		    "states, %zu findings from %s\n", n,
		    fz_graph_nstates(f->g), f->nfindings, f->out);
}

/* ---------------------------------------------------------- options */

static int
usage_to(FILE *out, int status)
{
	fprintf(out, "usage: smtp-fuzz --target HOST:PORT --out DIR "
	    "[--seeds FILE]... [--duration S | --iterations N]\n"
	    "                 [--seed N] [-j N] [--timeout MS] [--quiet MS] "
	    "[--dict FILE]\n"
	    "                 [--auth USER:PASS] [--ca FILE] "
	    "[--latency-factor F] [--restart-cmd CMD]\n"
	    "                 [--exec CMD | --pid PID]\n"
	    "Sends only to --target; see man smtp-fuzz.\n");
	return (status);
}

static int
usage(void)
{
	return (usage_to(stderr, 2));
}

/* --help and -h anywhere ask for the usage on stdout and exit 0. */
static int
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return (1);
	return (0);
}

static int
parse_target(struct fuzzer *f, const char *arg)
{
	const char	*colon = strrchr(arg, ':');
	size_t		 hl;

	if (colon == NULL || colon[1] == '\0')
		return (-1);
	hl = (size_t)(colon - arg);
	if (hl > 1 && arg[0] == '[' && arg[hl - 1] == ']') {
		arg++;		/* [::1]:25 */
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(f->host) || strlen(colon + 1) >=
	    sizeof(f->port))
		return (-1);
	memcpy(f->host, arg, hl);
	f->host[hl] = '\0';
	snprintf(f->port, sizeof(f->port), "%s", colon + 1);
	return (0);
}

/* --auth USER:PASS: the credentials the AUTH seeds log in with. */
static int
parse_auth(struct fuzzer *f, const char *arg)
{
	const char	*colon = strchr(arg, ':');

	if (colon == NULL || colon == arg || strlen(arg) > 255)
		return (-1);
	free(f->auth_user);
	free(f->auth_pass);
	f->auth_user = strndup(arg, (size_t)(colon - arg));
	f->auth_pass = strdup(colon + 1);
	return (f->auth_user != NULL && f->auth_pass != NULL ? 0 : -1);
}

static int
load_dict(struct fuzzer *f, const char *path)
{
	FILE	*fp = fopen(path, "r");
	char	 line[1024];

	if (fp == NULL)
		return (-1);
	while (f->ndict < FZ_MAX_DICT && fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((f->dict[f->ndict] = strdup(line)) != NULL)
			f->ndict++;
	}
	fclose(fp);
	return (0);
}

static int
number(const char *s, double lo, double hi, double *out)
{
	char	*end;

	errno = 0;
	*out = strtod(s, &end);
	return (end == s || *end != '\0' || errno != 0 || *out < lo ||
	    *out > hi ? -1 : 0);
}

static int
mkdirs(const char *out)
{
	char	p[4200];

	if (mkdir(out, 0755) != 0 && errno != EEXIST)
		return (-1);
	snprintf(p, sizeof(p), "%s/queue", out);
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		return (-1);
	snprintf(p, sizeof(p), "%s/findings", out);
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		return (-1);
	return (0);
}

enum {
	O_TARGET = 256, O_SEEDS, O_OUT, O_DURATION, O_ITER, O_SEED, O_TIMEOUT,
	O_QUIET, O_DICT, O_RESTART, O_EXEC, O_PID, O_LAT, O_AUTH, O_CA
};

static const struct option longopts[] = {
	{ "target", required_argument, NULL, O_TARGET },
	{ "seeds", required_argument, NULL, O_SEEDS },
	{ "out", required_argument, NULL, O_OUT },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "iterations", required_argument, NULL, O_ITER },
	{ "seed", required_argument, NULL, O_SEED },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "quiet", required_argument, NULL, O_QUIET },
	{ "dict", required_argument, NULL, O_DICT },
	{ "restart-cmd", required_argument, NULL, O_RESTART },
	{ "exec", required_argument, NULL, O_EXEC },
	{ "pid", required_argument, NULL, O_PID },
	{ "latency-factor", required_argument, NULL, O_LAT },
	{ "auth", required_argument, NULL, O_AUTH },
	{ "ca", required_argument, NULL, O_CA },
	{ NULL, 0, NULL, 0 }
};

/* Options that only set numbers; -1 on a bad value. */
static int
option(struct fuzzer *f, int c, const char *arg)
{
	double	v;

	switch (c) {
	case 'j':
		if (number(arg, 1, FZ_MAX_WORKERS, &v) != 0)
			return (-1);
		f->jobs = (int)v;
		return (0);
	case O_DURATION:
		return (number(arg, 0.1, 1e7, &f->duration));
	case O_ITER:
		if (number(arg, 1, 1e15, &v) != 0)
			return (-1);
		f->max_iter = (uint64_t)v;
		return (0);
	case O_SEED:
		if (number(arg, 0, 1e15, &v) != 0)
			return (-1);
		f->seed = (uint64_t)v;
		return (0);
	case O_TIMEOUT:
	case O_QUIET:
		if (number(arg, 10, 600000, &v) != 0)
			return (-1);
		*(c == O_TIMEOUT ? &f->t.timeout_ms : &f->t.quiet_ms) =
		    (unsigned)v;
		return (0);
	case O_PID:
		if (number(arg, 1, 4194304, &v) != 0)
			return (-1);
		f->watch_pid = (long)v;
		return (0);
	case O_LAT:
		return (number(arg, 0, 1e6, &f->lat_factor));
	}
	return (-1);
}

/* Options that take text; -1 on a bad one. */
static int
option_text(struct fuzzer *f, int c, const char *arg)
{
	switch (c) {
	case O_TARGET:
		return (parse_target(f, arg));
	case O_OUT:
		f->out = arg;
		return (0);
	case O_DICT:
		if (load_dict(f, arg) != 0) {
			fprintf(stderr, "smtp-fuzz: %s: %s\n", arg,
			    strerror(errno));
			return (-1);
		}
		return (0);
	case O_RESTART:
		f->restart_cmd = arg;
		return (0);
	case O_EXEC:
		f->exec_cmd = arg;
		return (0);
	case O_AUTH:
		return (parse_auth(f, arg));
	case O_CA:
		f->t.ca_file = arg;
		return (0);
	}
	return (option(f, c, arg));
}

static int
parse_args(struct fuzzer *f, int argc, char **argv, const char **seeds,
    size_t *nseeds)
{
	int	c;

	while ((c = getopt_long(argc, argv, "j:", longopts, NULL)) != -1) {
		if (c == O_SEEDS && *nseeds < 256)
			seeds[(*nseeds)++] = optarg;
		else if (c != O_SEEDS && option_text(f, c, optarg) != 0)
			return (-1);
	}
	if (optind != argc || f->host[0] == '\0' || f->out == NULL ||
	    (f->exec_cmd != NULL && f->watch_pid > 0))
		return (-1);
	return (0);
}

static void
summary(struct fuzzer *f)
{
	double	el = now() - f->start;

	status_line(f, 1);
	printf("smtp-fuzz summary: target %s:%s, %.1f s, %llu execs, "
	    "%.1f execs/s, %zu states, %zu transitions, queue %zu, "
	    "%zu findings (%zu not confirmed on recheck, %zu closes by server "
	    "policy)\n", f->host, f->port,
	    el, (unsigned long long)(f->execs - f->execs_before),
	    (double)(f->execs - f->execs_before) / fmax(el, 1e-3),
	    fz_graph_nstates(f->g), fz_graph_nedges(f->g), f->nq,
	    f->nfindings, f->flaky, f->policy);
	for (size_t i = 0; i < f->nfindings && i < FZ_MAX_FINDINGS; i++)
		if (f->summary[i][0] != '\0')
			printf("  %s\n", f->summary[i]);
	fflush(stdout);
}

/* Resumed queue, seed files, built-in seeds; 0, or -1 with none. */
static int
load_seeds(struct fuzzer *f, const char **seeds, size_t nseeds)
{
	struct fz_session	*builtin;
	size_t			 nb;

	resume(f);
	f->det_first = f->det_seed = f->nq;
	for (size_t i = 0; i < nseeds; i++)
		if (fz_seeds_from_file(seeds[i], seed_add, f) <= 0)
			fprintf(stderr, "smtp-fuzz: %s: no seed taken\n",
			    seeds[i]);
	nb = fz_builtin_seeds(&builtin, f->auth_user, f->auth_pass);
	for (size_t i = 0; i < nb; i++)
		(void)queue_add(f, &builtin[i], NULL, 0);
	free(builtin);
	f->nseeds = f->nq;
	return (f->nq > 0 ? 0 : -1);
}

/* Start the workers, show the status, save the state every 10 s. */
static int
campaign(struct fuzzer *f)
{
	struct worker	w[FZ_MAX_WORKERS];
	pthread_t	th[FZ_MAX_WORKERS];
	double		last_save;
	int		n;

	f->start = now();
	for (n = 0; n < f->jobs; n++) {
		w[n].f = f;
		w[n].rng.s = f->seed * (uint64_t)0x9e3779b97f4a7c15ULL +
		    (uint64_t)n;
		if (pthread_create(&th[n], NULL, worker_main, &w[n]) != 0) {
			f->fatal = 1;
			break;
		}
	}
	last_save = now();
	while (!done(f)) {
		usleep(100000);
		if (isatty(2))
			status_line(f, 0);
		if (now() - last_save > 10) {
			save_state(f);
			last_save = now();
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return (f->fatal ? -1 : 0);
}

static void
defaults(struct fuzzer *f)
{
	f->jobs = 1;
	f->seed = 1;
	f->lat_factor = 50;
	f->t.timeout_ms = 2000;
	f->t.quiet_ms = 200;
}

/* The two targets: with hang avoidance (fuzzing) and without. */
static void
targets(struct fuzzer *f)
{
	f->t.host = f->host;
	f->t.port = f->port;
	f->t.avoid = avoid_hang;
	f->t.avoid_ud = f;
	f->t.probe_eod = 1;
	f->t_plain = f->t;
	f->t_plain.avoid = NULL;
	f->t_plain.probe_eod = 0;
	if (f->duration <= 0 && f->max_iter == 0)
		f->duration = 60;
}

/* Targets, output folders, graph, signals. */
static int
setup(struct fuzzer *f)
{
	struct stat	st;

	targets(f);
	if (mkdirs(f->out) != 0 || (f->g = fz_graph_new()) == NULL) {
		fprintf(stderr, "smtp-fuzz: %s: %s\n", f->out, strerror(errno));
		return (-1);
	}
	pthread_mutex_init(&f->mu, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	snprintf(f->logpath, sizeof(f->logpath), "%s/target.log", f->out);
	/* A resumed run's log: what is there is an earlier run's. */
	if (stat(f->logpath, &st) == 0)
		f->logseen = st.st_size;
	return (0);
}

int
main(int argc, char **argv)
{
	static struct fuzzer	 F;
	struct fuzzer		*f = &F;
	const char		*seeds[256];
	size_t			 nseeds = 0;
	int			 rc;

	defaults(f);
	if (wants_help(argc, argv))
		return (usage_to(stdout, 0));
	if (parse_args(f, argc, argv, seeds, &nseeds) != 0)
		return (usage());
	if (setup(f) != 0)
		return (1);
	if (f->exec_cmd != NULL && (spawn_target(f) != 0 ||
	    !await_target(f, 10.0))) {
		fprintf(stderr, "smtp-fuzz: --exec target did not come up\n");
		return (1);
	}
	if (load_seeds(f, seeds, nseeds) != 0 || !fz_reachable(&f->t)) {
		fprintf(stderr, "smtp-fuzz: %s\n", f->nq == 0 ? "no seeds" :
		    "the target is unreachable");
		rc = 1;
	} else {
		rc = campaign(f) == 0 ? 0 : 1;
		save_state(f);
		summary(f);
	}
	if (f->child > 0) {
		kill(f->child, SIGTERM);
		waitpid(f->child, NULL, 0);
	}
	return (rc);
}
