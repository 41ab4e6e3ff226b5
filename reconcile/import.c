/* Importing statements: checks, one transaction, match, book, store. */
#include "import.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "money.h"
#include "statements.h"

#define READ_CHUNK_BYTES 65536

const char *recon_format_name(enum recon_format format)
{
    switch (format) {
    case RECON_FORMAT_CAMT053:
        return "camt053";
    case RECON_FORMAT_MT940:
        return "mt940";
    case RECON_FORMAT_CSV:
        return "csv";
    }
    return "unknown";
}

enum recon_format recon_format_parse(const char *name)
{
    static const enum recon_format formats[] = {RECON_FORMAT_CAMT053, RECON_FORMAT_MT940,
                                                RECON_FORMAT_CSV};
    for (size_t i = 0; name != NULL && i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(name, recon_format_name(formats[i])) == 0)
            return formats[i];
    return (enum recon_format)0;
}

/* ---- errors ---- */

static const struct {
    const char *code;
    int http_status;
} import_errors[RECON_IMPORT_ERR__COUNT] = {
    [RECON_IMPORT_OK] = {"ok", 200},
    [RECON_IMPORT_ERR_INVALID_ARGUMENT] = {"invalid_request", 400},
    [RECON_IMPORT_ERR_IO] = {"io_error", 500},
    [RECON_IMPORT_ERR_PARSE] = {"invalid_statement", 422},
    [RECON_IMPORT_ERR_UNKNOWN_ACCOUNT] = {"unknown_account", 404},
    [RECON_IMPORT_ERR_WRONG_ACCOUNT] = {"wrong_account", 422},
    [RECON_IMPORT_ERR_CURRENCY_MISMATCH] = {"currency_mismatch", 422},
    [RECON_IMPORT_ERR_UNBALANCED] = {"statement_unbalanced", 422},
    [RECON_IMPORT_ERR_AMOUNT_TOO_LARGE] = {"amount_too_large", 422},
    [RECON_IMPORT_ERR_LEDGER] = {"database_error", 503},
    [RECON_IMPORT_ERR_NOMEM] = {"out_of_memory", 503},
};

const char *recon_import_err_code(const struct recon_import_error *error)
{
    if (error->code == RECON_IMPORT_ERR_PARSE)
        return recon_err_code(error->parse.code);
    if (error->code == RECON_IMPORT_ERR_LEDGER)
        return ledger_err_code(error->ledger);
    if ((int)error->code < 0 || error->code >= RECON_IMPORT_ERR__COUNT)
        return "invalid_request";
    return import_errors[error->code].code;
}

int recon_import_http_status(const struct recon_import_error *error)
{
    if (error->code == RECON_IMPORT_ERR_PARSE)
        return error->parse.code == RECON_ERR_NOMEM             ? 503
               : error->parse.code == RECON_ERR_IO              ? 500
               : error->parse.code == RECON_ERR_INPUT_TOO_LARGE ? 413
                                                                : 422;
    if (error->code == RECON_IMPORT_ERR_LEDGER)
        return ledger_err_http_status(error->ledger);
    if ((int)error->code < 0 || error->code >= RECON_IMPORT_ERR__COUNT)
        return 400;
    return import_errors[error->code].http_status;
}

__attribute__((format(printf, 3, 4))) static enum recon_import_err
fail(struct recon_import_error *error, enum recon_import_err code, const char *format, ...)
{
    error->code = code;
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return code;
}

static enum recon_import_err fail_ledger(struct recon_import_error *error, struct ledger *ledger,
                                         enum ledger_err err)
{
    error->ledger = err;
    return fail(error, RECON_IMPORT_ERR_LEDGER, "%s: %s", ledger_err_message(err),
                ledger_last_detail(ledger));
}

/* ---- one chunk of a statement's lines ---- */

