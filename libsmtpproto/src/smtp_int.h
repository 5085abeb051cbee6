/*
 * smtp_int.h - the SMTP parser's internals, shared by smtp_*.c only.
 *
 * smtp_line.c     the bounded line stage, one per direction
 * smtp_cmd.c      verb table, command, path and parameter parsing
 * smtp_reply.c    reply lines, enhanced codes, EHLO keywords, queue ids
 * smtp_data.c     DATA (dot-unstuffing, smuggling) and BDAT chunks
 * smtp_auth.c     AUTH exchanges and base64
 * smtp_txn.c      the pending-command queue and transactions
 * smtp_match.c    replies matched to commands, and what they decide
 * smtp_session.c  the handle, feed/gap/finish, the state machine
 */
#ifndef SP_SMTP_INT_H
#define SP_SMTP_INT_H

#include "internal.h"

/* What the client's bytes are, right now. */
#define SP_CSTATE_MAP(X)						\
	X(CMD)		/* command lines */				\
	X(DATA)		/* message content after DATA */		\
	X(BDAT)		/* the octets of a BDAT chunk */		\
	X(AUTH)		/* AUTH responses, one per line */		\
	X(TLS_WAIT)	/* after 220 to STARTTLS, before ClientHello */	\
	X(TLS)		/* opaque */

enum cstate {
#define SP_CSTATE_ENUM(n)	C_##n,
	SP_CSTATE_MAP(SP_CSTATE_ENUM)
#undef SP_CSTATE_ENUM
};

enum sstate { S_REPLY, S_TLS_WAIT, S_TLS };

/* One direction's line assembly (smtp_line.c). */
struct half {
	struct sp_buf	 line;		/* partial line, capped at max_line */
	uint64_t	 off;		/* stream offset of the next byte */
	uint64_t	 line_off;	/* offset of the line being built */
	int		 started;	/* a line is being built */
	int		 truncated;	/* it overflowed max_line */
	int		 skipping;	/* after a gap: drop up to next LF */
	int		 skip_fresh;	/* and no byte seen since the gap */
};

/* A line handed from the line stage to a state step. */
struct line {
	const uint8_t	*p;
	size_t		 len;		/* line end included, if seen */
	uint64_t	 off;
	int		 truncated;
};

/* DATA byte machine (smtp_data.c); see that file for the states. */
enum dstate { D_BOL, D_TEXT, D_CR, D_DOT, D_DOTCR };

/* Prefix/suffix kinds of a candidate lax end-of-data. */
enum lax { LAX_NONE, LAX_LF, LAX_CR, LAX_CRLF, LAX_CRLFNUL,
	LAX_CRCRLF, LAX_NULCRLF };

#define SMUG_SHOW	48	/* bytes of "what follows" in a detail */
#define CID_PEEK	12	/* bytes kept to spot a command in DATA */

struct data_machine {
	enum dstate	 st;
	uint8_t		 h[3];		/* last raw bytes, h[0] newest */
	uint64_t	 nraw;		/* raw bytes of this message */
	/* A "." that a lax server might take as the end. */
	int		 cand;		/* prefix kind, LAX_NONE if idle */
	uint64_t	 cand_off;	/* where the sequence starts */
	uint8_t		 cand_seq[8];	/* its bytes, for the detail */
	size_t		 cand_len;
	size_t		 cand_pre;	/* bytes before the dot */
	/* A found smuggling sequence, waiting for what follows. */
	int		 smug;
	uint64_t	 smug_off;
	uint8_t		 smug_seq[8];
	size_t		 smug_len;
	uint8_t		 then[SMUG_SHOW];
	size_t		 nthen;
	/* Start of a line after a bare line end: a command? */
	int		 cid;
	uint64_t	 cid_off;
	uint8_t		 cid_buf[CID_PEEK];
	size_t		 ncid;
	unsigned	 bare_lf_seen:1, bare_cr_seen:1;
};

struct rcpt_rec {
	size_t		off, len;	/* raw argument in txn->str */
	int		code;
	struct sp_smtp_enhanced enh;
};

struct txn {
	struct txn	*next;
	uint64_t	 seq;
	int		 has_mail;
	struct sp_buf	 str;		/* copies of the texts below */
	size_t		 mail_off, mail_len;
	int		 mail_code;
	struct sp_smtp_enhanced mail_enh;
	struct rcpt_rec	*rcpts;
	struct sp_smtp_rcpt *pub;	/* filled in when reported */
	size_t		 nrcpts, rcpts_cap, nrcpts_total, naccepted;
	int		 too_many;	/* anomaly raised */
	enum sp_smtp_method method;
	int		 final_code;
	struct sp_smtp_enhanced final_enh;
	size_t		 final_off, final_len;
	uint64_t	 msg_size, missing;
	int		 msg_seen, msg_open, msg_ended, msg_complete;
	int		 start_missing;
	int		 data_refused;	/* DATA got 4xx/5xx mid-message */
	int		 bdat_last;	/* BDAT LAST sent */
	uint64_t	 data_seq;	/* the DATA command */
	int		 done;		/* no more client commands for it */
	/*
	 * The transaction the client had open when this one's MAIL was
	 * sent; it stays open (one pending reference) until that MAIL's
	 * reply: a refusal ("503 nested MAIL", RFC 5321 4.1.4) means the
	 * old one goes on and gets the next RCPT and the message.
	 */
	struct txn	*nested_prev;
	unsigned	 pending;	/* queue entries pointing here */
	int		 report;	/* within max_transactions */
	sp_ts		 ts_begin, ts_end;
};

