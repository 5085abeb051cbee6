/*
 * fuzz_smtp.c - libFuzzer harness for the SMTP dialogue parser.
 *
 * Byte 0 picks the segment size (1, 9, ... 57) and two options.  Then
 * each segment is a control byte and up to that many bytes: control
 * bit 0 picks the direction (0 client, 1 server), so one input drives
 * both directions through any interleaving; control 0xfe/0xff is a
 * gap in that direction whose length is the next byte.  Small limits
 * make the limit paths reachable.  Built with onefile.c, the stored corpus replays
 * as ordinary ctest cases.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpproto/smtpproto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Callbacks that touch every slice, so an over-read shows in ASan. */
static unsigned	sink;

static void
touch(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sink += p[i];
}

static int
on_command(void *ud, const struct sp_smtp_command *c)
{
	(void)ud;
	touch(c->line.p, c->line.len);
	touch(c->arg.p, c->arg.len);
	if (c->path != NULL)
		touch(c->path->raw.p, c->path->raw.len);
	for (size_t i = 0; i < c->nparams; i++)
		touch(c->params[i].value.p, c->params[i].value.len);
	return (0);
}

static int
on_reply(void *ud, const struct sp_smtp_reply *r)
{
	(void)ud;
	for (size_t i = 0; i < r->nlines; i++)
		touch(r->lines[i].p, r->lines[i].len);
	return (0);
}

static int
on_txn(void *ud, const struct sp_smtp_transaction *t)
{
	(void)ud;
	touch(t->mail_from.raw.p, t->mail_from.raw.len);
	touch(t->final_text.p, t->final_text.len);
	touch(t->queue_id.p, t->queue_id.len);
	for (size_t i = 0; i < t->nrcpts; i++) {
		touch(t->rcpts[i].path.mailbox.p, t->rcpts[i].path.mailbox.len);
		touch(t->rcpts[i].params.p, t->rcpts[i].params.len);
	}
	return (0);
}

static int
on_data(void *ud, const uint8_t *p, size_t n)
{
	(void)ud;
	touch(p, n);
	return (0);
}

static int
on_auth(void *ud, const struct sp_smtp_auth *a)
{
	(void)ud;
	touch(a->user.p, a->user.len);
	touch(a->secret.p, a->secret.len);
	touch(a->mechanism.p, a->mechanism.len);
	return (0);
}

static int
on_caps(void *ud, const struct sp_smtp_capabilities *k)
{
	(void)ud;
	for (size_t i = 0; i < k->ncaps; i++)
		touch(k->caps[i].params.p, k->caps[i].params.len);
	return (0);
}

static int
on_anomaly(void *ud, enum sp_anomaly a, enum sp_dir dir, uint64_t off,
    const char *detail)
{
	(void)ud;
	(void)a;
	(void)dir;
	(void)off;
	if (detail != NULL)
		touch((const uint8_t *)detail, strlen(detail));
	return (0);
}

static const struct sp_smtp_callbacks callbacks = {
	on_command, on_reply, on_caps, on_txn, NULL, on_data, NULL, NULL,
	on_auth, on_anomaly
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_limits	 lim;
	struct sp_smtp_options	 opt = { 0 };
	sp_smtp_parser		*p;
	size_t			 off, seg, n, used;
	sp_err			 e = SP_E_OK;

	if (size < 1)
		return (0);
	sp_limits_default(&lim);
	lim.max_line = 64;		/* small, so the limit paths run */
	lim.max_reply_lines = 4;
	lim.max_rcpts = 4;
	lim.max_pipeline = 8;
	lim.max_transactions = 3;
	if (sp_smtp_parser_new(&p, &lim, &callbacks, NULL) != SP_E_OK)
		return (0);
	opt.show_secrets = data[0] >> 3 & 1;
	opt.midstream = data[0] >> 4 & 1;
	(void)sp_smtp_parser_set_options(p, &opt);
	seg = (size_t)(data[0] & 7) * 8 + 1;
	for (off = 1; off < size && e == SP_E_OK; off += n) {
		uint8_t	ctl = data[off++];

		if ((ctl & 0xfe) == 0xfe) {		/* a gap */
			n = off < size ? 1 : 0;
			if (n > 0)
				e = sp_smtp_parser_gap(p, (enum sp_dir)(ctl & 1),
				    0, data[off]);
			continue;
		}
		n = size - off < seg ? size - off : seg;
		e = sp_smtp_parser_feed(p, (enum sp_dir)(ctl & 1), 0,
		    data + off, n, &used);
	}
	if (e == SP_E_OK)
		(void)sp_smtp_parser_finish(p, 0);
	sp_smtp_parser_free(p);
	return (0);
}