/* What the import of a file keeps between the parser's calls (sink). */
struct import_run {
    struct ledger *ledger;
    const struct recon_import_options *options;
    struct ledger_custody_account account;
    struct recon_import_result *result;
    struct recon_import_error *error;
    enum recon_import_err code; /* the first failure */
    struct recon_match_context context;
    /* the statement being imported */
    bool statement_open;
    int64_t statement_id;
    size_t lines_done;
    struct recon_statement_summary summary;
};

/* The lines of one chunk while they are matched, booked and stored. */
struct chunk_work {
    struct import_run *run;
    const struct recon_line *lines;
    size_t count;
    struct recon_decision *decisions;
    struct recon_booking *bookings;
    size_t bookings_count;
    size_t bookings_capacity;
    int64_t *link_seqs;
    int64_t *link_disbursements;
    struct ledger_statement_line_record *records;
};

static int decision_order(const void *a, const void *b)
{
    const struct recon_decision *x = *(const struct recon_decision *const *)a;
    const struct recon_decision *y = *(const struct recon_decision *const *)b;
    int order = strcmp(x->identity, y->identity);
    return order != 0 ? order : (x < y ? -1 : x > y ? 1 : 0);
}

/* Identities, and the lines repeated inside the chunk (earlier chunks are
 * in the database by then: mark_imported). */
static bool mark_repeated(struct chunk_work *w)
{
    struct recon_decision **sorted = calloc(w->count, sizeof *sorted);
    if (sorted == NULL)
        return false;
    for (size_t i = 0; i < w->count; i++) {
        recon_line_identity(w->decisions[i].identity, &w->lines[i]);
        sorted[i] = &w->decisions[i];
    }
    qsort(sorted, w->count, sizeof *sorted, decision_order);
    for (size_t i = 1; i < w->count; i++) {
        if (strcmp(sorted[i]->identity, sorted[i - 1]->identity) != 0)
            continue;
        size_t original = (size_t)(sorted[i - 1] - w->decisions);
        sorted[i]->status = RECON_LINE_DUPLICATE;
        sorted[i]->rule = "duplicate_line";
        snprintf(sorted[i]->reason, sizeof sorted[i]->reason,
                 "same bank reference or fingerprint as line %zu of this statement",
                 w->run->lines_done + original + 1);
        if (sorted[i - 1]->status == RECON_LINE_DUPLICATE)
            sorted[i]->duplicate_of = sorted[i - 1]->duplicate_of;
    }
    free(sorted);
    return true;
}

static enum ledger_err mark_imported(struct chunk_work *w)
{
    const char **identities = calloc(w->count, sizeof *identities);
    int64_t *line_ids = calloc(w->count, sizeof *line_ids);
    enum ledger_err err = LEDGER_ERR_NOMEM;
    if (identities != NULL && line_ids != NULL) {
        for (size_t i = 0; i < w->count; i++)
            identities[i] = w->decisions[i].identity;
        err = ledger_line_identities_find(w->run->ledger, w->run->account.id, identities, w->count,
                                          line_ids);
    }
    for (size_t i = 0; err == LEDGER_OK && i < w->count; i++) {
        if (line_ids[i] == 0)
            continue;
        struct recon_decision *decision = &w->decisions[i];
        decision->status = RECON_LINE_DUPLICATE;
        decision->rule = "duplicate_line";
        decision->duplicate_of = line_ids[i];
        snprintf(decision->reason, sizeof decision->reason,
                 "imported before as statement line %lld: not booked again",
                 (long long)line_ids[i]);
    }
    free(line_ids);
    free(identities);
    return err;
}

static enum ledger_err find_payin_cases(struct chunk_work *w, struct ledger_payin_case *cases)
{
    const char **payins = calloc(w->count, sizeof *payins);
    if (payins == NULL)
        return LEDGER_ERR_NOMEM;
    for (size_t i = 0; i < w->count; i++) {
        bool valid = false;
        recon_line_payin(w->decisions[i].payin_no, &valid, &w->lines[i]);
        payins[i] = valid && w->decisions[i].status == 0 ? w->decisions[i].payin_no : "";
    }
    enum ledger_err err = ledger_payin_cases_find(w->run->ledger, payins, w->count, cases);
    free(payins);
    return err;
}