/* A command awaiting its reply. */
struct pend {
	enum sp_smtp_verb verb;
	uint64_t	 seq;
	struct txn	*txn;
	long		 rcpt;		/* index in txn->rcpts, -1 if none */
	unsigned	 data_end:1;	/* the end of DATA content */
	unsigned	 bdat_last:1;
};

enum auth_mech { M_PLAIN, M_LOGIN, M_CRAM, M_XOAUTH2, M_OTHER };

struct auth_state {
	int		 active;
	enum auth_mech	 mech;
	uint64_t	 cmd_seq;
	sp_ts		 ts;
	struct sp_buf	 buf;		/* mechanism, user, authzid, secret */
	size_t		 mech_off, mech_len, user_off, user_len;
	size_t		 authz_off, authz_len, secret_off, secret_len;
	size_t		 responses;
	size_t		 challenges;	/* 334s seen */
	size_t		 answered;	/* responses to them */
	int		 ir;		/* initial response given */
	int		 cancelled;
};

/* A reply being assembled (smtp_reply.c). */
struct reply_acc {
	int		 active;
	int		 code;
	uint64_t	 off;
	sp_ts		 ts;
	struct sp_buf	 text;		/* kept lines' text, back to back */
	size_t		*ends;		/* end of each kept line in text */
	size_t		 nkept, ntotal;
	int		 bad;		/* a malformed line in it */
};

struct sp_smtp_parser {
	struct sp_limits	 lim;
	const struct sp_allocator *a;
	struct sp_smtp_callbacks cb;
	void			*ud;
	struct sp_smtp_options	 opt;
	sp_err			 err;		/* sticky */
	int			 paused;
	int			 finished;
	sp_ts			 ts;		/* of the current call */

	struct half		 h[2];
	enum cstate		 cst;
	enum sstate		 sst;
	struct sp_smtp_info	 info;

	/* Session knowledge. */
	int			 client_seen, server_seen;
	int			 greeting_done;
	int			 caps_known, pipelining, chunking;
	int			 starttls_pending;
	int			 quit_sent;
	int			 pipelining_flagged;
	int			 relaxed;	/* after a gap or pickup */
	uint64_t		 relax_until;	/* first seq after the gap */
	int			 after_bdat;	/* a chunk just ended */
	uint64_t		 last_final_txn; /* for double replies */
	int			 resp_inj_flagged;

	/* Injected client lines after STARTTLS (CVE-2011-0411). */
	uint64_t		 inj_off, inj_bytes;
	uint8_t			 inj_show[SMUG_SHOW];
	size_t			 inj_nshow;

	/* Commands awaiting replies: a ring capped at max_pipeline. */
	struct pend		*q;
	size_t			 qhead, qlen, qcap;
	uint64_t		 cmd_seq, group;

	/* Transactions not yet reported, oldest first; cur is building. */
	struct txn		*txns;
	struct txn		*cur;
	uint64_t		 txn_seq;
	int			 txn_limit_flagged;

	/* DATA and BDAT. */
	struct data_machine	 dm;
	struct txn		*msg_txn;	/* the message being received */
	uint64_t		 bdat_left;
	int			 bdat_chunk_last;

	struct auth_state	 auth;
	struct reply_acc	 rep;

	/* Scratch for events. */
	struct sp_smtp_path	 path;
	struct sp_smtp_param	 params[SP_SMTP_MAX_PARAMS];
	struct sp_smtp_capability *caps;	/* max_reply_lines */
	struct sp_smtp_str	*rlines;	/* max_reply_lines */
	size_t			 ncap_lines;	/* room in ends, caps, rlines */
	uint64_t		 line_end[2];	/* offset after the line */
	uint64_t		 cpos;		/* client position for events */
	char			 detail[256];
};

