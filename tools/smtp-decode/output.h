/*
 * output.h - record writers: NDJSON, Zeek smtp.log, Suricata EVE.
 */
#ifndef SMTP_DECODE_OUTPUT_H
#define SMTP_DECODE_OUTPUT_H

#include <stdio.h>

#include <json-c/json.h>

void	output_json(FILE *f, json_object *rec, int pretty);
void	ndjson_write(FILE *f, json_object *rec);
void	output_eve(FILE *f, json_object *rec);
void	output_zeek_header(FILE *f);
void	output_zeek(FILE *f, json_object *rec);
void	output_zeek_footer(FILE *f);

#endif