static bool reserve_bookings(struct chunk_work *w)
{
    if (w->bookings_count + RECON_BATCH_REFERENCES_MAX <= w->bookings_capacity)
        return true;
    size_t capacity = 2 * w->bookings_capacity + RECON_BATCH_REFERENCES_MAX;
    struct recon_booking *grown = realloc(w->bookings, capacity * sizeof *grown);
    if (grown == NULL)
        return false;
    for (size_t i = 0; i < w->bookings_count; i++) /* pointers into the slots */
        grown[i].booking.idempotency_key = grown[i].key;
    w->bookings = grown;
    w->bookings_capacity = capacity;
    return true;
}

static enum recon_import_err match_lines(struct chunk_work *w,
                                         const struct ledger_payin_case *cases)
{
    for (size_t i = 0; i < w->count; i++) {
        if (w->decisions[i].status == RECON_LINE_DUPLICATE)
            continue;
        if (!reserve_bookings(w))
            return fail(w->run->error, RECON_IMPORT_ERR_NOMEM, "out of memory");
        recon_match_line(&w->run->context, &w->lines[i], i, &cases[i], &w->decisions[i],
                         w->bookings, &w->bookings_count);
    }
    return RECON_IMPORT_OK;
}

static enum recon_import_err book_lines(struct chunk_work *w)
{
    struct import_run *run = w->run;
    struct ledger_statement_booking *bookings =
        calloc(w->bookings_count ? w->bookings_count : 1, sizeof *bookings);
    if (bookings == NULL)
        return fail(run->error, RECON_IMPORT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < w->bookings_count; i++)
        bookings[i] = w->bookings[i].booking;
    size_t failed = 0;
    enum ledger_err err =
        ledger_statement_book(run->ledger, run->options->actor, run->account.id,
                              run->account.currency, bookings, w->bookings_count, &failed);
    for (size_t i = 0; err == LEDGER_OK && i < w->bookings_count; i++) {
        w->bookings[i].booking.seq = bookings[i].seq;
        w->bookings[i].booking.posting_idx = bookings[i].posting_idx;
    }
    free(bookings);
    if (err == LEDGER_OK)
        return RECON_IMPORT_OK;
    enum recon_import_err code = fail_ledger(run->error, run->ledger, err);
    if (failed < w->bookings_count) {
        size_t line = w->bookings[failed].line_index;
        snprintf(run->error->message, sizeof run->error->message,
                 "line %zu (input line %llu): %s: %.200s", run->lines_done + line + 1,
                 (unsigned long long)w->lines[line].source_line, ledger_err_message(err),
                 ledger_last_detail(run->ledger));
    }
    return code;
}

/* The entries of each line (booked, or matched) for storing. */
static bool link_entries(struct chunk_work *w)
{
    size_t total = w->bookings_count + w->count;
    w->link_seqs = calloc(total, sizeof *w->link_seqs);
    w->link_disbursements = calloc(total, sizeof *w->link_disbursements);
    if (w->link_seqs == NULL || w->link_disbursements == NULL)
        return false;
    for (size_t i = 0; i < w->bookings_count; i++) {
        w->link_seqs[i] = w->bookings[i].booking.seq;
        w->link_disbursements[i] = w->bookings[i].booking.disbursement_id;
    }
    for (size_t i = 0; i < w->count; i++) {
        struct recon_decision *d = &w->decisions[i];
        if (d->bookings_count > 0 || d->matched_seq == 0)
            continue;
        d->bookings_first = w->bookings_count + i; /* the slot after the bookings */
        d->bookings_count = 1;
        w->link_seqs[d->bookings_first] = d->matched_seq;
        w->link_disbursements[d->bookings_first] = d->disbursement_id;
    }
    return true;
}

