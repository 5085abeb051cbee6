/*
 * capture.c - browsing captures: :open decodes a pcap through the
 * library (capture -> analyzer -> the session record builder that
 * smtp-decode uses, with the dialogue kept), :sessions lists the
 * records, :show prints one, :filter narrows the list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <smtpproto/capture.h>
#include <smtpproto/analyzer.h>

#include "record.h"
#include "shell.h"

/* Sessions kept from one capture; more are counted, not kept. */
#define CAPTURE_MAX_SESSIONS	100000

struct capture_set {
	char		*path;
	json_object	*all;		/* array of session records */
	size_t		 dropped;	/* over CAPTURE_MAX_SESSIONS */
	/* :filter; "" matches everything. */
	char		 from[256], to[256], anomaly[64];
	int		 cls;		/* reply class 2..5, 0: any */
};

void
capture_free(struct capture_set *cs)
{
	if (cs == NULL)
		return;
	json_object_put(cs->all);
	free(cs->path);
	free(cs);
}

static void
keep_record(void *ud, const struct jv *rec)
{
	struct capture_set *cs = ud;
	json_object	   *j;

	if (json_object_array_length(cs->all) >= CAPTURE_MAX_SESSIONS) {
		cs->dropped++;
		return;
	}
	if ((j = jv_to_json(rec)) != NULL)
		json_object_array_add(cs->all, j);
}

/* Every packet through the analyzer; Ctrl-C stops at the next one. */
static sp_err
decode(sp_capture *cap, sp_analyzer *an, volatile sig_atomic_t *cancel)
{
	struct sp_packet	pkt;
	sp_err			e;

	for (;;) {
		if (*cancel) {
			printf("^C: decoding stopped; the sessions so far are "
			    "kept\n");
			*cancel = 0;
			e = SP_E_EOF;
			break;
		}
		e = sp_capture_next(cap, &pkt);
		if (e == SP_E_AGAIN)
			continue;
		if (e != SP_E_OK)
			break;
		if ((e = sp_analyzer_packet(an, &pkt)) != SP_E_OK)
			return (e);
	}
	if (e != SP_E_EOF)
		printf("** %s\n", sp_capture_error(cap));
	return (sp_analyzer_finish(an));
}

int
capture_open(struct repl *r, const char *path)
{
	struct record_opts		 ro = { .dialogue = 1 };
	struct sp_analyzer_options	 ao;
	struct sp_limits		 lim;
	struct capture_set		*cs;
	struct recorder			*rec = NULL;
	sp_capture			*cap = NULL;
	sp_analyzer			*an = NULL;
	char				 err[512] = "";
	sp_err				 e;

	cs = calloc(1, sizeof(*cs));
	if (cs == NULL || (cs->all = json_object_new_array()) == NULL ||
	    (cs->path = strdup(path)) == NULL) {
		capture_free(cs);
		return (-1);
	}
	sp_limits_default(&lim);
	sp_analyzer_options_default(&ao);
	e = sp_capture_open_file(&cap, path, NULL, &lim, err, sizeof(err));
	if (e == SP_E_OK) {
		rec = recorder_new(&ro, keep_record, NULL, cs);
		e = rec == NULL ? SP_E_NOMEM :
		    sp_analyzer_new(&an, &lim, &ao, recorder_event, rec);
	}
	if (e == SP_E_OK)
		e = decode(cap, an, &r->cancel);
	sp_analyzer_free(an);
	recorder_free(rec);
	sp_capture_free(cap);
	if (e != SP_E_OK) {
		printf("** %s: %s\n", path, err[0] ? err : sp_strerror(e));
		capture_free(cs);
		return (-1);
	}
	capture_free(r->caps);
	r->caps = cs;
	printf("%s: %zu SMTP session(s); :sessions lists them\n", path,
	    json_object_array_length(cs->all));
	if (cs->dropped > 0)
		printf("** %zu more session(s) not kept (limit %u)\n",
		    cs->dropped, CAPTURE_MAX_SESSIONS);
	return (0);
}

static const char *
str(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return (NULL);
	return (json_object_get_string(v));
}

static json_object *
obj(json_object *o, const char *key)
{
	json_object *v;

	return (o != NULL && json_object_object_get_ex(o, key, &v) ? v :
	    NULL);
}

