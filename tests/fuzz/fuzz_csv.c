/* libFuzzer target: CSV. Input "MAPPING\0DATA" fuzzes the mapping too;
 * without a NUL byte the first byte picks one of the fixed mappings. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const mappings[] = {
    "date = Date\namount = Amount\nbalance = Balance\nreference = Ref\ncounterparty = Name\n"
    "remittance = Memo\n",
    "encoding = gb18030\nthousands = ,\ndate = D\ncredit = C\ndebit = X\nbalance = B\n",
    "delimiter = ;\ndecimal = ,\nthousands = .\ndate_format = DD.MM.YYYY\norder = newest_first\n"
    "header = no\nskip_lines = 1\ndate = #1\namount = #2\nbalance = #3\nremittance = #4\n",
    "delimiter = tab\ndate_format = YYYY/M/D*\ncurrency = JPY\ndate = #1\nbooking_date = #2\n"
    "amount = #3\nheader = no\n",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recon_limits limits;
    struct recon_error error;
    struct recon_csv_mapping *mapping = NULL;
    const char *text = (const char *)data;
    const unsigned flags[] = {0, RECON_PARSE_NO_STATEMENT_CHECKS};
    const char *separator = memchr(text, '\0', size);
    if (separator != NULL) {
        size_t mapping_size = (size_t)(separator - text);
        if (recon_csv_mapping_parse(&mapping, text, mapping_size, &error) != RECON_OK)
            return 0;
        text = separator + 1;
        size -= mapping_size + 1;
    } else {
        const char *chosen = mappings[size > 0 ? data[0] % 4 : 0];
        if (recon_csv_mapping_parse(&mapping, chosen, strlen(chosen), &error) != RECON_OK)
            abort();
    }
    fuzz_limits(&limits);
    for (size_t index = 0; index < 2; index++) {
        struct recon_statement *first = NULL;
        enum recon_err err =
            recon_csv_parse(&first, text, size, mapping, &limits, flags[index], &error);
        if ((err == RECON_OK) != (first != NULL))
            abort();
        fuzz_check_error(err, &error);
        if (first != NULL && first->next != NULL)
            abort(); /* CSV is one statement */
        fuzz_check_statements(first, flags[index]);
        recon_statement_free(first);
    }
    recon_csv_mapping_free(mapping);
    return 0;
}