static void fill_record(struct chunk_work *w, size_t i)
{
    const struct recon_line *line = &w->lines[i];
    const struct recon_decision *d = &w->decisions[i];
    /* A receipt in a collective entry is named by its posting there. */
    bool collective = d->bookings_count == 1 && d->bookings_first < w->bookings_count &&
                      w->bookings[d->bookings_first].booking.posting_idx > 0;
    w->records[i] = (struct ledger_statement_line_record){
        .identity = d->identity,
        .value_date_days = line->value_date_days,
        .booking_date_days = line->booking_date_days,
        .amount_minor = line->amount_minor,
        .currency = line->currency,
        .reversal = line->reversal,
        .bank_ref = line->bank_reference,
        .end_to_end_id = line->end_to_end_id,
        .counterparty_name = line->counterparty_name,
        .counterparty_account = line->counterparty_account,
        .remittance = line->remittance,
        .return_reason = line->return_reason,
        .payin_no = d->payin_no,
        .status = recon_line_status_name(d->status),
        .rule = d->rule,
        .reason = d->reason,
        .candidates = d->candidates,
        .duplicate_of = d->duplicate_of,
        .disbursement_id = d->disbursement_id,
        .posting_idx = collective ? w->bookings[d->bookings_first].booking.posting_idx : 0,
        .entries_count = d->bookings_count,
        .entry_seqs = d->bookings_count ? &w->link_seqs[d->bookings_first] : NULL,
        .entry_disbursement_ids =
            d->bookings_count ? &w->link_disbursements[d->bookings_first] : NULL,
    };
    struct recon_statement_summary *s = &w->run->summary;
    size_t *counters[] = {
        [RECON_LINE_BOOKED] = &s->booked,       [RECON_LINE_MATCHED] = &s->matched,
        [RECON_LINE_SETTLED] = &s->settled,     [RECON_LINE_RETURNED] = &s->returned,
        [RECON_LINE_SUSPENSE] = &s->suspense,   [RECON_LINE_EXCEPTION] = &s->exceptions,
        [RECON_LINE_DUPLICATE] = &s->duplicates};
    (*counters[d->status])++;
    s->lines++;
}

static void chunk_work_free(struct chunk_work *w)
{
    free(w->records);
    free(w->link_disbursements);
    free(w->link_seqs);
    free(w->bookings);
    free(w->decisions);
}

static enum recon_import_err import_chunk(struct chunk_work *w)
{
    struct import_run *run = w->run;
    enum recon_import_err code = RECON_IMPORT_OK;
    enum ledger_err err = LEDGER_OK;
    struct ledger_payin_case *cases = calloc(w->count, sizeof *cases);
    w->decisions = calloc(w->count, sizeof *w->decisions);
    w->records = calloc(w->count, sizeof *w->records);
    if (cases == NULL || w->decisions == NULL || w->records == NULL || !mark_repeated(w)) {
        code = fail(run->error, RECON_IMPORT_ERR_NOMEM, "out of memory");
        goto free_work;
    }
    /* The previous chunk's lines were stored meanwhile (lines_add). */
    if ((err = ledger_statement_lines_wait(run->ledger)) != LEDGER_OK ||
        (err = mark_imported(w)) != LEDGER_OK || (err = find_payin_cases(w, cases)) != LEDGER_OK) {
        code = fail_ledger(run->error, run->ledger, err);
        goto free_work;
    }
    if ((code = match_lines(w, cases)) != RECON_IMPORT_OK ||
        (code = book_lines(w)) != RECON_IMPORT_OK)
        goto free_work;
    if (!link_entries(w)) {
        code = fail(run->error, RECON_IMPORT_ERR_NOMEM, "out of memory");
        goto free_work;
    }
    for (size_t i = 0; i < w->count; i++)
        fill_record(w, i);
    if ((err = ledger_statement_lines_add(run->ledger, run->statement_id, run->account.id,
                                          run->lines_done, w->records, w->count)) != LEDGER_OK)
        code = fail_ledger(run->error, run->ledger, err);
free_work:
    free(cases);
    chunk_work_free(w);
    return code;
}

/* ---- a statement: checked, opened, its chunks, closed ---- */

