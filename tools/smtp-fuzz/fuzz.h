/*
 * fuzz.h - smtp-fuzz internals: the session model, mutators, the
 * executor with its oracles, the state graph and the campaign.
 *
 * A test case is a session: a list of steps, each one write to the
 * server (a command line, a pipelined group, DATA with its body and an
 * end-of-data variant, a BDAT chunk, STARTTLS).  One connection per
 * test case; replies are complete when their final "NNN " line
 * arrives (sp_client), never on a timer.
 */
#ifndef SMTP_FUZZ_H
#define SMTP_FUZZ_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "smtpproto/smtpproto.h"

/* Explicit limits: every session, line and body is bounded. */
#define FZ_MAX_STEPS	48
#define FZ_MAX_LINES	8		/* in one pipelined group */
#define FZ_MAX_LINE	4096		/* octets of one command line */
#define FZ_MAX_BODY	(64 * 1024)
#define FZ_MAX_PATH	128		/* states recorded per execution */
#define FZ_KEY_LEN	112
#define FZ_MAX_QUEUE	2048
#define FZ_MAX_NODES	65536
#define FZ_MAX_EDGES	(1U << 18)

enum fz_kind {
	FZ_LINE = 1,	/* one command line + CRLF */
	FZ_PIPE,	/* lines, each + CRLF, in one write (RFC 2920) */
	FZ_DATA,	/* DATA, 354, body, an end-of-data variant */
	FZ_BDAT,	/* BDAT n [LAST] and n octets (RFC 3030) */
	FZ_STARTTLS	/* STARTTLS (inject: a NOOP in the same write) */
};

struct fz_bytes {
	uint8_t	*p;
	size_t	 n;
};

struct fz_step {
	enum fz_kind	 kind;
	struct fz_bytes	 lines[FZ_MAX_LINES];	/* LINE: 1, PIPE: n */
	size_t		 nlines;
	struct fz_bytes	 body;			/* DATA body, BDAT chunk */
	unsigned	 term;			/* DATA: fz_eod index */
	int		 last;			/* BDAT LAST */
	int		 inject;		/* STARTTLS */
};

struct fz_session {
	struct fz_step	steps[FZ_MAX_STEPS];
	size_t		n;
};

/* End-of-data variants (CONFORMANCE.md V1); index 0 is CRLF.CRLF. */
struct fz_eod {
	const char	*name;
	const char	*bytes;
	size_t		 len;
};
extern const struct fz_eod fz_eods[];
extern const size_t fz_neods;

/* Oracles, in the order findings are reported. */
enum fz_oracle {
	FZ_OK = 0,
	FZ_CRASH,		/* closed/reset without a reply, or gone */
	FZ_HANG,		/* no complete reply within the timeout */
	FZ_RFC_354_NO_RCPT,	/* RFC 5321 3.3: 503 expected */
	FZ_RFC_PIPE_MISSING,	/* RFC 2920 3.2: every command answered */
	FZ_RFC_BARE_EOD,	/* RFC 5321 4.1.1.4: only CRLF.CRLF */
	FZ_RFC_TLS_INJECT,	/* RFC 3207 4.2: plaintext discarded */
	FZ_RFC_STARTTLS_AGAIN,	/* RFC 3207 4.2: not offered after TLS */
	FZ_RFC_MALFORMED,	/* RFC 5321 4.2: reply syntax */
	FZ_RFC_CLOSE,		/* FIN with no reply (RFC 5321 3.8: 421) */
	FZ_LATENCY,		/* a reply far slower than usual */
	FZ_ORACLE__COUNT
};
const char	*fz_oracle_name(enum fz_oracle o);

/* ------------------------------------------------------ session.c */

void	fz_session_clear(struct fz_session *s);
int	fz_session_copy(struct fz_session *dst, const struct fz_session *src);
int	fz_session_copy_step(struct fz_step *d, const struct fz_step *s);
int	fz_session_remove(struct fz_session *s, size_t i);
int	fz_bytes_set(struct fz_bytes *b, const void *p, size_t n);
const char *fz_step_verb(const struct fz_step *st, char *buf, size_t cap);

/* Script <-> session; $ in text is escaped as the runner expands it. */
int	fz_session_from_script(struct fz_session *s, const sp_script *sc);
/* Built-in seeds; with user and pass (--auth) AUTH seeds come first. */
size_t	fz_builtin_seeds(struct fz_session **out, const char *user,
	    const char *pass);
