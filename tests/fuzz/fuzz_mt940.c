/* libFuzzer target: MT940 from a buffer, as UTF-8 and as CP852, with and
 * without the checks. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recon_limits limits;
    struct recon_error error;
    const unsigned flags[] = {0, RECON_PARSE_NO_STATEMENT_CHECKS};
    /* The last byte picks the character set, so that both paths are fuzzed. */
    const char *encoding = size > 0 && (data[size - 1] & 1) ? "CP852" : NULL;
    fuzz_limits(&limits);
    for (size_t index = 0; index < 2; index++) {
        struct recon_statement *first = NULL;
        enum recon_err err = recon_mt940_parse(&first, (const char *)data, size, encoding, &limits,
                                               flags[index], &error);
        if ((err == RECON_OK) != (first != NULL))
            abort();
        fuzz_check_error(err, &error);
        fuzz_check_statements(first, flags[index]);
        if (flags[index] == 0) {
            struct recon_source source = {.format = RECON_FORMAT_MT940,
                                          .data = (const char *)data,
                                          .size = size,
                                          .encoding = encoding,
                                          .limits = &limits};
            fuzz_check_stream(&source, first, err);
        }
        recon_statement_free(first);
    }
    return 0;
}
