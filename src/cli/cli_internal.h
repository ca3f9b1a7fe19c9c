/* cli_internal.h - helpers shared by the files of src/cli only. */
#ifndef HERD_CLI_CLI_INTERNAL_H
#define HERD_CLI_CLI_INTERNAL_H

/* Lex an unsigned decimal number `digits [ "." digits ]` at the start of s: no sign, no
 * exponent, no hex, no "inf"/"nan", no locale (strtod accepts all of those, and a load generator
 * must not read "0x10" or "1e3" as something the user did not mean). Returns 0 with *v and *end
 * set (end = first byte after the number), or -1 when s does not start with a number. */
int cli__number(const char *s, const char **end, long double *v);

#endif