static int
code_of(json_object *reply)
{
	json_object *c = obj(reply, "code");

	return (c != NULL ? json_object_get_int(c) : 0);
}

/* Case-insensitive substring (addresses compare so, mostly). */
static int
contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return (1);
	return (n == 0);
}

/* Does any transaction match the filter's sender/recipient/class? */
static int
tx_match(const struct capture_set *cs, json_object *tx)
{
	json_object	*rc = obj(tx, "rcpt_to");
	const char	*from = str(obj(tx, "mail_from"), "address");
	size_t		 i;
	int		 to_ok = cs->to[0] == '\0';

	if (cs->from[0] != '\0' && (from == NULL ||
	    !contains(from, cs->from)))
		return (0);
	for (i = 0; !to_ok && rc != NULL && i <
	    json_object_array_length(rc); i++) {
		const char *a = str(json_object_array_get_idx(rc, i),
		    "address");

		to_ok = a != NULL && contains(a, cs->to);
	}
	return (to_ok);
}

static int
class_seen(json_object *rec, int cls)
{
	json_object	*d = obj(rec, "dialogue");
	size_t		 i;

	for (i = 0; d != NULL && i < json_object_array_length(d); i++) {
		json_object *it = json_object_array_get_idx(d, i);

		if (code_of(it) / 100 == cls)
			return (1);
	}
	return (code_of(obj(rec, "greeting")) / 100 == cls);
}

static int
anomaly_seen(json_object *rec, const char *name)
{
	json_object	*a = obj(rec, "anomalies");
	size_t		 i;

	for (i = 0; a != NULL && i < json_object_array_length(a); i++) {
		const char *n = str(json_object_array_get_idx(a, i), "name");

		if (n != NULL && strstr(n, name) != NULL)
			return (1);
	}
	return (0);
}

static int
matches(const struct capture_set *cs, json_object *rec)
{
	json_object	*txs = obj(rec, "transactions");
	size_t		 i;
	int		 tx_ok = cs->from[0] == '\0' && cs->to[0] == '\0';

	for (i = 0; !tx_ok && txs != NULL && i <
	    json_object_array_length(txs); i++)
		tx_ok = tx_match(cs, json_object_array_get_idx(txs, i));
	if (!tx_ok)
		return (0);
	if (cs->cls != 0 && !class_seen(rec, cs->cls))
		return (0);
	return (cs->anomaly[0] == '\0' || anomaly_seen(rec, cs->anomaly));
}

static void
endpoint(char *out, size_t cap, json_object *ep)
{
	const char *ip = str(ep, "ip");

	snprintf(out, cap, strchr(ip ? ip : "", ':') ? "[%s]:%s" : "%s:%s",
	    ip ? ip : "?", str(ep, "port") ? str(ep, "port") : "?");
}

