/* Bank statements and reconciliation over HTTP: uploading a statement file
 * (imported, matched and booked by reconcile/import.h in one transaction,
 * or refused with nothing booked), a statement with its lines, the
 * exceptions queue, assigning a suspense line to a case, and the
 * reconciliation report of a custody account.
 *
 * An upload is identified by its Idempotency-Key and, besides, by the
 * file's BLAKE2b-256 digest: a file the account has imported before is not
 * imported again (its lines could only be duplicates) and is answered with
 * what the first import stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "handlers.h"
#include "handlers_util.h"
#include "server_internal.h"
#include "import.h"
#include "query.h"
#include "statement_json.h"
#include "statement_query.h"

#define MEDIA_TYPE_MAX 128
#define MAPPING_PATH_MAX 1024
#define ASSIGN_PATH_MAX 64
#define SNIFF_BYTES_MAX 4096 /* leading blanks skipped when guessing a format */
#define DETAIL_MAX 320

/* ---- small JSON helpers ---- */

static json_t *date_json(int32_t days)
{
    char text[LEDGER_DATE_TEXT_SIZE];
    return days == LEDGER_VALUE_DATE_NONE ? json_null() : json_string(ledger_date_text(text, days));
}

static json_t *id_or_null(int64_t id)
{
    return id > 0 ? json_integer((json_int_t)id) : json_null();
}

static json_t *text_or_null(const char *text)
{
    return text != NULL && text[0] != '\0' ? json_string(text) : json_null();
}

/* A decimal id of a query parameter: 0 when absent, -1 when malformed. */
static int64_t query_id(struct api_handler_context *context, const char *name)
{
    const char *text = api_query(context, name);
    if (text == NULL)
        return 0;
    size_t length = strlen(text);
    int64_t value = 0;
    for (size_t i = 0; i < length; i++) {
        if (length > 18 || text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0');
    }
    return length > 0 && value > 0 ? value : -1;
}

/* ?bank_account=ID (the custody account's id, as GET /v1/bank-accounts
 * gives it) or ?bank_account_no=NO (its number as the bank prints it). */
static bool query_custody_account(struct api_handler_context *context,
                                  struct api_response *response, bool required,
                                  struct ledger_custody_account *account)
{
    memset(account, 0, sizeof *account);
    int64_t id = query_id(context, "bank_account");
    const char *number = api_query(context, "bank_account_no");
    if (id < 0) {
        api_respond_problem(response, 400, "invalid_parameter",
                            "bank_account must be the id of a custody bank account");
        return false;
    }
    if (id == 0 && number == NULL) {
        if (required)
            api_respond_problem(response, 400, "missing_parameter",
                                "name the custody bank account: ?bank_account=ID "
                                "(or ?bank_account_no=NO)");
        return !required;
    }
    enum ledger_err err = id > 0 ? ledger_custody_account_get(context->ledger, id, account)
                                 : ledger_custody_account_find(context->ledger, number, account);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return false;
    }
    return true;
}

/* ---- a statement's summary and lines ---- */

static json_t *line_json(const struct ledger_statement_line_view *line)
{
    json_t *item = json_object();
    json_object_set_new(item, "line_id", json_integer((json_int_t)line->id));
    json_object_set_new(item, "statement_id", json_integer((json_int_t)line->statement_id));
    json_object_set_new(item, "line", json_integer(line->line_index + 1));
    json_object_set_new(item, "value_date", date_json(line->value_date_days));
    json_object_set_new(item, "booking_date", date_json(line->booking_date_days));
    api_set_amount(item, "amount", line->amount_minor, line->currency);
    json_object_set_new(item, "currency", json_string(line->currency));
    json_object_set_new(item, "reversal", json_boolean(line->reversal));
    json_object_set_new(item, "bank_ref", json_string(line->bank_ref));
    json_object_set_new(item, "end_to_end_id", json_string(line->end_to_end_id));
    json_object_set_new(item, "counterparty", json_string(line->counterparty_name));
    json_object_set_new(item, "counterparty_account", json_string(line->counterparty_account));
    json_object_set_new(item, "remittance", json_string(line->remittance));
    json_object_set_new(item, "return_reason", text_or_null(line->return_reason));
    json_object_set_new(item, "payin_no", text_or_null(line->payin_no));
    json_object_set_new(item, "status", json_string(line->status));
    json_object_set_new(item, "rule", json_string(line->rule));
    json_object_set_new(item, "reason", json_string(line->reason));
    json_object_set_new(item, "candidates", text_or_null(line->candidates));
    json_object_set_new(item, "case_no", text_or_null(line->case_no));
    json_object_set_new(item, "disbursement_id", id_or_null(line->disbursement_id));
    json_object_set_new(item, "entry_seq", id_or_null(line->entry_seq));
    json_t *entries = json_loads(line->entries_json, JSON_REJECT_DUPLICATES, NULL);
    json_object_set_new(item, "entries", json_is_array(entries) ? entries : json_array());
    if (entries != NULL && !json_is_array(entries))
        json_decref(entries);
    json_object_set_new(item, "duplicate_of", id_or_null(line->duplicate_of));
    json_t *assigned = json_null();
    if (line->assigned_seq > 0)
        assigned = json_pack("{s:I, s:o, s:s, s:o}", "entry_seq", (json_int_t)line->assigned_seq,
                             "case_no", text_or_null(line->assigned_case_no), "by",
                             line->assigned_by, "at", api_time_json(line->assigned_at_us));
    json_object_set_new(item, "assigned", assigned);
    return item;
}

