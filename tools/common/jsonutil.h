/*
 * jsonutil.h - JSON helpers for the tools.
 */
#ifndef SP_JSONUTIL_H
#define SP_JSONUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include <smtpproto/smtpproto.h>

/*
 * A JSON string from wire bytes.  JSON needs UTF-8, the wire does not
 * promise it: valid UTF-8 is kept, every other byte is written as the
 * four characters \xNN, so nothing is lost or invented.
 */
json_object	*json_bytes(const uint8_t *p, size_t n);

/* Capture time as JSON seconds with microseconds. */
json_object	*json_ts(sp_ts ts);

/* Whether json_bytes() keeps p as it is (ASCII without NUL). */
int		 wire_plain(const uint8_t *p, size_t n);
/* json_bytes()'s text of p into out (room for 4 * n): its length. */
size_t		 wire_text(char *out, const uint8_t *p, size_t n);
/* json_ts()'s text ("%llu.%06llu") into buf (len >= 1): its length. */
size_t		 ts_text(sp_ts ts, char *buf, size_t len);

#ifndef MIN
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))
#endif

/* "client" / "server". */
const char	*dir_name(enum sp_dir d);

/* Add key -> value only when value is not NULL. */
void		 json_add(json_object *o, const char *key, json_object *v);

#endif