/* Account numbers as printed compare without spaces, letters upper-case. */
static bool account_matches(const char *statement_account, const char *account_no)
{
    for (;;) {
        while (*statement_account == ' ')
            statement_account++;
        while (*account_no == ' ')
            account_no++;
        char a = *statement_account;
        char b = *account_no;
        a = (a >= 'a' && a <= 'z') ? (char)(a - 32) : a;
        b = (b >= 'a' && b <= 'z') ? (char)(b - 32) : b;
        if (a != b)
            return false;
        if (a == '\0')
            return true;
        statement_account++;
        account_no++;
    }
}

static size_t statement_number(const struct import_run *run)
{
    return run->result->statements_count + 1;
}

/* The record of the statement as far as read (closing: as given so far). */
static struct ledger_statement_record statement_record(const struct import_run *run,
                                                       const struct recon_statement *st)
{
    const struct recon_statement_summary *s = &run->summary;
    const struct recon_balance *closing = st->closing.present ? &st->closing : &st->opening;
    struct ledger_statement_record record = {
        .bank_account_id = run->account.id,
        .format = recon_format_name(st->format),
        .file_index = (int)run->result->statements_count,
        .statement_ref = st->statement_id,
        .sequence = st->sequence,
        .currency = st->currency,
        .opening_minor = st->opening.amount_minor,
        .opening_date_days = st->opening.date_days,
        .closing_minor = closing->amount_minor,
        .closing_date_days = closing->date_days,
        .line_count = (int)s->lines,
        .booked_count = (int)(s->booked + s->settled + s->returned),
        .matched_count = (int)s->matched,
        .suspense_count = (int)s->suspense,
        .exception_count = (int)s->exceptions,
        .duplicate_count = (int)s->duplicates,
        .settled_count = (int)s->settled,
        .returned_count = (int)s->returned,
        .imported_by = run->options->actor,
    };
    memcpy(record.file_digest, run->result->file_digest, LEDGER_HASH_SIZE);
    return record;
}

/* The open items the lines may match: receipts booked through the API and
 * settlements with value dates in the statement's period and a window
 * around it (the period's end is not known yet when the closing balance
 * follows the lines: a year is assumed). */
static enum ledger_err load_open_items(struct import_run *run, const struct recon_statement *st,
                                       const struct recon_line *first_line)
{
    int32_t from = st->opening.date_days;
    if (from == RECON_DATE_NONE && first_line != NULL)
        from = first_line->value_date_days;
    if (from == RECON_DATE_NONE)
        from = st->closing.date_days;
    if (from == RECON_DATE_NONE)
        return LEDGER_OK;
    int32_t to = st->closing.present && st->closing.date_days != RECON_DATE_NONE
                     ? st->closing.date_days
                     : from + 366;
    enum ledger_err err =
        ledger_open_items_load(run->ledger, run->account.id, from - RECON_MATCH_DATE_WINDOW_DAYS,
                               to + RECON_MATCH_DATE_WINDOW_DAYS, &run->context.items);
    if (err == LEDGER_OK && run->context.items.count > 0 &&
        (run->context.item_used = calloc(run->context.items.count, sizeof(bool))) == NULL)
        err = LEDGER_ERR_NOMEM;
    return err;
}

static void statement_forget(struct import_run *run)
{
    recon_match_index_free(&run->context);
    ledger_open_items_free(&run->context.items);
    free(run->context.item_used);
    run->context.item_used = NULL;
    run->statement_open = false;
}