static enum ledger_err append_line(void *items, const struct ledger_statement_line_view *line)
{
    return api_append_item(items, line_json(line));
}

static void summary_of(struct recon_statement_summary *summary,
                       const struct ledger_statement_view *statement)
{
    *summary = (struct recon_statement_summary){
        .statement_id = statement->id,
        .lines = (size_t)statement->lines,
        .booked = (size_t)(statement->booked - statement->settled - statement->returned),
        .matched = (size_t)statement->matched,
        .settled = (size_t)statement->settled,
        .returned = (size_t)statement->returned,
        .suspense = (size_t)statement->suspense,
        .exceptions = (size_t)statement->exceptions,
        .duplicates = (size_t)statement->duplicates,
        .opening_minor = statement->opening_minor,
        .closing_minor = statement->closing_minor,
        .closing_date_days = statement->closing_date_days,
    };
}

static enum ledger_err statement_json(void *out, const struct ledger_statement_view *statement)
{
    struct recon_statement_summary summary;
    summary_of(&summary, statement);
    json_t *body = api_statement_summary_json(&summary, statement->currency);
    char digest[2 * LEDGER_HASH_SIZE + 1];
    ledger_to_hex(digest, statement->file_digest, LEDGER_HASH_SIZE);
    int64_t difference = 0;
    if (body == NULL || __builtin_sub_overflow(statement->closing_minor,
                                               statement->book_balance_minor, &difference)) {
        json_decref(body);
        return body == NULL ? LEDGER_ERR_NOMEM : LEDGER_ERR_OVERFLOW;
    }
    json_object_set_new(body, "format", json_string(statement->format));
    json_object_set_new(body, "currency", json_string(statement->currency));
    json_object_set_new(body, "bank_account", json_integer((json_int_t)statement->bank_account_id));
    json_object_set_new(body, "bank_account_no", json_string(statement->account_no));
    json_object_set_new(body, "statement_ref", json_string(statement->statement_ref));
    json_object_set_new(body, "sequence", json_string(statement->sequence));
    json_object_set_new(body, "opening_date", date_json(statement->opening_date_days));
    json_object_set_new(body, "closing_date", date_json(statement->closing_date_days));
    api_set_amount(body, "book_balance", statement->book_balance_minor, statement->currency);
    api_set_amount(body, "difference", difference, statement->currency);
    json_object_set_new(body, "file_digest", json_string(digest));
    json_object_set_new(body, "file_index", json_integer(statement->file_index));
    json_object_set_new(body, "imported_at", api_time_json(statement->imported_at_us));
    json_object_set_new(body, "imported_by", json_string(statement->imported_by));
    *(json_t **)out = body;
    return LEDGER_OK;
}

