/*
 * ndjson_check - smtp-decode's NDJSON writer (tools/smtp-decode/
 * ndjson.c) against json-c's own serializer: random trees of every
 * type the records use (strings of any bytes, signed and unsigned
 * 64-bit integers, timestamps with their own text, plain doubles,
 * booleans, null, nested and empty objects and arrays) must come out
 * byte for byte as json_object_to_json_string_ext(PLAIN |
 * NOSLASHESCAPE) writes them.  Exits 1 on the first difference.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "output.h"

static uint32_t
rnd(uint32_t *x)
{
	*x = *x * 1103515245u + 12345u;
	return (*x >> 8);
}

static json_object *
rnd_string(uint32_t *x)
{
	char	buf[80];
	size_t	n = rnd(x) % sizeof(buf);

	for (size_t i = 0; i < n; i++) {
		uint32_t r = rnd(x) % 10;

		/* Mostly text; quotes, backslashes, controls, high bytes. */
		if (r < 6)
			buf[i] = (char)('a' + rnd(x) % 26);
		else if (r == 6)
			buf[i] = '"';
		else if (r == 7)
			buf[i] = '\\';
		else if (r == 8)
			buf[i] = (char)(rnd(x) % 32);
		else
			buf[i] = (char)(0x80 + rnd(x) % 128);
	}
	return (json_object_new_string_len(buf, (int)n));
}

static json_object *
rnd_int(uint32_t *x)
{
	static const int64_t	edge[] = { 0, -1, 1, INT64_MIN, INT64_MAX,
	    9, 10, -10, 4294967296 };

	switch (rnd(x) % 4) {
	case 0:
		return (json_object_new_int64(edge[rnd(x) % 9]));
	case 1:
		return (json_object_new_uint64(UINT64_MAX - rnd(x)));
	case 2:
		return (json_object_new_int((int)rnd(x) - (1 << 23)));
	default:
		return (json_object_new_uint64(rnd(x)));
	}
}

static json_object *rnd_value(uint32_t *, int);

static json_object *
rnd_container(uint32_t *x, int depth)
{
	static const char *const keys[] = { "a", "ts", "k\"q", "path/x",
	    "\x01", "uid", "" };
	int		 obj = rnd(x) % 2, n = (int)(rnd(x) % 6);
	json_object	*c = obj ? json_object_new_object() :
	    json_object_new_array();

	for (int i = 0; i < n; i++) {
		json_object *v = rnd_value(x, depth + 1);

		if (obj)
			json_object_object_add(c, keys[rnd(x) % 7], v);
		else
			json_object_array_add(c, v);
	}
	return (c);
}

static json_object *
rnd_value(uint32_t *x, int depth)
{
	char	ts[32];

	switch (rnd(x) % (depth < 4 ? 8 : 6)) {
	case 0: return (rnd_string(x));
	case 1: return (rnd_int(x));
	case 2:
		snprintf(ts, sizeof(ts), "%u.%06u", rnd(x), rnd(x) % 1000000);
		return (json_object_new_double_s(1.5, ts));
	case 3: return (json_object_new_double((double)rnd(x) / 7.0));
	case 4: return (json_object_new_boolean(rnd(x) % 2));
	case 5: return (NULL);
	default: return (rnd_container(x, depth));
	}
}

int
main(void)
{
	uint32_t	x = 1;

	for (int round = 0; round < 20000; round++) {
		json_object	*t = rnd_container(&x, 0);
		char		*got = NULL;
		size_t		 len = 0;
		FILE		*f = open_memstream(&got, &len);
		const char	*want = json_object_to_json_string_ext(t,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

		if (f == NULL)
			return (2);
		ndjson_write(f, t);
		fclose(f);
		if (len != strlen(want) + 1 || memcmp(got, want, len - 1) != 0 ||
		    got[len - 1] != '\n') {
			fprintf(stderr, "round %d:\n got: %s want: %s\n", round,
			    got, want);
			return (1);
		}
		free(got);
		json_object_put(t);
	}
	printf("ndjson_check: 20000 trees identical\n");
	return (0);
}
