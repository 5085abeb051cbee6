/*
 * analyzer.h - the whole stack in one handle: TCP segments in, SMTP
 * session events out.
 *
 *   packets -> sp_tcp_reasm -> (per flow) sp_smtp_parser
 *           -> (per message) sp_mime_parser + digests
 *
 * The analyzer decides which flows are SMTP (ports, then content),
 * routes each layer's callbacks to one event stream tagged with the
 * flow, and computes message and part digests.  Like the layers below
 * it, it does no I/O and reads no clock.  Every tool that looks at
 * captures (smtp-decode, smtp-shell) stands on it.
 */
#ifndef SMTPPROTO_ANALYZER_H
#define SMTPPROTO_ANALYZER_H

#include "tcp.h"

typedef struct sp_analyzer sp_analyzer;

#define SP_ANALYZER_MAX_PORTS	64

struct sp_analyzer_options {
	/* Server ports that mark SMTP (default 25, 465, 587, 2525). */
	uint16_t	ports[SP_ANALYZER_MAX_PORTS];
	size_t		nports;
	int		by_content;	/* also SMTP found on any port */
	int		show_secrets;	/* keep AUTH passwords */
	int		md5, sha1;	/* part digests besides sha256 */
};

/* Fill *o with the defaults (SMTP ports above, by_content on). */
SP_EXTERN void sp_analyzer_options_default(struct sp_analyzer_options *o);

#endif /* SMTPPROTO_ANALYZER_H */
