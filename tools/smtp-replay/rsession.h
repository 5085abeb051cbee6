/*
 * rsession.h - what replay.c plays: sessions taken from a capture
 * (rinput.c, through the analyzer and the script converter) or from
 * script files, rewritten (rewrite.c) before they are sent.
 */
#ifndef SMTP_REPLAY_RSESSION_H
#define SMTP_REPLAY_RSESSION_H

#include <smtpproto/smtpproto.h>
#include <smtpproto/analyzer.h>

#define RS_MAX_SESSIONS	10000
#define RS_MAX_REPLIES	100000	/* recorded per session */

/* One reply as the capture recorded it. */
struct rs_reply {
	int		 code;
	unsigned	 ecls, esub, edet;
	char		*text;		/* lines joined by \n */
};

struct rs_session {
	size_t		 index;		/* from 1, in the input's order */
	char		 source[512];	/* "basic.pcap #1 a:p -> b:p" */
	char		 client[64], server[64];
	unsigned	 server_port;
	int		 from_capture;
	sp_ts		 start_ts;	/* recorded start; 0 if unknown */
	sp_script_conv	*cv;
	sp_err		 conv_err;
	sp_script	*script;
	struct rs_reply	*replies;	/* capture only */
	size_t		 nreplies, capreplies;
	/* Script step index -> recorded reply, or -1 (after rewriting). */
	long		*expect_map;
	size_t		 nmap;
	int		 stopped_tls;	/* cut at STARTTLS */
	int		 placeholder;	/* a message body was not found */
	int		 truncated;	/* replies or steps over the caps */
};

struct rs_list {
	struct rs_session **v;
	size_t		 n;
	/*
	 * Set before loading: speed > 0 keeps the clients' pauses as
	 * sleep steps, divided by speed and capped at max_gap_ms
	 * (--speed, --max-gap; sp_script_conv_options).
	 */
	double		 speed;
	unsigned	 max_gap_ms;
};

/*
 * Append the sessions of a capture (every one, in order of their
 * start); 0, or -1 with msg set (unreadable file, conversion failed).
 */
int	rs_load_capture(struct rs_list *l, const char *path, char *msg,
	    size_t cap);

/* Append one script file; 0 or -1 with msg (file:line: reason). */
int	rs_load_script(struct rs_list *l, const char *path, char *msg,
	    size_t cap);

/*
 * Append decode JSON records (smtp-decode --dialogue, NDJSON or
 * pretty): each session's commands and replies.  extract_dir is where
 * smtp-decode --extract wrote the messages (NULL: the file's folder);
 * a message not found there is replaced by a short placeholder.
 */
int	rs_load_json(struct rs_list *l, const char *path,
	    const char *extract_dir, char *msg, size_t cap);

/*
 * By the file name: a capture (.pcap, .pcapng, .cap), decode JSON
 * (.json, .ndjson, .jsonl) or else a session script; 0 or -1 with msg.
 */
int	rs_load_any(struct rs_list *l, const char *path,
	    const char *extract_dir, char *msg, size_t cap);

/* Append s to l and number it; 0, or -1 when full or out of memory. */
int	rs_list_add(struct rs_list *l, struct rs_session *s);

/* Keep a recorded reply (text from its lines); 0 or -1. */
int	rs_add_reply(struct rs_session *s, int code, const unsigned enh[3],
	    const struct sp_smtp_str *lines, size_t nlines);

void	rs_session_free(struct rs_session *s);
void	rs_list_free(struct rs_list *l);

/* What to change in the sessions before they are sent. */
struct rw_map {
	const char	*from, *to;
};

#define RW_MAX_MAPS	64

struct rw_opts {
	const char	*helo;
	struct rw_map	 senders[RW_MAX_MAPS];
	size_t		 nsenders;
	struct rw_map	 rcpts[RW_MAX_MAPS];
	size_t		 nrcpts;
	const char	*rcpt;		/* every RCPT TO gets this */
	int		 fresh_date, fresh_msgid;
	int		 starttls;	/* a capture's STARTTLS: handshake, QUIT */
	/* --auth MECH:USER; the secret is the env var named secret_env. */
	enum sp_script_auth auth_mech;
	const char	*auth_user;
	const char	*secret_env;
};

/*
 * Replace s->script by its rewritten copy: commands and message
 * headers as rw says; a capture's session cut at STARTTLS ends with
 * "send STARTTLS" and its expected 220.  Then map every expect step to
 * the recorded reply it stands for.  0, or -1 with msg.
 */
int	rw_apply(struct rs_session *s, const struct rw_opts *rw, char *msg,
	    size_t cap);

#endif
