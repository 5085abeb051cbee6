/*
 * ndjw.h - the buffered JSON text writer under the NDJSON writers
 * (jv.c for arena trees, smtp-decode's ndjson.c for json-c trees):
 * strings escaped exactly as json-c escapes them with
 * JSON_C_TO_STRING_NOSLASHESCAPE, integers without snprintf.
 */
#ifndef SP_NDJW_H
#define SP_NDJW_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NDJ_BUF	65536

struct ndj {
	FILE	*f;
	size_t	 len;
	char	 b[NDJ_BUF];
};

void	ndj_put_slow(struct ndj *w, const char *p, size_t n);
void	ndj_flush(struct ndj *w);
void	ndj_string(struct ndj *w, const char *s, size_t n);
void	ndj_key(struct ndj *w, const char *k);
void	ndj_int64(struct ndj *w, int64_t v);

/*
 * The decimal digits of v, written backwards to end at num[NDJ_NUM]:
 * returns the index of the first.  Numbers in the records are written
 * with it, never with snprintf (it showed in profiles).
 */
#define NDJ_NUM	24
size_t	ndj_digits(uint64_t v, char *num);
void	ndj_uint64(struct ndj *w, uint64_t v);

static inline void
ndj_put(struct ndj *w, const char *p, size_t n)
{
	if (n > NDJ_BUF - w->len) {
		ndj_put_slow(w, p, n);
		return;
	}
	memcpy(w->b + w->len, p, n);
	w->len += n;
}

#endif
