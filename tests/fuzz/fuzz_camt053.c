/* libFuzzer target: camt.053 from a buffer, with and without the checks. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recon_limits limits;
    struct recon_error error;
    const unsigned flags[] = {0, RECON_PARSE_NO_STATEMENT_CHECKS};
    fuzz_limits(&limits);
    for (size_t index = 0; index < 2; index++) {
        struct recon_statement *first = NULL;
        enum recon_err err =
            recon_camt053_parse(&first, (const char *)data, size, &limits, flags[index], &error);
        if ((err == RECON_OK) != (first != NULL))
            abort();
        fuzz_check_error(err, &error);
        fuzz_check_statements(first, flags[index]);
        if (flags[index] == 0) {
            struct recon_source source = {.format = RECON_FORMAT_CAMT053,
                                          .data = (const char *)data,
                                          .size = size,
                                          .limits = &limits};
            fuzz_check_stream(&source, first, err);
        }
        recon_statement_free(first);
    }
    return 0;
}