void api_get_statement(struct api_handler_context *context, struct api_response *response)
{
    int64_t id = 0;
    int64_t cursor = 0;
    int limit = 0;
    if (!api_path_object_id(context, response, "unknown_statement", &id) ||
        !api_list_limit(context, response, &limit) || !api_list_cursor(context, response, &cursor))
        return;
    json_t *body = NULL;
    enum ledger_err err = ledger_statement_get(context->ledger, id, statement_json, &body);
    if (err == LEDGER_ERR_UNKNOWN_ENTRY) {
        api_respond_problem(response, 404, "unknown_statement", "no statement has this id");
        return;
    }
    json_t *items = json_array();
    int64_t next_cursor = 0;
    if (err == LEDGER_OK)
        err = ledger_statement_lines(context->ledger, id, cursor, limit, &next_cursor, append_line,
                                     items);
    if (err != LEDGER_OK) {
        json_decref(items);
        json_decref(body);
        api_respond_ledger_failure(context, response, err);
        return;
    }
    /* The summary, and its lines as a page ({items, next} like every list). */
    api_respond_page(response, items, next_cursor);
    json_object_update_missing(response->json, body);
    json_decref(body);
}

/* ---- the exceptions queue ---- */

/* What a person has to do about a line of the queue. */
static const char *exception_kind(const struct ledger_statement_line_view *line)
{
    if (strcmp(line->status, "suspense") == 0)
        return "unidentified_receipt";
    if (line->candidates[0] != '\0')
        return "ambiguous";
    return line->amount_minor < 0 ? "unmatched_debit" : "unmatched_credit";
}

static enum ledger_err append_exception(void *items, const struct ledger_statement_line_view *line)
{
    json_t *item = line_json(line);
    if (item == NULL)
        return LEDGER_ERR_NOMEM;
    json_object_set_new(item, "kind", json_string(exception_kind(line)));
    json_object_set_new(item, "bank_account", json_integer((json_int_t)line->bank_account_id));
    char assign_with[ASSIGN_PATH_MAX];
    snprintf(assign_with, sizeof assign_with, "/v1/suspense/%lld/assign", (long long)line->id);
    json_object_set_new(item, "assign_with",
                        strcmp(line->status, "suspense") == 0 ? json_string(assign_with)
                                                              : json_null());
    return api_append_item(items, item);
}

void api_get_reconciliation_exceptions(struct api_handler_context *context,
                                       struct api_response *response)
{
    struct ledger_custody_account account;
    int64_t cursor = 0;
    int limit = 0;
    if (!query_custody_account(context, response, false, &account) ||
        !api_list_limit(context, response, &limit) || !api_list_cursor(context, response, &cursor))
        return;
    json_t *items = json_array();
    int64_t next_cursor = 0;
    enum ledger_err err = ledger_reconciliation_exceptions(
        context->ledger, account.id, cursor, limit, &next_cursor, append_exception, items);
    if (err != LEDGER_OK) {
        json_decref(items);
        api_respond_ledger_failure(context, response, err);
        return;
    }
    api_respond_page(response, items, next_cursor);
}

/* ---- the reconciliation report ---- */

void api_get_reconciliation_report(struct api_handler_context *context,
                                   struct api_response *response)
{
    struct ledger_custody_account account;
    if (!query_custody_account(context, response, true, &account))
        return;
    const char *date_text = api_query(context, "date");
    int32_t date_days = (int32_t)(time(NULL) / 86400);
    if (date_text != NULL && ledger_date_parse(&date_days, date_text) != LEDGER_OK) {
        api_respond_problem(response, 400, "invalid_parameter", "date must be YYYY-MM-DD");
        return;
    }
    struct ledger_report report;
    enum ledger_err err =
        ledger_reconciliation_report(context->ledger, account.id, date_days, &report);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        return;
    }
    json_t *body = api_report_json(account.account_no, &report);
    ledger_report_free(&report);
    if (body != NULL)
        json_object_set_new(body, "bank_account_id", json_integer((json_int_t)account.id));
    api_respond_json(response, body != NULL ? 200 : 500, body);
}

/* ---- assigning a suspense line ---- */

struct line_state {
    char status[16];
    int64_t assigned_seq;
    char assigned_case_no[LEDGER_CASE_NO_MAX + 1];
};

static enum ledger_err keep_line_state(void *out, const struct ledger_statement_line_view *line)
{
    struct line_state *state = out;
    snprintf(state->status, sizeof state->status, "%s", line->status);
    state->assigned_seq = line->assigned_seq;
    snprintf(state->assigned_case_no, sizeof state->assigned_case_no, "%s", line->assigned_case_no);
    return LEDGER_OK;
}