/* The outcome of the session: each transaction's, or the last reply. */
static void
outcome(char *out, size_t cap, json_object *rec)
{
	json_object	*txs = obj(rec, "transactions");
	size_t		 i, n = txs ? json_object_array_length(txs) : 0;
	size_t		 len = 0;

	out[0] = '\0';
	for (i = 0; i < n && len < cap; i++) {
		const char *o = str(json_object_array_get_idx(txs, i),
		    "outcome");
		int k = snprintf(out + len, cap - len, "%s%s", i ? "," : "",
		    o ? o : "unknown");

		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (n == 0)
		snprintf(out, cap, "no mail");
}

/* Recipients of every transaction: the first few, then a count. */
static void
recipients(char *out, size_t cap, json_object *txs, const char **from)
{
	size_t	i, j, n = 0, len = 0;

	out[0] = '\0';
	for (i = 0; txs != NULL && i < json_object_array_length(txs); i++) {
		json_object *tx = json_object_array_get_idx(txs, i);
		json_object *rc = obj(tx, "rcpt_to");

		if (*from == NULL)
			*from = str(obj(tx, "mail_from"), "address");
		for (j = 0; rc != NULL && j < json_object_array_length(rc);
		    j++, n++) {
			const char *a = str(json_object_array_get_idx(rc, j),
			    "address");
			int k;

			if (n >= 3 || len >= cap)
				continue;
			k = snprintf(out + len, cap - len, "%s<%s>",
			    n ? "," : "", a ? a : "");
			len += k > 0 ? (size_t)k : 0;
		}
	}
	if (n > 3 && len < cap)
		snprintf(out + len, cap - len, ",+%zu", n - 3);
}

static void
list_one(size_t idx, json_object *rec)
{
	json_object	*flow = obj(rec, "flow"), *an;
	char		 cli[80], srv[80], when[32] = "?", oc[128], rc[400];
	time_t		 t = (time_t)json_object_get_double(obj(rec, "ts"));
	const char	*from = NULL;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", gmtime(&t));
	endpoint(cli, sizeof(cli), obj(flow, "client"));
	endpoint(srv, sizeof(srv), obj(flow, "server"));
	recipients(rc, sizeof(rc), obj(rec, "transactions"), &from);
	outcome(oc, sizeof(oc), rec);
	an = obj(rec, "anomalies");
	printf("%3zu  %s  %s -> %s  helo=%s  from=<%s>  to=%s  %s  "
	    "anomalies=%zu\n", idx, when, cli, srv,
	    str(rec, "helo") ? str(rec, "helo") : "-", from ? from : "",
	    rc[0] ? rc : "-", oc, an ? json_object_array_length(an) : 0);
}

int
capture_sessions(struct repl *r, const char *args)
{
	struct capture_set	*cs = r->caps;
	size_t			 i, n, shown = 0;

	(void)args;
	if (cs == NULL) {
		printf("** no capture: :open FILE.pcap\n");
		return (-1);
	}
	n = json_object_array_length(cs->all);
	for (i = 0; i < n; i++) {
		json_object *rec = json_object_array_get_idx(cs->all, i);

		if (!matches(cs, rec))
			continue;
		list_one(i + 1, rec);
		shown++;
	}
	printf("%zu of %zu session(s)\n", shown, n);
	return (0);
}

static json_object *
session_at(struct repl *r, const char *args, const char **rest)
{
	char		*end;
	unsigned long	 n;

	if (r->caps == NULL) {
		printf("** no capture: :open FILE.pcap\n");
		return (NULL);
	}
	n = strtoul(args, &end, 10);
	if (end == args || n == 0 ||
	    n > json_object_array_length(r->caps->all)) {
		printf("** no session %.*s (:sessions lists them)\n",
		    (int)strcspn(args, " "), args);
		return (NULL);
	}
	*rest = end + strspn(end, " \t");
	return (json_object_array_get_idx(r->caps->all, n - 1));
}

static void
show_dialogue(struct repl *r, json_object *rec)
{
	json_object	*d = obj(rec, "dialogue");
	size_t		 i, j;

	for (i = 0; d != NULL && i < json_object_array_length(d); i++) {
		json_object *it = json_object_array_get_idx(d, i);
		json_object *lines = obj(it, "lines");
		const char *type = str(it, "type");

		if (strcmp(str(it, "dir"), "client") == 0) {
			printf("-> %s\n", str(it, "line") ? str(it, "line") :
			    type);
			continue;
		}
		for (j = 0; lines != NULL && j <
		    json_object_array_length(lines); j++)
			printf("%s<- %d%c%s%s\n", shell_color(r, code_of(it)),
			    code_of(it), j + 1 < json_object_array_length(lines)
			    ? '-' : ' ', json_object_get_string(
			    json_object_array_get_idx(lines, j)),
			    shell_reset(r));
		if (lines == NULL)
			printf("<- %s\n", type);
	}
}

/* A header field; a list (To, Cc, Received) one value a line. */
static void
show_header(const char *k, json_object *v)
{
	size_t i;

	if (!json_object_is_type(v, json_type_array)) {
		printf("  %s: %s\n", k, json_object_get_string(v));
		return;
	}
	for (i = 0; i < json_object_array_length(v); i++)
		printf("  %s: %s\n", k,
		    json_object_get_string(json_object_array_get_idx(v, i)));
}

static void
show_message(json_object *rec)
{
	json_object	*txs = obj(rec, "transactions");
	size_t		 i, j;

	for (i = 0; txs != NULL && i < json_object_array_length(txs); i++) {
		json_object *m = obj(json_object_array_get_idx(txs, i),
		    "message");
		json_object *parts = obj(m, "parts");

		if (m == NULL)
			continue;
		printf("transaction %zu: %s bytes, sha256 %s\n", i + 1,
		    str(m, "size"), str(m, "sha256"));
		json_object_object_foreach(obj(m, "headers"), k, v)
			show_header(k, v);
		for (j = 0; parts != NULL &&
		    j < json_object_array_length(parts); j++) {
			json_object *p = json_object_array_get_idx(parts, j);
			json_object *dp = obj(p, "depth");
			int depth = dp ? json_object_get_int(dp) : 0;

			printf("  %*s%s %s %s bytes%s%s\n", depth * 2, "",
			    str(p, "path"), str(p, "content_type"),
			    str(p, "size"), str(p, "filename") ? " file=" : "",
			    str(p, "filename") ? str(p, "filename") : "");
		}
	}
}

int
capture_show(struct repl *r, const char *args)
{
	const char	*rest = "";
	json_object	*rec = session_at(r, args, &rest);
	json_object	*an;
	size_t		 i;

	if (rec == NULL)
		return (-1);
	if (strncmp(rest, "message", 7) == 0) {
		show_message(rec);
		return (0);
	}
	show_dialogue(r, rec);
	an = obj(rec, "anomalies");
	for (i = 0; an != NULL && i < json_object_array_length(an); i++)
		printf("   ! anomaly: %s (%s)\n",
		    str(json_object_array_get_idx(an, i), "name"),
		    str(json_object_array_get_idx(an, i), "dir"));
	return (0);
}

/* from=S to=S class=N anomaly=S, or "off". */
int
capture_filter(struct repl *r, const char *args)
{
	struct capture_set	*cs = r->caps;
	const char		*p = args;

	if (cs == NULL) {
		printf("** no capture: :open FILE.pcap\n");
		return (-1);
	}
	/* Each :filter replaces the last one. */
	cs->from[0] = cs->to[0] = cs->anomaly[0] = '\0';
	cs->cls = 0;
	if (*args == '\0' || strcmp(args, "off") == 0)
		return (capture_sessions(r, ""));
	while (*p != '\0') {
		int n = (int)strcspn(p, " \t");

		if (strncmp(p, "from=", 5) == 0)
			snprintf(cs->from, sizeof(cs->from), "%.*s", n - 5,
			    p + 5);
		else if (strncmp(p, "to=", 3) == 0)
			snprintf(cs->to, sizeof(cs->to), "%.*s", n - 3, p + 3);
		else if (strncmp(p, "anomaly=", 8) == 0)
			snprintf(cs->anomaly, sizeof(cs->anomaly), "%.*s",
			    n - 8, p + 8);
		else if (strncmp(p, "class=", 6) == 0 && p[6] >= '2' &&
		    p[6] <= '5')
			cs->cls = p[6] - '0';
		else {
			printf("** :filter from=S to=S class=2..5 anomaly=S |"
			    " off\n");
			return (-1);
		}
		p += n;
		p += strspn(p, " \t");
	}
	return (capture_sessions(r, ""));
}

/*
 * :replay N: decode the capture again, turning the client side of the
 * N-th session (records come in the order sessions end) into a script
 * with the library's converter, and run it on a new connection.
 */
#define REPLAY_FLOWS	1024

struct replay {
	struct sp_tcp_flow	*flow[REPLAY_FLOWS];
	sp_script_conv		*conv[REPLAY_FLOWS];
	size_t			 ended, want;
	sp_script		*script;
	sp_err			 err;
};

static size_t
replay_slot(struct replay *rp, const struct sp_tcp_flow *f)
{
	size_t i;

	for (i = 0; i < REPLAY_FLOWS; i++)
		if (rp->flow[i] == f)
			return (i);
	return (REPLAY_FLOWS);
}

static int
replay_event(void *ud, const struct sp_event *ev)
{
	struct sp_script_conv_options	 co = { .code_class = 0 };
	struct replay			*rp = ud;
	size_t				 i = replay_slot(rp, ev->flow);

	if (ev->kind == SP_EV_SESSION_BEGIN && i == REPLAY_FLOWS) {
		i = replay_slot(rp, NULL);
		if (i == REPLAY_FLOWS || sp_script_conv_new(&rp->conv[i], &co)
		    != SP_E_OK)
			return (0);	/* too many at once: not replayable */
		rp->flow[i] = ev->flow;
	}
	if (i == REPLAY_FLOWS)
		return (0);
	if (rp->script == NULL && rp->err == SP_E_OK)
		rp->err = sp_script_conv_event(rp->conv[i], ev);
	if (ev->kind != SP_EV_SESSION_END)
		return (0);
	if (++rp->ended == rp->want && rp->err == SP_E_OK)
		rp->err = sp_script_conv_finish(rp->conv[i], &rp->script);
	sp_script_conv_free(rp->conv[i]);
	rp->conv[i] = NULL;
	rp->flow[i] = NULL;
	return (0);
}

static sp_script *
replay_script(const char *path, size_t n, volatile sig_atomic_t *cancel)
{
	struct sp_analyzer_options	 ao;
	struct sp_limits		 lim;
	struct replay			*rp = calloc(1, sizeof(*rp));
	sp_capture			*cap = NULL;
	sp_analyzer			*an = NULL;
	sp_script			*s = NULL;
	char				 err[512] = "";
	size_t				 i;

	if (rp == NULL)
		return (NULL);
	rp->want = n;
	sp_limits_default(&lim);
	sp_analyzer_options_default(&ao);
	ao.show_secrets = 0;
	if (sp_capture_open_file(&cap, path, NULL, &lim, err, sizeof(err)) ==
	    SP_E_OK && sp_analyzer_new(&an, &lim, &ao, replay_event, rp) ==
	    SP_E_OK)
		decode(cap, an, cancel);
	sp_analyzer_free(an);
	sp_capture_free(cap);
	for (i = 0; i < REPLAY_FLOWS; i++)
		sp_script_conv_free(rp->conv[i]);
	if (rp->err != SP_E_OK)
		printf("** converting session %zu: %s\n", n,
		    sp_strerror(rp->err));
	s = rp->script;
	free(rp);
	return (s);
}

static int
replay_run(struct repl *r, sp_script *s, const char *host, const char *port)
{
	struct sp_script_run_options	 ro;
	struct sp_script_report		*rep = NULL;
	sp_client			*c = shell_new_client(r);
	int				 rc = -1;

	memset(&ro, 0, sizeof(ro));
	ro.allow_env = 1;
	ro.default_ms = r->o.timeout_ms;
	ro.on_step = shell_print_step;
	if (c == NULL || sp_client_connect(c, host, port) != SP_E_OK)
		printf("** replay: %s\n", c != NULL ? sp_client_errmsg(c) :
		    "out of memory");
	else if (sp_script_run(s, c, &ro, &rep) == SP_E_OK) {
		printf("replay %s: %zu passed, %zu failed, %zu errors, %zu "
		    "skipped\n", sp_verdict_name(rep->verdict), rep->passed,
		    rep->failed, rep->errors, rep->skipped);
		rc = rep->verdict == SP_VERDICT_PASS ? 0 : -1;
	}
	sp_script_report_free(rep);
	sp_client_free(c);
	return (rc);
}

/* :replay N [HOST:PORT]; without a target, the shell's own. */
int
capture_replay(struct repl *r, const char *args)
{
	const char	*rest = "", *host = r->o.host, *port = r->o.port;
	json_object	*rec = session_at(r, args, &rest);
	char		 target[512];
	sp_script	*s;
	int		 rc;

	if (rec == NULL)
		return (-1);
	if (*rest != '\0') {
		snprintf(target, sizeof(target), "%.*s",
		    (int)strcspn(rest, " \t"), rest);
		shell_split_hostport(target, &host, &port);
		if (port == NULL)
			port = "25";
	}
	if (host == NULL) {
		printf("** :replay N HOST:PORT (no default target)\n");
		return (-1);
	}
	s = replay_script(r->caps->path, strtoul(args, NULL, 10), &r->cancel);
	if (s == NULL)
		return (-1);
	rc = replay_run(r, s, host, port);
	sp_script_free(s);
	return (rc);
}
