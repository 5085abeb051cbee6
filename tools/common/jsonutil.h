/*
 * jsonutil.h - the text forms of wire bytes and capture times in the
 * JSON records, and small helpers for the tools.
 */
#ifndef SP_JSONUTIL_H
#define SP_JSONUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <smtpproto/smtpproto.h>

/*
 * Wire bytes as JSON string text.  JSON needs UTF-8, the wire does not
 * promise it: valid UTF-8 is kept, every other byte (and NUL) is
 * written as the four characters \xNN, so nothing is lost or invented.
 * wire_plain(): whether wire_text() would copy p unchanged (ASCII
 * without NUL).
 */
int		 wire_plain(const uint8_t *p, size_t n);
/* p's text into out (room for 4 * n): its length. */
size_t		 wire_text(char *out, const uint8_t *p, size_t n);
/*
 * Capture time as seconds with microseconds ("%llu.%06llu", as Zeek
 * and Suricata log it) into buf (len >= 1): its length.
 */
size_t		 ts_text(sp_ts ts, char *buf, size_t len);

#ifndef MIN
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))
#endif

/* "client" / "server". */
const char	*dir_name(enum sp_dir d);

#endif