/* The ledger refused with unknown entry or invalid state: say which of
 * the line's states it was, each with its own code. */
static void respond_assign_refused(struct api_handler_context *context,
                                   struct api_response *response, int64_t line_id,
                                   enum ledger_err refused)
{
    char detail[DETAIL_MAX];
    snprintf(detail, sizeof detail, "%s", ledger_last_detail(context->ledger));
    struct line_state state;
    memset(&state, 0, sizeof state);
    enum ledger_err err =
        ledger_statement_line_get(context->ledger, line_id, keep_line_state, &state);
    if (err == LEDGER_ERR_UNKNOWN_ENTRY) {
        api_respond_problem(response, 404, "unknown_statement_line",
                            "no statement line has this id");
    } else if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
    } else if (strcmp(state.status, "suspense") != 0) {
        snprintf(detail, sizeof detail,
                 "statement line %lld is %s, not in suspense: only suspense lines are assigned",
                 (long long)line_id, state.status);
        api_respond_problem(response, 409, "line_not_in_suspense", detail);
    } else if (refused == LEDGER_ERR_BAD_STATE) {
        if (state.assigned_seq > 0)
            snprintf(detail, sizeof detail,
                     "statement line %lld was assigned to case %s already (entry %lld)",
                     (long long)line_id, state.assigned_case_no, (long long)state.assigned_seq);
        api_respond_problem(response, 409, "line_already_assigned", detail);
    } else {
        api_respond_ledger_error(response, refused, detail);
    }
}

void api_post_suspense_assign(struct api_handler_context *context, struct api_response *response)
{
    int64_t line_id = 0;
    const char *case_no = NULL;
    if (!api_require_idempotency_key(context, response) ||
        !api_path_object_id(context, response, "unknown_statement_line", &line_id) ||
        !api_body_string(context, response, "case_no", true, LEDGER_CASE_NO_MAX, &case_no))
        return;
    struct ledger_booking booking;
    enum ledger_err err = ledger_statement_line_assign(context->ledger, context->user, line_id,
                                                       case_no, context->idempotency_key, &booking);
    if (err == LEDGER_ERR_UNKNOWN_ENTRY || err == LEDGER_ERR_BAD_STATE)
        respond_assign_refused(context, response, line_id, err);
    else if (api_respond_booking(context, response, err, &booking))
        json_object_set_new(response->json, "line_id", json_integer((json_int_t)line_id));
}

/* ---- uploading a statement ---- */

struct upload {
    struct ledger_custody_account account;
    enum recon_format format;
    const char *mapping_name; /* CSV */
    struct recon_csv_mapping *mapping;
    char encoding[API_ENCODING_NAME_MAX + 1]; /* MT940; "" for UTF-8 */
    const char *data;
    size_t size;
    struct ledger_statement_upload identity;
};

/* Content-Type's media type (lower case, without parameters) and its
 * charset parameter, each "" when absent. */
static void media_type(const char *header, char type[MEDIA_TYPE_MAX], char charset[MEDIA_TYPE_MAX])
{
    type[0] = charset[0] = '\0';
    if (header == NULL)
        return;
    size_t used = 0;
    const char *at = header;
    for (; *at != '\0' && *at != ';' && used + 1 < MEDIA_TYPE_MAX; at++)
        if (*at != ' ' && *at != '\t')
            type[used++] = (char)(*at >= 'A' && *at <= 'Z' ? *at + 32 : *at);
    type[used] = '\0';
    const char *parameter = at;
    while (*parameter != '\0' && strncasecmp(parameter, "charset=", 8) != 0)
        parameter++;
    if (*parameter == '\0')
        return;
    parameter += 8;
    used = 0;
    for (; *parameter != '\0' && *parameter != ';' && used + 1 < MEDIA_TYPE_MAX; parameter++)
        if (*parameter != '"' && *parameter != ' ')
            charset[used++] = *parameter;
    charset[used] = '\0';
}

/* A name of letters, digits and ._- (not starting with a dot), 1..max bytes. */
static bool plain_name(const char *name, size_t max)
{
    size_t length = strlen(name);
    if (length == 0 || length > max || name[0] == '.')
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Guesses a format from the file's first bytes (after a byte order mark
 * and blanks): '<' is XML (camt.053), ':' or '{' is MT940; 0 otherwise. */
