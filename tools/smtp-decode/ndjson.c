/*
 * ndjson.c - a json-c tree written as one line of JSON, byte for byte
 * what json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE) writes, but straight into a buffer.
 *
 * Why: json-c serializes through a printbuf per object, snprintf for
 * every number and a byte-wise escape loop; on a large capture that was
 * a tenth of smtp-decode's time.  The primitives are tools/common/
 * ndjw.c, shared with the writer of record trees (jv.c).  Types this
 * writer does not know (a double without its own text) are handed to
 * json-c, so the output is json-c's in every case.
 */
#include <string.h>

#include "ndjw.h"
#include "output.h"

static void
ndj_puts(struct ndj *w, const char *s)
{
	ndj_put(w, s, strlen(s));
}

static void
ndj_int(struct ndj *w, json_object *o)
{
	int64_t	v = json_object_get_int64(o);

	/* json-c prints an unsigned 64-bit value as unsigned. */
	if (v == INT64_MAX)
		ndj_uint64(w, json_object_get_uint64(o));
	else
		ndj_int64(w, v);
}

static void	ndj_value(struct ndj *, json_object *);

static void
ndj_object(struct ndj *w, json_object *o)
{
	int	first = 1;

	ndj_put(w, "{", 1);
	json_object_object_foreach(o, key, val) {
		if (!first)
			ndj_put(w, ",", 1);
		first = 0;
		ndj_key(w, key);
		ndj_value(w, val);
	}
	ndj_put(w, "}", 1);
}

static void
ndj_array(struct ndj *w, json_object *o)
{
	size_t	n = json_object_array_length(o);

	ndj_put(w, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			ndj_put(w, ",", 1);
		ndj_value(w, json_object_array_get_idx(o, i));
	}
	ndj_put(w, "]", 1);
}

static void
ndj_value(struct ndj *w, json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null:
		ndj_put(w, "null", 4);
		return;
	case json_type_boolean:
		ndj_puts(w, json_object_get_boolean(o) ? "true" : "false");
		return;
	case json_type_int:
		ndj_int(w, o);
		return;
	case json_type_string:
		ndj_string(w, json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
		return;
	case json_type_object:
		ndj_object(w, o);
		return;
	case json_type_array:
		ndj_array(w, o);
		return;
	default:	/* doubles: json-c knows their text */
		ndj_puts(w, json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		return;
	}
}

void
ndjson_write(FILE *f, json_object *rec)
{
	struct ndj	w;

	w.f = f;
	w.len = 0;
	ndj_value(&w, rec);
	ndj_put(&w, "\n", 1);
	ndj_flush(&w);
}
