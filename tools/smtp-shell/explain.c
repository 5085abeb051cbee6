/*
 * explain.c - :explain 550 5.7.1.  Reply codes from RFC 5321 4.2.2
 * (in numeric order) and the meaning of each digit (4.2.1); enhanced
 * status codes from RFC 3463 and the IANA "Enumerated Status Codes"
 * registry (RFC 5248), subject by subject.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shell.h"

static const struct {
	int		 code;
	const char	*text;
} replies[] = {
	{ 211, "System status, or system help reply" },
	{ 214, "Help message (for a human user)" },
	{ 220, "<domain> Service ready" },
	{ 221, "<domain> Service closing transmission channel" },
	{ 235, "Authentication successful (RFC 4954)" },
	{ 250, "Requested mail action okay, completed" },
	{ 251, "User not local; will forward to <forward-path>" },
	{ 252, "Cannot VRFY user, but will accept message and attempt "
	    "delivery" },
	{ 334, "Server challenge in an AUTH exchange (RFC 4954), base64" },
	{ 354, "Start mail input; end with <CRLF>.<CRLF>" },
	{ 421, "<domain> Service not available, closing transmission "
	    "channel" },
	{ 432, "A password transition is needed (RFC 4954)" },
	{ 450, "Requested mail action not taken: mailbox unavailable "
	    "(e.g. busy or blocked for policy reasons)" },
	{ 451, "Requested action aborted: local error in processing" },
	{ 452, "Requested action not taken: insufficient system storage "
	    "(also: too many recipients, 4.5.3.1.10)" },
	{ 454, "Temporary authentication failure, or TLS not available "
	    "(RFC 4954, RFC 3207)" },
	{ 455, "Server unable to accommodate parameters" },
	{ 500, "Syntax error, command unrecognized (also: line too long)" },
	{ 501, "Syntax error in parameters or arguments" },
	{ 502, "Command not implemented" },
	{ 503, "Bad sequence of commands" },
	{ 504, "Command parameter not implemented" },
	{ 521, "Host does not accept mail (RFC 7504)" },
	{ 530, "Authentication required (RFC 4954) / must issue STARTTLS "
	    "first (RFC 3207)" },
	{ 534, "Authentication mechanism is too weak (RFC 4954)" },
	{ 535, "Authentication credentials invalid (RFC 4954)" },
	{ 538, "Encryption required for requested authentication mechanism"
	    " (RFC 4954)" },
	{ 550, "Requested action not taken: mailbox unavailable (not found,"
	    " no access, or rejected for policy reasons)" },
	{ 551, "User not local; please try <forward-path>" },
	{ 552, "Requested mail action aborted: exceeded storage allocation"
	    },
	{ 553, "Requested action not taken: mailbox name not allowed "
	    "(e.g. syntax)" },
	{ 554, "Transaction failed (or, in a greeting, no SMTP service "
	    "here)" },
	{ 555, "MAIL FROM/RCPT TO parameters not recognized or not "
	    "implemented" },
	{ 556, "Domain does not accept mail (RFC 7504)" },
};

static const char *const first_digit[] = {
	NULL, "1yz positive preliminary (not used by SMTP)",
	"2yz positive completion: the action succeeded",
	"3yz positive intermediate: send more information",
	"4yz transient negative: the same command may work later",
	"5yz permanent negative: do not repeat the same command",
};

static const char *const second_digit[] = {
	"x0z syntax", "x1z information", "x2z connections",
	"x3z unspecified", "x4z unspecified", "x5z mail system",
};

static const char *const classes[] = {
	NULL, NULL, "2.X.X success", NULL, "4.X.X persistent transient "
	"failure", "5.X.X permanent failure",
};

static const struct {
	unsigned	 subject, detail;
	const char	*text;
} enhanced[] = {
	{ 0, 0, "Other undefined status" },
	{ 1, 0, "Other address status" },
	{ 1, 1, "Bad destination mailbox address" },
	{ 1, 2, "Bad destination system address" },
	{ 1, 3, "Bad destination mailbox address syntax" },
	{ 1, 4, "Destination mailbox address ambiguous" },
	{ 1, 5, "Destination address valid" },
	{ 1, 6, "Destination mailbox has moved, no forwarding address" },
	{ 1, 7, "Bad sender's mailbox address syntax" },
	{ 1, 8, "Bad sender's system address" },
	{ 1, 9, "Message relayed to non-compliant mailer (RFC 3886)" },
	{ 1, 10, "Recipient address has null MX (RFC 7505)" },
	{ 2, 0, "Other or undefined mailbox status" },
	{ 2, 1, "Mailbox disabled, not accepting messages" },
	{ 2, 2, "Mailbox full" },
	{ 2, 3, "Message length exceeds administrative limit" },
	{ 2, 4, "Mailing list expansion problem" },
	{ 3, 0, "Other or undefined mail system status" },
	{ 3, 1, "Mail system full" },
	{ 3, 2, "System not accepting network messages" },
	{ 3, 3, "System not capable of selected features" },
	{ 3, 4, "Message too big for system" },
	{ 3, 5, "System incorrectly configured" },
	{ 3, 6, "Requested priority was changed (RFC 6710)" },
	{ 4, 0, "Other or undefined network or routing status" },
	{ 4, 1, "No answer from host" },
	{ 4, 2, "Bad connection" },
	{ 4, 3, "Directory server failure" },
	{ 4, 4, "Unable to route" },
	{ 4, 5, "Mail system congestion" },
	{ 4, 6, "Routing loop detected" },
	{ 4, 7, "Delivery time expired" },
	{ 5, 0, "Other or undefined protocol status" },
	{ 5, 1, "Invalid command" },
	{ 5, 2, "Syntax error" },
	{ 5, 3, "Too many recipients" },
	{ 5, 4, "Invalid command arguments" },
	{ 5, 5, "Wrong protocol version" },
	{ 5, 6, "Authentication exchange line is too long (RFC 4954)" },
	{ 6, 0, "Other or undefined media error" },
	{ 6, 1, "Media not supported" },
	{ 6, 2, "Conversion required and prohibited" },
	{ 6, 3, "Conversion required but not supported" },
	{ 6, 4, "Conversion with loss performed" },
	{ 6, 5, "Conversion failed" },
	{ 6, 6, "Message content not available (RFC 4468)" },
	{ 6, 7, "Non-ASCII addresses not permitted for that sender/"
	    "recipient (RFC 6531)" },
	{ 6, 8, "UTF-8 string reply is required, but not permitted by the "
	    "SMTP client (RFC 6531)" },
	{ 6, 9, "UTF-8 header message cannot be transferred to one or more "
	    "recipients (RFC 6531)" },
	{ 7, 0, "Other or undefined security status" },
	{ 7, 1, "Delivery not authorized, message refused" },
	{ 7, 2, "Mailing list expansion prohibited" },
	{ 7, 3, "Security conversion required but not possible" },
	{ 7, 4, "Security features not supported" },
	{ 7, 5, "Cryptographic failure" },
	{ 7, 6, "Cryptographic algorithm not supported" },
	{ 7, 7, "Message integrity failure" },
	{ 7, 8, "Authentication credentials invalid (RFC 4954)" },
	{ 7, 9, "Authentication mechanism is too weak (RFC 4954)" },
	{ 7, 10, "Encryption needed (RFC 5248)" },
	{ 7, 11, "Encryption required for requested authentication "
	    "mechanism (RFC 4954)" },
	{ 7, 12, "A password transition is needed (RFC 4954)" },
	{ 7, 13, "User account disabled (RFC 5248)" },
	{ 7, 14, "Trust relationship required (RFC 5248)" },
	{ 7, 15, "Priority level is too low (RFC 6710)" },
	{ 7, 16, "Message is too big for the specified priority (RFC 6710)"
	    },
	{ 7, 17, "Mailbox owner has changed (RFC 7293)" },
	{ 7, 18, "Domain owner has changed (RFC 7293)" },
	{ 7, 19, "RRVS test cannot be completed (RFC 7293)" },
	{ 7, 20, "No passing DKIM signature found (RFC 7372)" },
	{ 7, 21, "No acceptable DKIM signature found (RFC 7372)" },
	{ 7, 22, "No valid author-matched DKIM signature found (RFC 7372)" },
	{ 7, 23, "SPF validation failed (RFC 7372)" },
	{ 7, 24, "SPF validation error (RFC 7372)" },
	{ 7, 25, "Reverse DNS validation failed (RFC 7372)" },
	{ 7, 26, "Multiple authentication checks failed (RFC 7372)" },
	{ 7, 27, "Sender address has null MX (RFC 7505)" },
	{ 7, 28, "Mail flood detected (RFC 8650)" },
	{ 7, 29, "ARC validation failure (RFC 8617)" },
	{ 7, 30, "REQUIRETLS support required (RFC 8689)" },
};

static const char *const subjects[] = {
	"Other or Undefined Status", "Addressing Status",
	"Mailbox Status", "Mail System Status",
	"Network and Routing Status", "Mail Delivery Protocol Status",
	"Message Content or Media Status",
	"Security or Policy Status",
};

void
explain_code(FILE *out, int code)
{
	size_t i;

	if (code < 100 || code > 599) {
		fprintf(out, "%d: not an SMTP reply code (RFC 5321 4.2: three"
		    " digits, 2-5 first)\n", code);
		return;
	}
	fprintf(out, "%d", code);
	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		if (replies[i].code == code)
			break;
	if (i < sizeof(replies) / sizeof(replies[0]))
		fprintf(out, " %s (RFC 5321 4.2.2)\n", replies[i].text);
	else
		fprintf(out, " (not in RFC 5321 4.2.2)\n");
	fprintf(out, "  %s\n  %s\n", first_digit[code / 100],
	    second_digit[(code / 10) % 10 <= 5 ? (code / 10) % 10 : 3]);
}

void
explain_enhanced(FILE *out, unsigned cls, unsigned subj, unsigned det)
{
	size_t i;

	if ((cls != 2 && cls != 4 && cls != 5) || subj > 999 || det > 999) {
		fprintf(out, "%u.%u.%u: class must be 2, 4 or 5 (RFC 3463 "
		    "3.1)\n", cls, subj, det);
		return;
	}
	fprintf(out, "%u.%u.%u %s", cls, subj, det, classes[cls]);
	if (subj < sizeof(subjects) / sizeof(subjects[0]))
		fprintf(out, "; %s", subjects[subj]);
	for (i = 0; i < sizeof(enhanced) / sizeof(enhanced[0]); i++)
		if (enhanced[i].subject == subj && enhanced[i].detail == det)
			break;
	if (i < sizeof(enhanced) / sizeof(enhanced[0]))
		fprintf(out, ": %s (RFC 3463, IANA registry)\n",
		    enhanced[i].text);
	else
		fprintf(out, ": detail not in the IANA registry\n");
}

/* "550", "550 5.7.1", "5.7.1"; returns -1 if nothing was understood. */
int
explain(FILE *out, const char *args)
{
	const char	*p = args;
	int		 any = 0;

	while (*p != '\0') {
		unsigned	a, b, c;
		int		n = 0;

		p += strspn(p, " \t");
		if (*p == '\0')
			break;
		if (sscanf(p, "%u.%u.%u%n", &a, &b, &c, &n) == 3 && n > 0) {
			explain_enhanced(out, a, b, c);
			any = 1;
		} else if (sscanf(p, "%u%n", &a, &n) == 1 && n == 3) {
			explain_code(out, (int)a);
			any = 1;
		} else {
			fprintf(out, "%.*s: not a reply code nor x.y.z\n",
			    (int)strcspn(p, " \t"), p);
		}
		p += strcspn(p, " \t");
	}
	return (any ? 0 : -1);
}