static enum recon_format sniff_format(const char *data, size_t size)
{
    size_t at = size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (at < size && at < SNIFF_BYTES_MAX &&
           (data[at] == ' ' || data[at] == '\t' || data[at] == '\r' || data[at] == '\n'))
        at++;
    if (at >= size)
        return (enum recon_format)0;
    return data[at] == '<'                      ? RECON_FORMAT_CAMT053
           : data[at] == ':' || data[at] == '{' ? RECON_FORMAT_MT940
                                                : (enum recon_format)0;
}

/* ?format= first, then the media type, then the file's first bytes (no
 * media type, application/octet-stream, or curl's default for a body). */
static bool upload_format(struct api_handler_context *context, struct api_response *response,
                          struct upload *upload, const char *type)
{
    const char *given = api_query(context, "format");
    if (given != NULL) {
        upload->format = recon_format_parse(given);
        if (upload->format == 0)
            api_respond_problem(response, 400, "invalid_parameter",
                                "format must be camt053, mt940 or csv");
        return upload->format != 0;
    }
    size_t length = strlen(type);
    if (strcmp(type, "application/xml") == 0 || strcmp(type, "text/xml") == 0 ||
        (length > 4 && strcmp(type + length - 4, "+xml") == 0))
        upload->format = RECON_FORMAT_CAMT053;
    else if (strcmp(type, "text/plain") == 0)
        upload->format = RECON_FORMAT_MT940;
    else if (strcmp(type, "text/csv") == 0)
        upload->format = RECON_FORMAT_CSV;
    else if (type[0] == '\0' || strcmp(type, "application/octet-stream") == 0 ||
             /* what curl --data-binary @FILE sends unless told otherwise:
              * a statement is never form data */
             strcmp(type, "application/x-www-form-urlencoded") == 0)
        upload->format = sniff_format(upload->data, upload->size);
    if (upload->format == 0 && api_query(context, "mapping") != NULL)
        upload->format = RECON_FORMAT_CSV;
    if (upload->format == 0)
        api_respond_problem(response, 415, "unsupported_media_type",
                            "send the statement as application/xml (camt.053), text/plain "
                            "(MT940) or text/csv, or name it with ?format=");
    return upload->format != 0;
}

/* The MT940 character set: ?encoding=, else the charset parameter; UTF-8
 * (validated by the parser) when neither names another. */
static bool upload_encoding(struct api_handler_context *context, struct api_response *response,
                            struct upload *upload, const char *charset)
{
    const char *given = api_query(context, "encoding");
    const char *name = given != NULL ? given : charset;
    if (upload->format != RECON_FORMAT_MT940 || name[0] == '\0' || strcasecmp(name, "utf-8") == 0 ||
        strcasecmp(name, "us-ascii") == 0)
        return true;
    if (!plain_name(name, API_ENCODING_NAME_MAX)) {
        api_respond_problem(response, 400, "invalid_parameter",
                            "encoding must name a character set (GB18030, ISO-8859-1, ...)");
        return false;
    }
    snprintf(upload->encoding, sizeof upload->encoding, "%s", name);
    return true;
}

/* Reads DIR/NAME.mapping (at most RECON_MAPPING_BYTES_MAX) into text;
 * false when it cannot. */
static bool read_mapping(const char *path, char *text, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL)
        return false;
    *size = fread(text, 1, RECON_MAPPING_BYTES_MAX + 1, file);
    bool ok = !ferror(file) && *size <= RECON_MAPPING_BYTES_MAX;
    fclose(file);
    return ok;
}

/* CSV needs a column mapping: ?mapping=NAME names one configured on the
 * server (serve --mapping-dir; a file NAME.mapping). */
