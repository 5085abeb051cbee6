/*
 * fuzz_script.c - the session-script reader on arbitrary text, with
 * the writer as the oracle: whatever parses must write and read back
 * as the same script (sp_script_equal).  A script that does not parse
 * must fail with SP_E_FORMAT and a line number inside the input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpproto/script.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned
count_lines(const uint8_t *p, size_t n)
{
	unsigned	k = 1;

	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return (k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_script_error	 err;
	sp_script		*s = NULL, *t = NULL;
	char			*out = NULL;
	size_t			 len;
	sp_err			 e;

	e = sp_script_parse(&s, (const char *)data, size, NULL, &err);
	if (e == SP_E_FORMAT) {
		if (err.line == 0 || err.line > count_lines(data, size))
			abort();	/* an error must say where */
		return (0);
	}
	if (e != SP_E_OK)
		return (0);
	if (sp_script_write(s, &out, &len) != SP_E_OK)
		abort();
	e = sp_script_parse(&t, out, len, NULL, &err);
	if (e != SP_E_OK || !sp_script_equal(s, t)) {
		fprintf(stderr, "round trip broke (%s, line %u: %s):\n%s\n",
		    sp_errname(e), err.line, err.msg, out);
		abort();
	}
	free(out);
	sp_script_free(s);
	sp_script_free(t);
	return (0);
}
