/*
 * dialogue_json.h - session scripts from smtp-decode's JSON records
 * (written with --dialogue).  smtp-replay plays them and compares the
 * server's replies with the recorded ones; smtp-fuzz takes them as
 * seeds.  One reader serves both so a decoded capture means the same
 * session to every tool.
 */
#ifndef SP_DIALOGUE_JSON_H
#define SP_DIALOGUE_JSON_H

#include <stddef.h>

#include <smtpproto/smtpproto.h>
#include <smtpproto/script.h>

struct dj_options {
	const char	*extract_dir;	/* --extract's folder; NULL: the file's */
	double		 speed;		/* > 0: recorded pauses / speed */
	unsigned	 max_gap_ms;	/* cap of a pause; 0: 10 s */
};

/* One converted record, valid during the record callback. */
struct dj_record {
	const char	*base;		/* the JSON file's name */
	size_t		 nth;		/* from 1, in the file's order */
	sp_script	*script;	/* the client side; take it by NULLing */
	int		 placeholder;	/* a message body was not found */
	double		 start;		/* the record's "ts", s; 0: none */
	char		 client[64], server[64];
	unsigned	 client_port, server_port;
};

struct dj_ops {
	/*
	 * Each recorded reply, in order, while its record is converted
	 * (NULL: not wanted); 0, or -1 when out of memory.
	 */
	int	(*reply)(void *ud, int code, const unsigned enh[3],
		    const struct sp_smtp_str *lines, size_t nlines);
	/* Each record once converted; 0, or -1 to stop the load. */
	int	(*record)(void *ud, struct dj_record *r);
};

/*
 * Convert every record of path (NDJSON, one record, or an array of
 * them; at most 256 MiB).  0, or -1 with msg set: unreadable file, bad
 * JSON (with its byte offset), a record without a dialogue, no record
 * at all, out of memory, or a callback's -1.
 */
int	dj_load(const char *path, const struct dj_options *o,
	    const struct dj_ops *ops, void *ud, char *msg, size_t cap);

#endif