static bool upload_mapping(struct api_handler_context *context, struct api_response *response,
                           struct upload *upload)
{
    if (upload->format != RECON_FORMAT_CSV)
        return true;
    upload->mapping_name = api_query(context, "mapping");
    if (upload->mapping_name == NULL) {
        api_respond_problem(response, 400, "missing_parameter",
                            "a CSV statement needs ?mapping=NAME, a column mapping configured "
                            "on the server");
        return false;
    }
    const char *dir = api_server_config_of(api_context_server(context))->mapping_dir;
    char path[MAPPING_PATH_MAX];
    char *text = malloc(RECON_MAPPING_BYTES_MAX + 1);
    size_t size = 0;
    bool found = text != NULL && plain_name(upload->mapping_name, API_MAPPING_NAME_MAX) &&
                 dir != NULL &&
                 (size_t)snprintf(path, sizeof path, "%s/%s.mapping", dir, upload->mapping_name) <
                     sizeof path &&
                 read_mapping(path, text, &size);
    struct recon_error error;
    if (!found)
        api_respond_problem(response, 422, "unknown_mapping",
                            "no CSV column mapping of that name is configured on the server");
    else if (recon_csv_mapping_parse(&upload->mapping, text, size, &error) != RECON_OK)
        api_respond_problem(response, 500, "invalid_mapping",
                            "the server's CSV column mapping of that name is invalid");
    free(text);
    return upload->mapping != NULL;
}

static bool upload_read(struct api_handler_context *context, struct api_response *response,
                        struct upload *upload)
{
    char type[MEDIA_TYPE_MAX];
    char charset[MEDIA_TYPE_MAX];
    media_type(api_header(context, "Content-Type"), type, charset);
    upload->data = api_body_bytes(context, &upload->size);
    if (!query_custody_account(context, response, true, &upload->account))
        return false;
    if (upload->size == 0) {
        api_respond_problem(response, 400, "empty_body", "send the statement file as the body");
        return false;
    }
    if (!upload_format(context, response, upload, type) ||
        !upload_encoding(context, response, upload, charset) ||
        !upload_mapping(context, response, upload))
        return false;
    upload->identity = (struct ledger_statement_upload){
        .bank_account_id = upload->account.id,
        .format = recon_format_name(upload->format),
        .mapping = upload->mapping_name,
        .encoding = upload->encoding[0] ? upload->encoding : NULL,
    };
    crypto_generichash(upload->identity.file_digest, LEDGER_HASH_SIZE,
                       (const unsigned char *)upload->data, upload->size, NULL, 0);
    return true;
}

/* ---- answers of an upload ---- */

struct stored_file {
    struct recon_import_result result;
    int64_t book_balance_minor; /* at the last statement's closing date */
};

static enum ledger_err keep_statement(void *out, const struct ledger_statement_view *statement)
{
    struct stored_file *stored = out;
    struct recon_import_result *result = &stored->result;
    struct recon_statement_summary summary;
    summary_of(&summary, statement);
    if (result->statements_count == 0) {
        memcpy(result->file_digest, statement->file_digest, LEDGER_HASH_SIZE);
        snprintf(result->currency, sizeof result->currency, "%s", statement->currency);
        result->format = recon_format_parse(statement->format);
        result->bank_account_id = statement->bank_account_id;
    }
    if (!recon_import_result_add(result, &summary))
        return LEDGER_ERR_NOMEM;
    stored->book_balance_minor = statement->book_balance_minor;
    return LEDGER_OK;
}

/* The result the import of first_statement_id stored, as it answered then
 * (with today's book balance). */
static void respond_stored(struct api_handler_context *context, struct api_response *response,
                           int64_t first_statement_id, unsigned status)
{
    struct stored_file stored;
    memset(&stored, 0, sizeof stored);
    enum ledger_err err =
        ledger_statement_file_get(context->ledger, first_statement_id, keep_statement, &stored);
    struct recon_import_result *result = &stored.result;
    result->book_balance_minor = stored.book_balance_minor;
    if (err == LEDGER_OK &&
        __builtin_sub_overflow(result->total.closing_minor, stored.book_balance_minor,
                               &result->difference_minor))
        err = LEDGER_ERR_OVERFLOW;
    if (err != LEDGER_OK) {
        recon_import_result_free(result);
        api_respond_ledger_failure(context, response, err);
        return;
    }
    json_t *body = api_import_json(result);
    recon_import_result_free(result);
    json_object_set_new(body, "already_imported", json_boolean(status == 200));
    api_respond_json(response, status, body);
}

/* A refused file: the import's stable code and status, the statement, and
 * for a file that does not parse or balance the input line and element. */