static enum recon_import_err statement_begin(struct import_run *run,
                                             const struct recon_statement *st,
                                             const struct recon_line *first_line)
{
    struct recon_import_error *error = run->error;
    error->statement_index = run->result->statements_count;
    if (!account_matches(st->account_id, run->account.account_no))
        return fail(error, RECON_IMPORT_ERR_WRONG_ACCOUNT,
                    "statement %zu is for another account than the one imported for",
                    statement_number(run));
    if (strcmp(st->currency, run->account.currency) != 0)
        return fail(error, RECON_IMPORT_ERR_CURRENCY_MISMATCH,
                    "statement %zu is in %s, the account in %s", statement_number(run),
                    st->currency, run->account.currency);
    if (!st->opening.present)
        return fail(error, RECON_IMPORT_ERR_PARSE, "statement %zu has no opening balance",
                    statement_number(run));
    memset(&run->summary, 0, sizeof run->summary);
    run->lines_done = 0;
    run->statement_open = true;
    struct ledger_statement_record record = statement_record(run, st);
    enum ledger_err err;
    if ((err = ledger_statement_open(run->ledger, &record, &run->statement_id)) != LEDGER_OK ||
        (err = load_open_items(run, st, first_line)) != LEDGER_OK)
        return fail_ledger(error, run->ledger, err);
    return RECON_IMPORT_OK;
}

/* Each line of a chunk is within the largest amount of one entry: one
 * past it refuses the whole file, naming it. */
static enum recon_import_err amounts_check(struct import_run *run, const struct recon_line *lines,
                                           size_t count)
{
    int64_t max = ledger_amount_max(run->ledger);
    for (size_t i = 0; i < count; i++) {
        int64_t amount = lines[i].amount_minor;
        if (amount <= max && amount >= -max)
            continue;
        int decimals = ledger_currency_decimals(run->account.currency);
        char amount_text[LEDGER_AMOUNT_TEXT_MAX];
        char max_text[LEDGER_AMOUNT_TEXT_MAX];
        ledger_money_format(amount_text, sizeof amount_text, amount, decimals < 0 ? 2 : decimals);
        ledger_money_format(max_text, sizeof max_text, max, decimals < 0 ? 2 : decimals);
        run->error->statement_index = run->result->statements_count;
        run->error->parse.line = lines[i].source_line;
        return fail(run->error, RECON_IMPORT_ERR_AMOUNT_TOO_LARGE,
                    "statement %zu, line %zu (input line %llu): amount %s is over the largest "
                    "amount of one line, %s",
                    statement_number(run), run->lines_done + i + 1,
                    (unsigned long long)lines[i].source_line, amount_text, max_text);
    }
    return RECON_IMPORT_OK;
}

static enum recon_err sink_lines(void *context, const struct recon_statement *st,
                                 const struct recon_line *lines, size_t count)
{
    struct import_run *run = context;
    if ((run->code = amounts_check(run, lines, count)) != RECON_IMPORT_OK)
        return RECON_ERR_STOPPED;
    if (!run->statement_open &&
        (run->code = statement_begin(run, st, &lines[0])) != RECON_IMPORT_OK)
        return RECON_ERR_STOPPED;
    struct chunk_work work = {.run = run, .lines = lines, .count = count};
    if ((run->code = import_chunk(&work)) != RECON_IMPORT_OK)
        return RECON_ERR_STOPPED;
    run->lines_done += count;
    return RECON_OK;
}

bool recon_import_result_add(struct recon_import_result *result,
                             const struct recon_statement_summary *s)
{
    if (result->statements_count == result->statements_capacity) {
        size_t capacity = result->statements_capacity ? 2 * result->statements_capacity : 4;
        struct recon_statement_summary *grown =
            realloc(result->statements, capacity * sizeof *grown);
        if (grown == NULL)
            return false;
        result->statements = grown;
        result->statements_capacity = capacity;
    }
    struct recon_statement_summary *total = &result->total;
    if (result->statements_count == 0) {
        total->statement_id = s->statement_id;
        total->opening_minor = s->opening_minor;
    }
    result->statements[result->statements_count++] = *s;
    total->closing_minor = s->closing_minor;
    total->closing_date_days = s->closing_date_days;
    total->lines += s->lines;
    total->booked += s->booked;
    total->matched += s->matched;
    total->settled += s->settled;
    total->returned += s->returned;
    total->suspense += s->suspense;
    total->exceptions += s->exceptions;
    total->duplicates += s->duplicates;
    return true;
}

