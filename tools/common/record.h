/*
 * record.h - builds one JSON record per SMTP session from the
 * analyzer's events (the schema is tools/smtp-decode/session.schema.json).
 * smtp-decode writes the records; smtp-shell keeps them to browse.
 */
#ifndef SP_RECORD_H
#define SP_RECORD_H

#include "jv.h"

#include <smtpproto/smtpproto.h>
#include <smtpproto/analyzer.h>

struct record_opts {
	int		 dialogue;	/* keep every command and reply */
	int		 show_secrets;
	const char	*extract_dir;	/* NULL: no extraction */
	size_t		 max_anomalies;	/* per session; more are counted */
	size_t		 max_dialogue;	/* items per session */
	size_t		 max_transactions; /* kept per session; more counted */
};

/*
 * Called with each finished record.  The tree is freed when the call
 * returns: write it, or keep jv_to_json(rec).
 */
typedef void (*record_fn)(void *ud, const struct jv *rec);

/* Called for --events: one small object per event as it happens. */
typedef void (*record_event_fn)(void *ud, const struct jv *ev);

struct recorder;

struct recorder	*recorder_new(const struct record_opts *o, record_fn done,
		    record_event_fn each, void *ud);
void		 recorder_free(struct recorder *r);

/* The analyzer's callback: pass the recorder as ud. */
int		 recorder_event(void *r, const struct sp_event *ev);

/* Errors met while extracting files (0 if none), for the exit status. */
unsigned	 recorder_errors(const struct recorder *r);

#endif