static void respond_refused(struct api_response *response, const struct recon_import_error *error)
{
    if (error->code == RECON_IMPORT_ERR_LEDGER) {
        api_respond_ledger_error(response, error->ledger, error->message);
        return;
    }
    bool internal = error->code == RECON_IMPORT_ERR_IO || error->code == RECON_IMPORT_ERR_NOMEM;
    char detail[sizeof error->message + 48];
    snprintf(detail, sizeof detail, "%s; nothing of the file was booked",
             internal ? "the statement could not be imported" : error->message);
    api_respond_problem(response, (unsigned)recon_import_http_status(error),
                        recon_import_err_code(error), detail);
    json_object_set_new(response->json, "statement",
                        json_integer((json_int_t)error->statement_index + 1));
    if (error->code == RECON_IMPORT_ERR_PARSE || error->code == RECON_IMPORT_ERR_UNBALANCED ||
        error->code == RECON_IMPORT_ERR_AMOUNT_TOO_LARGE)
        json_object_set_new(response->json, "line", json_integer((json_int_t)error->parse.line));
    if (error->code == RECON_IMPORT_ERR_PARSE || error->code == RECON_IMPORT_ERR_UNBALANCED)
        json_object_set_new(response->json, "element", json_string(error->parse.path));
}

/* One JSON log line for a failure the answer does not carry as an error
 * (the request's own line has only its status). */
static void log_failure(const struct api_handler_context *context, const char *event,
                        enum ledger_err err, const char *detail)
{
    char timestamp[32];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(timestamp, sizeof timestamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ts", timestamp, "level", "error",
                             "request_id", context->request->request_id, "event", event, "error",
                             ledger_err_code(err), "detail", detail);
    char *text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text != NULL)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}

static void import_upload(struct api_handler_context *context, struct api_response *response,
                          const struct upload *upload)
{
    struct recon_import_options options = {
        .format = upload->format,
        .mapping = upload->mapping,
        .encoding = upload->encoding[0] ? upload->encoding : NULL,
        .bank_account_no = upload->account.account_no,
        .actor = context->user,
    };
    struct recon_import_result result;
    struct recon_import_error error;
    if (recon_import_buffer(context->ledger, upload->data, upload->size, &options, &result,
                            &error) != RECON_IMPORT_OK) {
        respond_refused(response, &error);
        return;
    }
    /* Booked and committed: the key now names this result. A concurrent
     * twin with the same key recorded it first (its import booked the
     * lines; this one found them duplicates): either answer is right. */
    int64_t first_statement_id =
        result.statements_count > 0 ? result.statements[0].statement_id : 0;
    if (result.report_err != LEDGER_OK)
        log_failure(context, "reconciliation_report", result.report_err, result.report_detail);
    /* Without the record, the same key again finds the file by its digest
     * (200, what it stored) instead of this answer: logged, not failed. */
    enum ledger_err err =
        ledger_statement_upload_record(context->ledger, context->user, context->idempotency_key,
                                       &upload->identity, first_statement_id);
    if (err != LEDGER_OK) {
        log_failure(context, "statement_upload_record", err, ledger_last_detail(context->ledger));
        ledger_clear_detail(context->ledger);
    }
    json_t *body = api_import_json(&result);
    recon_import_result_free(&result);
    json_object_set_new(body, "already_imported", json_false());
    api_respond_json(response, 201, body);
}

void api_post_statements(struct api_handler_context *context, struct api_response *response)
{
    struct upload upload;
    memset(&upload, 0, sizeof upload);
    if (!api_require_idempotency_key(context, response) || !upload_read(context, response, &upload))
        goto free_mapping;
    int64_t first_statement_id = 0;
    enum ledger_err err =
        ledger_statement_upload_find(context->ledger, context->user, context->idempotency_key,
                                     &upload.identity, &first_statement_id);
    if (err != LEDGER_OK) {
        api_respond_ledger_failure(context, response, err);
        goto free_mapping;
    }
    if (first_statement_id > 0) { /* the same request again: the first answer */
        respond_stored(context, response, first_statement_id, 201);
        goto free_mapping;
    }
    err = ledger_statement_file_find(context->ledger, upload.account.id,
                                     upload.identity.file_digest, &first_statement_id);
    if (err != LEDGER_OK)
        api_respond_ledger_failure(context, response, err);
    else if (first_statement_id > 0) /* the file again: nothing new to book */
        respond_stored(context, response, first_statement_id, 200);
    else
        import_upload(context, response, &upload);
free_mapping:
    recon_csv_mapping_free(upload.mapping);
}