static enum recon_err sink_end(void *context, const struct recon_statement *st)
{
    struct import_run *run = context;
    if (!run->statement_open && (run->code = statement_begin(run, st, NULL)) != RECON_IMPORT_OK)
        return RECON_ERR_STOPPED;
    struct recon_statement_summary *s = &run->summary;
    s->statement_id = run->statement_id;
    s->opening_minor = st->opening.amount_minor;
    s->closing_minor = st->closing.amount_minor;
    s->closing_date_days = st->closing.date_days;
    struct ledger_statement_record record = statement_record(run, st);
    enum ledger_err err = ledger_statement_lines_wait(run->ledger);
    if (err == LEDGER_OK)
        err = ledger_statement_close(run->ledger, run->statement_id, &record);
    statement_forget(run);
    if (err != LEDGER_OK) {
        run->code = fail_ledger(run->error, run->ledger, err);
        return RECON_ERR_STOPPED;
    }
    if (!recon_import_result_add(run->result, s)) {
        run->code = fail(run->error, RECON_IMPORT_ERR_NOMEM, "out of memory");
        return RECON_ERR_STOPPED;
    }
    return RECON_OK;
}

/* ---- the file ---- */

/* The book balance and difference after the commit; a failure is kept in
 * the result (the import stands). */
static void reconcile_after(struct ledger *ledger, struct recon_import_result *result)
{
    struct ledger_report report;
    result->report_err = ledger_reconciliation_report(ledger, result->bank_account_id,
                                                      result->total.closing_date_days, &report);
    if (result->report_err != LEDGER_OK) {
        snprintf(result->report_detail, sizeof result->report_detail, "%s",
                 ledger_last_detail(ledger));
        return;
    }
    result->book_balance_minor = report.book_balance_minor;
    result->difference_minor = report.difference_minor;
    ledger_report_free(&report);
}

/* The parser's failure as the import's, unless the import stopped it. */
static enum recon_import_err parse_failed(struct import_run *run, enum recon_err err)
{
    struct recon_import_error *error = run->error;
    if (err == RECON_ERR_STOPPED && run->code != RECON_IMPORT_OK)
        return run->code;
    if (err == RECON_ERR_UNBALANCED) {
        error->statement_index = error->parse.statement_index;
        return fail(error, RECON_IMPORT_ERR_UNBALANCED, "statement %zu: %s",
                    error->parse.statement_index + 1, error->parse.message);
    }
    error->statement_index = error->parse.statement_index;
    return fail(error, RECON_IMPORT_ERR_PARSE, "%s at %s (line %llu)", error->parse.message,
                error->parse.path, (unsigned long long)error->parse.line);
}

/* Parses source into the ledger in one transaction: every chunk of lines is
 * matched, booked and stored as it is read, and everything is rolled back
 * unless the whole file parsed and every statement balanced. */
static enum recon_import_err import_stream(struct ledger *ledger, const struct recon_source *source,
                                           const struct recon_import_options *options,
                                           struct recon_import_result *result,
                                           struct recon_import_error *error)
{
    struct import_run run = {
        .ledger = ledger, .options = options, .result = result, .error = error};
    enum ledger_err err =
        ledger_custody_account_find(ledger, options->bank_account_no, &run.account);
    if (err != LEDGER_OK)
        return fail(error,
                    err == LEDGER_ERR_UNKNOWN_ACCOUNT ? RECON_IMPORT_ERR_UNKNOWN_ACCOUNT
                                                      : RECON_IMPORT_ERR_LEDGER,
                    "%s", ledger_last_detail(ledger));
    run.context = (struct recon_match_context){.bank_account_id = run.account.id,
                                               .currency = run.account.currency};
    result->bank_account_id = run.account.id;
    snprintf(result->currency, sizeof result->currency, "%s", run.account.currency);
    result->format = options->format;
    if ((err = ledger_import_begin(ledger, options->actor)) != LEDGER_OK)
        return fail_ledger(error, ledger, err);
    enum recon_import_err code = RECON_IMPORT_OK;
    if ((err = ledger_payouts_load(ledger, run.account.currency, &run.context.payouts)) !=
        LEDGER_OK)
        code = fail_ledger(error, ledger, err);
    if (code == RECON_IMPORT_OK) {
        struct recon_sink sink = {.context = &run,
                                  .chunk_lines = options->chunk_lines,
                                  .lines = sink_lines,
                                  .end = sink_end};
        enum recon_err parsed = recon_parse_stream(source, &sink, &error->parse);
        if (parsed != RECON_OK)
            code = parse_failed(&run, parsed);
    }
    statement_forget(&run);
    ledger_payouts_free(&run.context.payouts);
    if (code == RECON_IMPORT_OK && (err = ledger_import_commit(ledger)) != LEDGER_OK)
        code = fail_ledger(error, ledger, err);
    else if (code != RECON_IMPORT_OK)
        ledger_import_rollback(ledger);
    if (code == RECON_IMPORT_OK)
        reconcile_after(ledger, result);
    return code;
}

