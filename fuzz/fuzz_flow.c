/* fuzz_flow.c - libFuzzer target for flows (--flow F, a scenario group's flow:). Whatever the
 * bytes, flow_compile_buffer returns 0 with a program whose jumps stay inside it, or one line
 * "fuzz.yaml:LINE:COLUMN: ..." and nothing allocated (LeakSanitizer checks). A compiled flow's
 * templates render within their max_len. Files are never read (no_files). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "flow/flow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rand_cb(void *ctx)
{
    (void)ctx;
    return UINT64_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char csv[] = "user,token\nann,abc\n";
    struct csv_table t;
    char err[512] = "";
    HERD_ASSERT(csv_parse(csv, sizeof csv - 1, "d.csv", &t, err, sizeof err) == 0);
    struct flow_input in = {&t, 1};
    struct flow *f = NULL;
    int rc = flow_compile_buffer((const char *)data, size, "fuzz.yaml", &in, &f, err, sizeof err);
    if (rc != 0) {
        HERD_ASSERT(f == NULL && strncmp(err, "fuzz.yaml:", 10) == 0);
        HERD_ASSERT(strchr(err, '\n') == NULL);
    } else {
        HERD_ASSERT(f && f->nsteps <= FLOW_MAX_STEPS);
        char vb[FLOW_VAR_MAX] = {0};
        const char *vars[FLOW_MAX_VARS];
        uint16_t lens[FLOW_MAX_VARS];
        for (size_t i = 0; i < FLOW_MAX_VARS; i++) {
            vars[i] = vb;
            lens[i] = FLOW_VAR_MAX;
        }
        struct flow_env e = {.seq = UINT64_MAX,
                             .conn = UINT64_MAX,
                             .var = vars,
                             .var_len = lens,
                             .data = &t,
                             .rand64 = rand_cb,
                             .real_ns = UINT64_MAX};
        char *out = malloc(f->max_render + 1);
        HERD_ASSERT(out);
        for (size_t i = 0; i < f->nsteps; i++) {
            const struct flow_step *s = &f->steps[i];
            if (s->op == FOP_REPEAT || s->op == FOP_END)
                HERD_ASSERT(s->jump <= f->nsteps);
            if (s->op == FOP_SEND || s->op == FOP_REQUEST)
                HERD_ASSERT(flow_render(&s->tmpl, &e, out) <= s->tmpl.max_len);
        }
        free(out);
        flow_free(f);
    }
    csv_free(&t);
    return 0;
}
