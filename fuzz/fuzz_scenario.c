/* fuzz_scenario.c - libFuzzer target for scenario files (`herd run -f`). Whatever the bytes,
 * scenario_parse_buffer returns 0 or one line "fuzz.yaml:LINE:COLUMN: ..." (or "fuzz.yaml: ..."
 * never: the buffer parser always has a place), frees everything (LeakSanitizer checks), and a
 * parsed scenario has 1 to SCENARIO_MAX_GROUPS groups, each with a URL, whose connections add
 * up. Files are never read (no_files). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scenario *s = malloc(sizeof *s);
    HERD_ASSERT(s);
    char err[512] = "";
    /* The command line over the top level, as -f applies it. */
    static const struct scenario_override ov[] = {{"duration", "1s"}, {"quiet", NULL}};
    struct scenario_input in = {ov, sizeof ov / sizeof ov[0], 1};
    int rc = scenario_parse_buffer((const char *)data, size, "fuzz.yaml", &in, s, err, sizeof err);
    if (rc != 0) {
        HERD_ASSERT(rc < 0 && strncmp(err, "fuzz.yaml:", 10) == 0);
        HERD_ASSERT(strchr(err, '\n') == NULL);
    } else {
        HERD_ASSERT(s->ngroups >= 1 && s->ngroups <= SCENARIO_MAX_GROUPS);
        uint64_t total = 0;
        for (size_t i = 0; i < s->ngroups; i++) {
            HERD_ASSERT(s->groups[i].opts.client.url_text != NULL);
            HERD_ASSERT(s->groups[i].name[0] != '\0');
            total += s->groups[i].opts.client.connections;
        }
        HERD_ASSERT(total == s->connections);
        scenario_threads_assign(s, 4);
        /* threads: 0 (given) means one per CPU; an assigned share is at least 1 */
        for (size_t i = 0; i < s->ngroups; i++)
            HERD_ASSERT(s->groups[i].threads_given || s->groups[i].opts.client.threads >= 1);
    }
    scenario_free(s);
    free(s);
    return 0;
}