static bool options_valid(const struct recon_import_options *options)
{
    return options != NULL && options->actor != NULL && options->bank_account_no != NULL &&
           (options->format == RECON_FORMAT_CAMT053 || options->format == RECON_FORMAT_MT940 ||
            (options->format == RECON_FORMAT_CSV && options->mapping != NULL));
}

static void result_init(struct recon_import_result *result, struct recon_import_error *error)
{
    memset(result, 0, sizeof *result);
    memset(error, 0, sizeof *error);
}

enum recon_import_err recon_import_buffer(struct ledger *ledger, const char *data, size_t size,
                                          const struct recon_import_options *options,
                                          struct recon_import_result *result,
                                          struct recon_import_error *error)
{
    result_init(result, error);
    if (!options_valid(options) || data == NULL)
        return fail(error, RECON_IMPORT_ERR_INVALID_ARGUMENT, "format, account and actor needed");
    crypto_generichash(result->file_digest, LEDGER_HASH_SIZE, (const unsigned char *)data, size,
                       NULL, 0);
    struct recon_source source = {.format = options->format,
                                  .data = data,
                                  .size = size,
                                  .encoding = options->encoding,
                                  .mapping = options->mapping,
                                  .limits = options->limits};
    enum recon_import_err code = import_stream(ledger, &source, options, result, error);
    if (code != RECON_IMPORT_OK)
        recon_import_result_free(result);
    return code;
}

static bool file_digest(uint8_t out[LEDGER_HASH_SIZE], const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return false;
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, LEDGER_HASH_SIZE);
    unsigned char *chunk = malloc(READ_CHUNK_BYTES);
    size_t got = 0;
    while (chunk != NULL && (got = fread(chunk, 1, READ_CHUNK_BYTES, file)) > 0)
        crypto_generichash_update(&state, chunk, got);
    bool ok = chunk != NULL && !ferror(file);
    free(chunk);
    fclose(file);
    crypto_generichash_final(&state, out, LEDGER_HASH_SIZE);
    return ok;
}

enum recon_import_err recon_import_file(struct ledger *ledger, const char *path,
                                        const struct recon_import_options *options,
                                        struct recon_import_result *result,
                                        struct recon_import_error *error)
{
    result_init(result, error);
    if (!options_valid(options) || path == NULL)
        return fail(error, RECON_IMPORT_ERR_INVALID_ARGUMENT, "format, account and actor needed");
    if (!file_digest(result->file_digest, path))
        return fail(error, RECON_IMPORT_ERR_IO, "could not read the statement file");
    struct recon_source source = {.format = options->format,
                                  .path = path,
                                  .encoding = options->encoding,
                                  .mapping = options->mapping,
                                  .limits = options->limits};
    enum recon_import_err code = import_stream(ledger, &source, options, result, error);
    if (code != RECON_IMPORT_OK)
        recon_import_result_free(result);
    return code;
}

void recon_import_result_free(struct recon_import_result *result)
{
    free(result->statements);
    result->statements = NULL;
    result->statements_count = 0;
    result->statements_capacity = 0;
}