int	fz_seeds_from_file(const char *path,
	    int (*add)(void *ud, struct fz_session *s), void *ud);
uint8_t	*fz_escape(const void *p, size_t n, size_t *outlen);
sp_err	fz_script_text(sp_script *sc, enum sp_script_op op, const void *p,
	    size_t n);
/* Write the session as a script (no expectations: queue entries). */
int	fz_session_save(const struct fz_session *s, const char *path);

/* ------------------------------------------------------- mutate.c */

struct fz_rng {
	uint64_t	s;
};
uint64_t fz_rand(struct fz_rng *r);
void	fz_bytes_splice(struct fz_bytes *b, size_t off, size_t cut,
	    const void *ins, size_t n, size_t cap);
size_t	fz_below(struct fz_rng *r, size_t n);

/* Mutate s in place (1..4 stacked mutations); donor for splicing. */
void	fz_mutate(struct fz_rng *r, struct fz_session *s,
	    const struct fz_session *donor, const char *const *dict,
	    size_t ndict);

/* ---------------------------------------------------------- det.c */

/*
 * The deterministic stage (as AFL's): every single, systematic mutation
 * of a seed, run once each before random ones, in stages ordered from
 * the cheapest and most telling on.  fz_det_count is how many stage
 * has for s; fz_det_apply makes the k-th in place: 0 done, 1 not
 * applicable to this session (skip it), -1 out of memory.
 */
#define FZ_DET_STAGES	6
size_t	fz_det_count(const struct fz_session *s, unsigned stage);
int	fz_det_apply(struct fz_session *s, unsigned stage, size_t k);

/* --------------------------------------------------------- exec.c */

struct fz_target {
	const char	*host;
	const char	*port;
	unsigned	 timeout_ms;	/* a reply, after a write */
	unsigned	 quiet_ms;	/* the wait proving silence */
	unsigned	 linger_ms;	/* after the last step, wait for a close */
	/* End-of-data variants judged by a NOOP sent behind, not by
	   silence (exec.c eod_probe): fuzzing, not recording. */
	int		 probe_eod;
	/* CA file for STARTTLS (NULL: the system's).  Certificates are
	   never required to verify; a small file spares the client
	   loading the system store on every connection. */
	const char	*ca_file;
	/* Known hangs: 1 stops the case before sending verb in state
	   (the last state key), saving a timeout per rediscovery. */
	int		(*avoid)(void *ud, const char *state, const char *verb);
	void		*avoid_ud;
};

struct fz_result {
	enum fz_oracle	 oracle;
	size_t		 trigger;	/* step index */
	size_t		 trigger_state;	/* path length before it */
	char		 detail[256];
	char		 trigger_verb[16];
	char		 path[FZ_MAX_PATH][FZ_KEY_LEN];	/* state keys */
	size_t		 npath;
	uint64_t	 max_latency_ns;
	int		 connected;	/* 0: connect failed */
	int		 peer_closed;	/* closed during linger_ms */
};

/*
 * Run one session on a fresh connection.  rec (may be NULL) gets the
 * transcript as a script: what was sent, each reply as an expect, and
 * at the trigger an expectation the bug satisfies.
 */
void	fz_exec(const struct fz_target *t, const struct fz_session *s,
	    uint64_t latency_limit_ns, sp_script *rec, struct fz_result *res);
/* 1 if the oracle leaves the dialogue in step (the case goes on). */
int	fz_soft(enum fz_oracle o);
/* 1 if a TCP connection to the target succeeds now. */
int	fz_reachable(const struct fz_target *t);

/* -------------------------------------------------------- graph.c */

struct fz_graph;
struct fz_graph *fz_graph_new(void);
void	fz_graph_free(struct fz_graph *g);
/* Count the path's states and transitions; returns how many were new. */
size_t	fz_graph_add(struct fz_graph *g, const struct fz_result *res);
/* The rarity weight of a path: high when its states are rarely hit. */
double	fz_graph_weight(const struct fz_graph *g, const uint64_t *h,
	    size_t n);
uint64_t fz_hash(const char *key);
size_t	fz_graph_nstates(const struct fz_graph *g);
size_t	fz_graph_nedges(const struct fz_graph *g);
int	fz_graph_write(const struct fz_graph *g, const char *dot,
	    const char *json);
int	fz_graph_load(struct fz_graph *g, const char *json);

#endif /* SMTP_FUZZ_H */