/* smtp_session.c: events and anomalies. */
sp_err	sp__smtp_cb(sp_smtp_parser *p, int rc);
sp_err	sp__smtp_anomaly(sp_smtp_parser *p, enum sp_anomaly a,
	    enum sp_dir dir, uint64_t off, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
void	sp__smtp_set_cstate(sp_smtp_parser *p, enum cstate st);
size_t	sp__smtp_escape(char *dst, size_t cap, const uint8_t *s, size_t n);

/* smtp_line.c */
int	sp__smtp_line_take(sp_smtp_parser *p, struct half *h,
	    const uint8_t *buf, size_t len, size_t *used, struct line *out,
	    sp_err *err);
void	sp__smtp_line_reset(struct half *h);
int	sp__smtp_line_at_start(const struct half *h);
sp_err	sp__smtp_line_check(sp_smtp_parser *p, enum sp_dir dir,
	    const struct line *l);

/* smtp_cmd.c */
enum sp_smtp_verb sp__smtp_verb_lookup(const uint8_t *s, size_t n);
size_t	sp__smtp_trim_eol(const uint8_t *s, size_t n);
int	sp__smtp_parse_path(const uint8_t *s, size_t n,
	    struct sp_smtp_path *out, size_t *used);
size_t	sp__smtp_parse_params(const uint8_t *s, size_t n,
	    struct sp_smtp_param *out, size_t max);
int	sp__smtp_looks_like_command(const uint8_t *s, size_t n);
sp_err	sp__smtp_command_line(sp_smtp_parser *p, const struct line *l);

/* smtp_reply.c */
sp_err	sp__smtp_reply_line(sp_smtp_parser *p, const struct line *l);
int	sp__smtp_parse_enhanced(const uint8_t *s, size_t n,
	    struct sp_smtp_enhanced *e, size_t *used);
sp_err	sp__smtp_emit_caps(sp_smtp_parser *p, const struct sp_smtp_reply *r);
void	sp__smtp_reply_free(sp_smtp_parser *p);

/* smtp_txn.c, smtp_match.c */
sp_err	sp__smtp_push(sp_smtp_parser *p, const struct pend *e);
int	sp__smtp_pop(sp_smtp_parser *p, struct pend *out);
const struct pend *sp__smtp_front(const sp_smtp_parser *p);
void	sp__smtp_queue_clear(sp_smtp_parser *p);
void	sp__smtp_queue_drop_data_end(sp_smtp_parser *p, struct txn *t);
sp_err	sp__smtp_txn_new(sp_smtp_parser *p, int has_mail,
	    const uint8_t *arg, size_t n);
sp_err	sp__smtp_txn_rcpt(sp_smtp_parser *p, const uint8_t *arg, size_t n,
	    long *idx);
sp_err	sp__smtp_txn_close(sp_smtp_parser *p);
sp_err	sp__smtp_txn_done(sp_smtp_parser *p, struct txn *t);
sp_err	sp__smtp_txn_maybe_report(sp_smtp_parser *p, struct txn *t);
sp_err	sp__smtp_txn_release(sp_smtp_parser *p, struct txn *t);
sp_err	sp__smtp_txn_final(sp_smtp_parser *p, struct txn *t,
	    const struct sp_smtp_reply *r);
sp_err	sp__smtp_txn_flush(sp_smtp_parser *p);
void	sp__smtp_txn_free_all(sp_smtp_parser *p);
sp_err	sp__smtp_match_reply(sp_smtp_parser *p, struct sp_smtp_reply *r);

/* smtp_data.c */
sp_err	sp__smtp_data_step(sp_smtp_parser *p, const uint8_t *buf,
	    size_t len, uint64_t off, size_t *used);
sp_err	sp__smtp_bdat_step(sp_smtp_parser *p, const uint8_t *buf,
	    size_t len, uint64_t off, size_t *used);
sp_err	sp__smtp_msg_begin(sp_smtp_parser *p, enum sp_smtp_method m,
	    uint64_t off, int start_missing);
sp_err	sp__smtp_msg_end(sp_smtp_parser *p, int complete);
sp_err	sp__smtp_data_flush(sp_smtp_parser *p);
sp_err	sp__smtp_data_gap(sp_smtp_parser *p, uint64_t n);
sp_err	sp__smtp_bdat_gap(sp_smtp_parser *p, uint64_t n, uint64_t *left);
void	sp__smtp_data_reset(sp_smtp_parser *p);

/* smtp_auth.c */
sp_err	sp__smtp_auth_begin(sp_smtp_parser *p, const struct line *l,
	    const uint8_t *arg, size_t n, uint64_t seq);
sp_err	sp__smtp_auth_response(sp_smtp_parser *p, const struct line *l);
sp_err	sp__smtp_auth_end(sp_smtp_parser *p, const struct sp_smtp_reply *r);
int	sp__smtp_auth_expect_more(const sp_smtp_parser *p);
size_t	sp__smtp_b64_decode(const uint8_t *s, size_t n, uint8_t *out,
	    size_t cap, int *bad);

/*
 * Bytes [off, off + len) of b as an event string.  An empty one points
 * at "", not into b, whose p is NULL until something was stored.
 */
static inline struct sp_smtp_str
sp__smtp_slice(const struct sp_buf *b, size_t off, size_t len)
{
	struct sp_smtp_str	s;

	s.p = len > 0 ? b->p + off : (const uint8_t *)"";
	s.len = len;
	return (s);
}

#endif /* SP_SMTP_INT_H */
