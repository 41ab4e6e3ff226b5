/* ISO 20022 camt.053 (BkToCstmrStmt) into the statement model.
 *
 * Streamed with libxml2's xmlTextReader: only the current element's text and
 * the path of open elements (bounded by limits->element_depth_max) are held;
 * lines go into the model as each Ntry closes. Any camt.053.001.NN namespace
 * (NN >= 02) is read the same way, by element local names.
 *
 * Safety: no network, no DTD loading, no entity substitution; a DOCTYPE (or
 * anything but comments and processing instructions) before the root
 * element is refused before libxml2 parses it, which shuts out entity
 * expansion attacks ("billion laughs") and external entities alike. That
 * scan reads raw bytes, so it only sees what libxml2 sees when both read
 * UTF-8: before libxml2 gets a byte, the head of the input (CAMT_HEAD_MAX
 * bytes) is checked, and a document in anything else is refused with
 * RECON_ERR_ENCODING - a byte order mark or NUL bytes of UTF-16/32, the
 * EBCDIC signature, an XML declaration naming another encoding (UTF-7,
 * ISO-8859-1, ...) or one that does not end within the head. libxml2 is
 * also told to ignore the declared encoding (XML_PARSE_IGNORE_ENC).
 *
 * Rules decided here:
 * - Only booked entries are lines: an Ntry whose Sts is PDNG or INFO is left
 *   out (counted in skipped_entry_count). No Sts means booked.
 * - Balances: OPBD is the opening balance, PRCD when there is no OPBD; CLBD
 *   the closing one; other types (OPAV, CLAV, ITBD, ...) are not used.
 * - An Ntry with one TxDtls (or none) is one line with the entry's amount:
 *   the entry's amount is what was booked. An Ntry with several TxDtls is one
 *   line per TxDtls when every TxDtls has an amount (Amt, else
 *   AmtDtls/TxAmt/Amt) in the entry's currency and they add up to the entry;
 *   otherwise it stays one line with the entry amount and
 *   batch_transaction_count set (as does a batch booking, Btch/NbOfTxs > 1,
 *   without TxDtls).
 * - The counterparty of a line is the debtor when the original payment was
 *   a credit (CRDT not reversed, or DBIT reversed), else the creditor
 *   (RltdPties/Dbtr/Nm or, from version 08, Dbtr/Pty/Nm).
 * - Dates are the calendar date as printed (Dt, or the date part of DtTm);
 *   a time zone suffix is ignored.
 */
#include "statement.h"

#include "recon_internal.h"

#include <libxml/xmlreader.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CAMT_NAMESPACE_PREFIX "urn:iso:std:iso:20022:tech:xsd:camt.053.001."
#define CAMT_NAME_SIZE 24 /* element names we keep; longer ones never match */
#define CAMT_RELATIVE_PATH_SIZE 96
#define CAMT_CODE_SIZE 8 /* "OPBD", "CRDT", "BOOK" */
#define CAMT_TRANSACTION_CODE_SIZE 64
/* Bytes of the input checked before libxml2 reads any: the XML declaration
 * (whose encoding libxml2 would honour) must end within them. */
#define CAMT_HEAD_MAX 512
#define CAMT_ENCODING_NAME_MAX 40

enum camt_anchor {
    ANCHOR_NONE,
    ANCHOR_STATEMENT,
    ANCHOR_BALANCE,
    ANCHOR_ENTRY,
    ANCHOR_TRANSACTION,
};

struct camt_element {
    char name[CAMT_NAME_SIZE];
    enum camt_anchor anchor;
    uint32_t index; /* 1-based among its kind (Stmt, Bal, Ntry, TxDtls); 0 for others */
    bool has_children;
    uint64_t line;
};

struct camt_amount {
    bool present;
    int64_t magnitude_minor;
    char currency[RECON_CURRENCY_SIZE];
};

enum camt_direction { DIRECTION_UNKNOWN, DIRECTION_CREDIT, DIRECTION_DEBIT };

struct camt_balance {
    char code[CAMT_CODE_SIZE];
    struct camt_amount amount;
    enum camt_direction direction;
    int32_t date_days;
    uint64_t line;
};

struct camt_transaction {
    struct camt_amount amount;         /* TxDtls/Amt */
    struct camt_amount details_amount; /* TxDtls/AmtDtls/TxAmt/Amt */
    enum camt_direction direction;
    uint64_t line;
    const char *bank_reference;
    const char *owner_reference;
    const char *end_to_end_id;
    const char *debtor_name;
    const char *debtor_account;
    const char *creditor_name;
    const char *creditor_account;
    const char *remittance;
    const char *creditor_reference;
    const char *additional_info;
    const char *return_reason;
};

struct camt_entry {
    struct camt_amount amount;
    enum camt_direction direction;
    bool reversal;
    bool booked;
    int32_t booking_date_days;
    int32_t value_date_days;
    uint32_t batch_count;
    uint64_t line;
    const char *bank_reference;
    const char *additional_info;
    const char *domain_code;
    const char *family_code;
    const char *subfamily_code;
    const char *proprietary_code;
    struct camt_transaction *transactions;
    size_t transaction_count;
    size_t transaction_capacity;
};

struct camt_input {
    const char *data; /* buffer mode */
    size_t size;
    size_t offset;
    FILE *file; /* file mode */
    uint64_t total;
    uint64_t max;
    bool too_large;
    bool io_failed;
    bool forbidden;
    bool not_ascii;
    /* the head check: file mode reads the head first, then hands it out */
    bool head_checked;
    unsigned char head[CAMT_HEAD_MAX];
    size_t head_size;
    size_t head_offset;
    char encoding_problem[RECON_ERROR_MESSAGE_SIZE]; /* why the head was refused */
    /* the prolog scanner */
    int prolog_state;
    int prolog_dashes;
};

struct camt_parser {
    xmlTextReaderPtr reader;
    struct recon_builder builder;
    struct recon_error *error;
    bool failed;
    struct camt_input *input;
    struct camt_element *stack;
    size_t depth;
    uint32_t statement_index;
    uint32_t balance_index;
    uint32_t entry_index;
    uint32_t transaction_index;
    struct recon_buffer text;
    struct recon_buffer scratch;
    char pending_currency[RECON_CURRENCY_SIZE];
    bool pending_currency_set;
    bool statement_currency_set;
    bool opening_is_opbd;
    struct camt_balance balance;
    struct camt_entry entry;
    char xml_message[RECON_ERROR_MESSAGE_SIZE];
    uint64_t xml_line;
};

/* ---- the input and the prolog scanner ---- */

enum prolog_state {
    PROLOG_TEXT,
    PROLOG_LESS_THAN,
    PROLOG_BANG,
    PROLOG_BANG_DASH,
    PROLOG_COMMENT,
    PROLOG_INSTRUCTION,
    PROLOG_INSTRUCTION_QUESTION,
    PROLOG_DONE,
};

/* Watches the bytes before the root element; false on a DOCTYPE, CDATA or
 * anything not ASCII-compatible there. */
static bool prolog_scan(struct camt_input *input, const unsigned char *bytes, size_t count)
{
    for (size_t index = 0; index < count && input->prolog_state != PROLOG_DONE; index++) {
        unsigned char c = bytes[index];
        if (c == 0 || (input->total == 0 && index == 0 && (c == 0xfe || c == 0xff))) {
            input->not_ascii = true;
            return false;
        }
        switch (input->prolog_state) {
        case PROLOG_TEXT:
            if (c == '<')
                input->prolog_state = PROLOG_LESS_THAN;
            break;
        case PROLOG_LESS_THAN:
            input->prolog_state = c == '?'   ? PROLOG_INSTRUCTION
                                  : c == '!' ? PROLOG_BANG
                                             : PROLOG_DONE;
            break;
        case PROLOG_BANG:
            if (c != '-') {
                input->forbidden = true; /* <!DOCTYPE, <![CDATA[ */
                return false;
            }
            input->prolog_state = PROLOG_BANG_DASH;
            break;
        case PROLOG_BANG_DASH:
            if (c != '-') {
                input->forbidden = true;
                return false;
            }
            input->prolog_state = PROLOG_COMMENT;
            input->prolog_dashes = 0;
            break;
        case PROLOG_COMMENT:
            if (c == '>' && input->prolog_dashes >= 2)
                input->prolog_state = PROLOG_TEXT;
            input->prolog_dashes = c == '-' ? input->prolog_dashes + 1 : 0;
            break;
        case PROLOG_INSTRUCTION:
            if (c == '?')
                input->prolog_state = PROLOG_INSTRUCTION_QUESTION;
            break;
        default: /* PROLOG_INSTRUCTION_QUESTION */
            input->prolog_state = c == '>'   ? PROLOG_TEXT
                                  : c == '?' ? PROLOG_INSTRUCTION_QUESTION
                                             : PROLOG_INSTRUCTION;
            break;
        }
    }
    return true;
}

/* ---- the head: UTF-8 or refused ---- */

static bool is_xml_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool head_starts(const unsigned char *head, size_t size, const char *prefix)
{
    size_t length = strlen(prefix);
    return size >= length && memcmp(head, prefix, length) == 0;
}

/* Where `name` starts in bytes[0 .. size), case-insensitive; NULL if not. */
static const unsigned char *find_word(const unsigned char *bytes, size_t size, const char *name)
{
    size_t length = strlen(name);
    for (size_t at = 0; at + length <= size; at++) {
        size_t same = 0;
        while (same < length && (bytes[at + same] | 0x20) == (unsigned char)name[same])
            same++;
        if (same == length)
            return bytes + at;
    }
    return NULL;
}

/* The value of the encoding pseudo-attribute of the declaration
 * decl[0 .. size) into name ("" when there is none); false when it is
 * there but cannot be read. */
static bool declared_encoding(const unsigned char *decl, size_t size,
                              char name[CAMT_ENCODING_NAME_MAX + 1])
{
    name[0] = '\0';
    const unsigned char *at = find_word(decl, size, "encoding");
    if (at == NULL)
        return true;
    const unsigned char *end = decl + size;
    at += strlen("encoding");
    while (at < end && is_xml_space(*at))
        at++;
    if (at == end || *at++ != '=')
        return false;
    while (at < end && is_xml_space(*at))
        at++;
    if (at == end || (*at != '"' && *at != '\''))
        return false;
    unsigned char quote = *at++;
    size_t length = 0;
    while (at < end && *at != quote && length < CAMT_ENCODING_NAME_MAX) {
        unsigned char c = *at++;
        name[length++] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
    }
    name[length] = '\0';
    return at < end && *at == quote;
}

static bool is_utf8_name(const char *name)
{
    static const char *const names[] = {"utf-8", "utf8"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t same = 0;
        while (name[same] != '\0' && (name[same] | 0x20) == names[i][same])
            same++;
        if (name[same] == '\0' && names[i][same] == '\0')
            return true;
    }
    return false;
}

/* Checks the first bytes of the input (all of it when shorter) the way
 * libxml2 picks an encoding; false, with input->encoding_problem, unless
 * libxml2 will read the document as UTF-8. */
static bool head_is_utf8(struct camt_input *input, const unsigned char *head, size_t size)
{
    if (head_starts(head, size, "\xEF\xBB\xBF")) {
        head += 3;
        size -= 3;
    }
    bool foreign = head_starts(head, size, "\xFE\xFF") || head_starts(head, size, "\xFF\xFE") ||
                   head_starts(head, size, "\x4C\x6F\xA7\x94") /* "<?xm" in EBCDIC */ ||
                   memchr(head, 0, size < 4 ? size : 4) != NULL /* UTF-16/32 */;
    if (foreign) {
        snprintf(input->encoding_problem, sizeof input->encoding_problem,
                 "camt.053 must be UTF-8: this file is UTF-16, UTF-32 or EBCDIC");
        return false;
    }
    if (!head_starts(head, size, "<?xml") || size < 6 || !is_xml_space(head[5]))
        return true; /* no declaration: libxml2 reads UTF-8 */
    const unsigned char *close = NULL;
    for (size_t at = 5; at + 1 < size && close == NULL; at++)
        if (head[at] == '?' && head[at + 1] == '>')
            close = head + at;
    char name[CAMT_ENCODING_NAME_MAX + 1];
    if (close == NULL || !declared_encoding(head, (size_t)(close - head), name)) {
        snprintf(input->encoding_problem, sizeof input->encoding_problem,
                 "camt.053 must be UTF-8: the XML declaration cannot be read within its first "
                 "%d bytes",
                 CAMT_HEAD_MAX);
        return false;
    }
    if (name[0] != '\0' && !is_utf8_name(name)) {
        snprintf(input->encoding_problem, sizeof input->encoding_problem,
                 "camt.053 must be UTF-8: the file declares encoding \"%s\"", name);
        return false;
    }
    return true;
}

/* Copies up to length bytes of source[*offset .. size) and moves *offset. */
static size_t copy_on(char *buffer, size_t length, const void *source, size_t size, size_t *offset)
{
    size_t count = size - *offset < length ? size - *offset : length;
    memcpy(buffer, (const char *)source + *offset, count);
    *offset += count;
    return count;
}

/* Reads up to length bytes of the input itself (the head first, in file
 * mode); sets io_failed on a read error. */
static size_t input_fetch(struct camt_input *input, char *buffer, size_t length)
{
    if (input->file == NULL)
        return copy_on(buffer, length, input->data, input->size, &input->offset);
    if (input->head_offset < input->head_size)
        return copy_on(buffer, length, input->head, input->head_size, &input->head_offset);
    size_t count = fread(buffer, 1, length, input->file);
    if (count == 0 && ferror(input->file))
        input->io_failed = true;
    return count;
}

/* Once, before libxml2 reads anything: the head of the input is UTF-8. */
static bool input_head_check(struct camt_input *input)
{
    input->head_checked = true;
    if (input->file == NULL) {
        size_t size = input->size < CAMT_HEAD_MAX ? input->size : CAMT_HEAD_MAX;
        return head_is_utf8(input, (const unsigned char *)input->data, size);
    }
    input->head_size = fread(input->head, 1, sizeof input->head, input->file);
    if (input->head_size < sizeof input->head && ferror(input->file)) {
        input->io_failed = true;
        return false;
    }
    return head_is_utf8(input, input->head, input->head_size);
}

static int camt_input_read(void *context, char *buffer, int length)
{
    struct camt_input *input = context;
    if (length <= 0)
        return 0;
    if (!input->head_checked && !input_head_check(input))
        return -1;
    size_t count = input_fetch(input, buffer, (size_t)length);
    if (input->io_failed)
        return -1;
    if (!prolog_scan(input, (const unsigned char *)buffer, count))
        return -1;
    input->total += count;
    if (input->total > input->max) {
        input->too_large = true;
        return -1;
    }
    return (int)count;
}

/* ---- errors ---- */

/* The element path with indexes, e.g. /Document/BkToCstmrStmt/Stmt[1]/Ntry[3]/Amt. */
static void element_path(const struct camt_parser *parser, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t level = 0; level < parser->depth && used < size; level++) {
        const struct camt_element *element = &parser->stack[level];
        int written = element->index > 0 ? snprintf(out + used, size - used, "/%s[%u]",
                                                    element->name, (unsigned)element->index)
                                         : snprintf(out + used, size - used, "/%s", element->name);
        if (written < 0)
            break;
        used += (size_t)written;
    }
}

/* The line of the current node (its start tag); the reader parses ahead, so
 * the parser's own line may be further on. */
static uint64_t current_line(const struct camt_parser *parser)
{
    xmlNodePtr node = xmlTextReaderCurrentNode(parser->reader);
    long line = node != NULL ? xmlGetLineNo(node) : -1;
    if (line <= 0)
        line = xmlTextReaderGetParserLineNumber(parser->reader);
    return line > 0 ? (uint64_t)line : 0;
}

static enum recon_err fail_at(struct camt_parser *parser, enum recon_err code, uint64_t line,
                              const char *message)
{
    char path[RECON_ERROR_PATH_SIZE];
    element_path(parser, path, sizeof path);
    parser->failed = true;
    return recon_fail(parser->error, code, line, path, "%s", message);
}

static enum recon_err fail(struct camt_parser *parser, enum recon_err code, const char *message)
{
    return fail_at(parser, code, current_line(parser), message);
}

static void xml_error_handler(void *context, xmlErrorPtr xml_error)
{
    struct camt_parser *parser = context;
    if (xml_error == NULL || xml_error->level < XML_ERR_ERROR || parser->xml_message[0] != '\0')
        return;
    snprintf(parser->xml_message, sizeof parser->xml_message, "%s",
             xml_error->message != NULL ? xml_error->message : "malformed XML");
    size_t length = strlen(parser->xml_message);
    while (length > 0 &&
           (parser->xml_message[length - 1] == '\n' || parser->xml_message[length - 1] == ' ' ||
            parser->xml_message[length - 1] == '.'))
        parser->xml_message[--length] = '\0';
    if (length > 0 && parser->xml_message[0] >= 'A' && parser->xml_message[0] <= 'Z')
        parser->xml_message[0] = (char)(parser->xml_message[0] - 'A' + 'a');
    parser->xml_line = xml_error->line > 0 ? (uint64_t)xml_error->line : 0;
}

/* ---- values ---- */

static const char *text_data(const struct recon_buffer *buffer)
{
    return buffer->data != NULL ? buffer->data : "";
}

static bool text_is(const struct camt_parser *parser, const char *value)
{
    return strcmp(text_data(&parser->text), value) == 0;
}

/* The element's text, stored in the statement. */
static enum recon_err store_text(struct camt_parser *parser, const char **out)
{
    const char *stored =
        recon_builder_text(&parser->builder, text_data(&parser->text), parser->text.length);
    if (stored == NULL)
        return fail(parser, RECON_ERR_NOMEM, "out of memory");
    *out = stored;
    return RECON_OK;
}

/* Appends the element's text to *out with a space between. */
static enum recon_err store_joined(struct camt_parser *parser, const char **out)
{
    bool no_memory = false;
    if ((*out)[0] == '\0')
        return store_text(parser, out);
    recon_buffer_clear(&parser->scratch);
    if (!recon_buffer_append(&parser->scratch, *out, strlen(*out), &no_memory) ||
        !recon_buffer_append(&parser->scratch, " ", 1, &no_memory) ||
        !recon_buffer_append(&parser->scratch, text_data(&parser->text), parser->text.length,
                             &no_memory))
        return fail(parser, no_memory ? RECON_ERR_NOMEM : RECON_ERR_FIELD_TOO_LONG,
                    "joined text is too long");
    const char *stored =
        recon_builder_text(&parser->builder, text_data(&parser->scratch), parser->scratch.length);
    if (stored == NULL)
        return fail(parser, RECON_ERR_NOMEM, "out of memory");
    *out = stored;
    return RECON_OK;
}

static enum recon_err read_amount(struct camt_parser *parser, struct camt_amount *amount)
{
    if (amount->present)
        return fail(parser, RECON_ERR_DUPLICATE_FIELD, "amount appears twice");
    if (!parser->pending_currency_set)
        return fail(parser, RECON_ERR_MISSING_FIELD, "amount has no Ccy attribute");
    memcpy(amount->currency, parser->pending_currency, RECON_CURRENCY_SIZE);
    if (amount->currency[0] < 'A' || amount->currency[0] > 'Z' || amount->currency[1] < 'A' ||
        amount->currency[1] > 'Z' || amount->currency[2] < 'A' || amount->currency[2] > 'Z' ||
        amount->currency[3] != '\0')
        return fail(parser, RECON_ERR_INVALID_CURRENCY, "Ccy is not an ISO 4217 code");
    enum recon_err err = recon_amount_parse(&amount->magnitude_minor, text_data(&parser->text),
                                            parser->text.length, amount->currency, '.', false);
    if (err == RECON_ERR_AMOUNT_PRECISION)
        return fail(parser, err, "amount has more decimals than its currency");
    if (err != RECON_OK)
        return fail(parser, err, "amount is not a decimal amount");
    amount->present = true;
    return RECON_OK;
}

static enum recon_err read_direction(struct camt_parser *parser, enum camt_direction *direction)
{
    if (text_is(parser, "CRDT"))
        *direction = DIRECTION_CREDIT;
    else if (text_is(parser, "DBIT"))
        *direction = DIRECTION_DEBIT;
    else
        return fail(parser, RECON_ERR_SYNTAX, "CdtDbtInd is neither CRDT nor DBIT");
    return RECON_OK;
}

/* YYYY-MM-DD, then nothing, a time zone (Dt) or a time (DtTm). */
static enum recon_err read_date(struct camt_parser *parser, int32_t *out_days, bool with_time)
{
    const char *text = text_data(&parser->text);
    size_t length = parser->text.length;
    int year, month, day;
    if (length < 10 || text[4] != '-' || text[7] != '-' || !recon_read_digits(&year, text, 4) ||
        !recon_read_digits(&month, text + 5, 2) || !recon_read_digits(&day, text + 8, 2))
        return fail(parser, RECON_ERR_INVALID_DATE, "date is not YYYY-MM-DD");
    if (with_time ? (length < 11 || text[10] != 'T')
                  : (length > 10 && text[10] != 'Z' && text[10] != '+' && text[10] != '-'))
        return fail(parser, RECON_ERR_INVALID_DATE, "date has unexpected text after it");
    if (!recon_date_from_ymd(out_days, year, month, day))
        return fail(parser, RECON_ERR_INVALID_DATE, "date does not exist");
    return RECON_OK;
}

/* ---- element paths relative to the anchor (Stmt, Bal, Ntry, TxDtls) ---- */

static size_t anchor_level(const struct camt_parser *parser)
{
    for (size_t level = parser->depth; level > 0; level--) {
        if (parser->stack[level - 1].anchor != ANCHOR_NONE)
            return level - 1;
    }
    return SIZE_MAX;
}

/* "Acct/Id/IBAN" for the current element below its anchor; false when too
 * long. Built with memcpy: this runs for every element of the file. */
static bool relative_path(const struct camt_parser *parser, size_t anchor, char *out, size_t size)
{
    size_t used = 0;
    for (size_t level = anchor + 1; level < parser->depth; level++) {
        const char *name = parser->stack[level].name;
        size_t length = strlen(name);
        size_t separator = used > 0 ? 1 : 0;
        if (used + separator + length + 1 > size)
            return false;
        if (separator > 0)
            out[used++] = '/';
        memcpy(out + used, name, length);
        used += length;
    }
    out[used] = '\0';
    return true;
}

/* ---- Stmt ---- */

static enum recon_err statement_field(struct camt_parser *parser, const char *path)
{
    struct recon_statement *statement = parser->builder.current;
    if (strcmp(path, "Id") == 0)
        return store_text(parser, &statement->statement_id);
    if (strcmp(path, "ElctrncSeqNb") == 0 ||
        (strcmp(path, "LglSeqNb") == 0 && statement->sequence[0] == '\0'))
        return store_text(parser, &statement->sequence);
    if (strcmp(path, "Acct/Id/IBAN") == 0 || strcmp(path, "Acct/Id/Othr/Id") == 0)
        return store_text(parser, &statement->account_id);
    if (strcmp(path, "Acct/Ccy") == 0) {
        const char *code = text_data(&parser->text);
        if (parser->text.length != 3 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' ||
            code[1] > 'Z' || code[2] < 'A' || code[2] > 'Z')
            return fail(parser, RECON_ERR_INVALID_CURRENCY, "Ccy is not an ISO 4217 code");
        memcpy(statement->currency, text_data(&parser->text), RECON_CURRENCY_SIZE);
        parser->statement_currency_set = true;
    }
    return RECON_OK;
}

static enum recon_err balance_field(struct camt_parser *parser, const char *path)
{
    struct camt_balance *balance = &parser->balance;
    if (strcmp(path, "Tp/CdOrPrtry/Cd") == 0 || strcmp(path, "Tp/CdOrPrtry/Prtry") == 0) {
        snprintf(balance->code, sizeof balance->code, "%s", text_data(&parser->text));
        return RECON_OK;
    }
    if (strcmp(path, "Amt") == 0)
        return read_amount(parser, &balance->amount);
    if (strcmp(path, "CdtDbtInd") == 0)
        return read_direction(parser, &balance->direction);
    if (strcmp(path, "Dt/Dt") == 0)
        return read_date(parser, &balance->date_days, false);
    if (strcmp(path, "Dt/DtTm") == 0)
        return read_date(parser, &balance->date_days, true);
    return RECON_OK;
}

static enum recon_err balance_end(struct camt_parser *parser)
{
    struct camt_balance *balance = &parser->balance;
    struct recon_statement *statement = parser->builder.current;
    struct recon_balance *target;
    bool is_opening = strcmp(balance->code, "OPBD") == 0;
    bool is_previous = strcmp(balance->code, "PRCD") == 0;
    bool is_closing = strcmp(balance->code, "CLBD") == 0;

    if (!is_opening && !is_previous && !is_closing)
        return RECON_OK;
    if (!balance->amount.present || balance->direction == DIRECTION_UNKNOWN)
        return fail_at(parser, RECON_ERR_MISSING_FIELD, balance->line,
                       "balance needs Amt and CdtDbtInd");
    target = is_closing ? &statement->closing : &statement->opening;
    if (is_previous && target->present)
        return RECON_OK; /* an OPBD came first and wins */
    if (target->present && (is_closing || parser->opening_is_opbd))
        return fail_at(parser, RECON_ERR_DUPLICATE_FIELD, balance->line,
                       is_closing ? "statement has two CLBD balances"
                                  : "statement has two OPBD balances");
    if (is_opening)
        parser->opening_is_opbd = true;
    target->present = true;
    target->amount_minor = balance->direction == DIRECTION_CREDIT
                               ? balance->amount.magnitude_minor
                               : -balance->amount.magnitude_minor;
    target->date_days = balance->date_days;
    target->source_line = balance->line;
    memcpy(target->currency, balance->amount.currency, RECON_CURRENCY_SIZE);
    return RECON_OK;
}

static enum recon_err statement_end(struct camt_parser *parser)
{
    struct recon_statement *statement = parser->builder.current;
    if (!parser->statement_currency_set) {
        const struct recon_balance *balance =
            statement->opening.present ? &statement->opening : &statement->closing;
        memcpy(statement->currency, balance->currency, RECON_CURRENCY_SIZE);
    }
    enum recon_err err = recon_builder_end(&parser->builder, parser->error);
    if (err != RECON_OK)
        parser->failed = true;
    return err;
}

/* ---- Ntry and TxDtls ---- */

static enum recon_err entry_field(struct camt_parser *parser, const char *path)
{
    struct camt_entry *entry = &parser->entry;
    if (strcmp(path, "Amt") == 0)
        return read_amount(parser, &entry->amount);
    if (strcmp(path, "CdtDbtInd") == 0)
        return read_direction(parser, &entry->direction);
    if (strcmp(path, "RvslInd") == 0) {
        entry->reversal = text_is(parser, "true") || text_is(parser, "1");
        if (!entry->reversal && !text_is(parser, "false") && !text_is(parser, "0"))
            return fail(parser, RECON_ERR_SYNTAX, "RvslInd is neither true nor false");
        return RECON_OK;
    }
    if (strcmp(path, "Sts") == 0 || strcmp(path, "Sts/Cd") == 0) {
        entry->booked = text_is(parser, "BOOK");
        return RECON_OK;
    }
    if (strcmp(path, "BookgDt/Dt") == 0)
        return read_date(parser, &entry->booking_date_days, false);
    if (strcmp(path, "BookgDt/DtTm") == 0)
        return read_date(parser, &entry->booking_date_days, true);
    if (strcmp(path, "ValDt/Dt") == 0)
        return read_date(parser, &entry->value_date_days, false);
    if (strcmp(path, "ValDt/DtTm") == 0)
        return read_date(parser, &entry->value_date_days, true);
    if (strcmp(path, "AcctSvcrRef") == 0)
        return store_text(parser, &entry->bank_reference);
    if (strcmp(path, "AddtlNtryInf") == 0)
        return store_joined(parser, &entry->additional_info);
    if (strcmp(path, "BkTxCd/Domn/Cd") == 0)
        return store_text(parser, &entry->domain_code);
    if (strcmp(path, "BkTxCd/Domn/Fmly/Cd") == 0)
        return store_text(parser, &entry->family_code);
    if (strcmp(path, "BkTxCd/Domn/Fmly/SubFmlyCd") == 0)
        return store_text(parser, &entry->subfamily_code);
    if (strcmp(path, "BkTxCd/Prtry/Cd") == 0)
        return store_text(parser, &entry->proprietary_code);
    if (strcmp(path, "NtryDtls/Btch/NbOfTxs") == 0) {
        uint32_t count = 0;
        const char *text = text_data(&parser->text);
        for (size_t index = 0; index < parser->text.length && index < 9; index++) {
            if (text[index] < '0' || text[index] > '9')
                return fail(parser, RECON_ERR_SYNTAX, "NbOfTxs is not a number");
            count = count * 10 + (uint32_t)(text[index] - '0');
        }
        entry->batch_count = count;
    }
    return RECON_OK;
}

/* Path below TxDtls, with "Pty/" (version 08 and later) taken out. */
static void strip_party(char *path)
{
    static const char *const parties[] = {"RltdPties/Dbtr/Pty/", "RltdPties/Cdtr/Pty/"};
    for (size_t index = 0; index < 2; index++) {
        size_t prefix = strlen(parties[index]) - 4; /* "RltdPties/Dbtr/" */
        if (strncmp(path, parties[index], prefix + 4) == 0)
            memmove(path + prefix, path + prefix + 4, strlen(path + prefix + 4) + 1);
    }
}

static enum recon_err transaction_text(struct camt_parser *parser,
                                       struct camt_transaction *transaction, const char *path)
{
    static const struct {
        const char *path;
        size_t offset;
    } fields[] = {
        {"Refs/AcctSvcrRef", offsetof(struct camt_transaction, bank_reference)},
        {"Refs/InstrId", offsetof(struct camt_transaction, owner_reference)},
        {"Refs/EndToEndId", offsetof(struct camt_transaction, end_to_end_id)},
        {"RltdPties/Dbtr/Nm", offsetof(struct camt_transaction, debtor_name)},
        {"RltdPties/DbtrAcct/Id/IBAN", offsetof(struct camt_transaction, debtor_account)},
        {"RltdPties/DbtrAcct/Id/Othr/Id", offsetof(struct camt_transaction, debtor_account)},
        {"RltdPties/Cdtr/Nm", offsetof(struct camt_transaction, creditor_name)},
        {"RltdPties/CdtrAcct/Id/IBAN", offsetof(struct camt_transaction, creditor_account)},
        {"RltdPties/CdtrAcct/Id/Othr/Id", offsetof(struct camt_transaction, creditor_account)},
        {"RmtInf/Strd/CdtrRefInf/Ref", offsetof(struct camt_transaction, creditor_reference)},
        {"RtrInf/Rsn/Cd", offsetof(struct camt_transaction, return_reason)},
        {"RtrInf/Rsn/Prtry", offsetof(struct camt_transaction, return_reason)},
    };
    for (size_t index = 0; index < sizeof fields / sizeof fields[0]; index++) {
        if (strcmp(path, fields[index].path) == 0)
            return store_text(parser,
                              (const char **)(void *)((char *)transaction + fields[index].offset));
    }
    if (strcmp(path, "RmtInf/Ustrd") == 0)
        return store_joined(parser, &transaction->remittance);
    if (strcmp(path, "AddtlTxInf") == 0)
        return store_joined(parser, &transaction->additional_info);
    return RECON_OK;
}

static enum recon_err transaction_field(struct camt_parser *parser, char *path)
{
    struct camt_transaction *transaction =
        &parser->entry.transactions[parser->entry.transaction_count - 1];
    if (strcmp(path, "Amt") == 0)
        return read_amount(parser, &transaction->amount);
    if (strcmp(path, "AmtDtls/TxAmt/Amt") == 0)
        return read_amount(parser, &transaction->details_amount);
    if (strcmp(path, "CdtDbtInd") == 0)
        return read_direction(parser, &transaction->direction);
    strip_party(path);
    return transaction_text(parser, transaction, path);
}

static void transaction_init(struct camt_transaction *transaction, uint64_t line)
{
    memset(transaction, 0, sizeof *transaction);
    transaction->line = line;
    transaction->bank_reference = "";
    transaction->owner_reference = "";
    transaction->end_to_end_id = "";
    transaction->debtor_name = "";
    transaction->debtor_account = "";
    transaction->creditor_name = "";
    transaction->creditor_account = "";
    transaction->remittance = "";
    transaction->creditor_reference = "";
    transaction->additional_info = "";
    transaction->return_reason = "";
}

static enum recon_err transaction_begin(struct camt_parser *parser, uint64_t line)
{
    struct camt_entry *entry = &parser->entry;
    size_t max = parser->builder.limits.lines_per_statement_max;
    if (entry->transaction_count >= max)
        return fail(parser, RECON_ERR_TOO_MANY_LINES, "entry has too many TxDtls");
    if (entry->transaction_count == entry->transaction_capacity) {
        size_t capacity = entry->transaction_capacity == 0 ? 4 : entry->transaction_capacity * 2;
        if (capacity > max)
            capacity = max;
        struct camt_transaction *transactions =
            realloc(entry->transactions, capacity * sizeof *transactions);
        if (transactions == NULL)
            return fail(parser, RECON_ERR_NOMEM, "out of memory");
        entry->transactions = transactions;
        entry->transaction_capacity = capacity;
    }
    transaction_init(&entry->transactions[entry->transaction_count++], line);
    return RECON_OK;
}

static void entry_begin(struct camt_parser *parser, uint64_t line)
{
    struct camt_entry *entry = &parser->entry;
    memset(&entry->amount, 0, sizeof entry->amount);
    entry->direction = DIRECTION_UNKNOWN;
    entry->reversal = false;
    entry->booked = true;
    entry->booking_date_days = RECON_DATE_NONE;
    entry->value_date_days = RECON_DATE_NONE;
    entry->batch_count = 0;
    entry->line = line;
    entry->bank_reference = "";
    entry->additional_info = "";
    entry->domain_code = "";
    entry->family_code = "";
    entry->subfamily_code = "";
    entry->proprietary_code = "";
    entry->transaction_count = 0;
}

static enum recon_err entry_transaction_code(struct camt_parser *parser, const char **out)
{
    const struct camt_entry *entry = &parser->entry;
    char code[CAMT_TRANSACTION_CODE_SIZE];
    int length;
    if (entry->domain_code[0] != '\0')
        length = snprintf(code, sizeof code, "%s/%s/%s", entry->domain_code, entry->family_code,
                          entry->subfamily_code);
    else
        length = snprintf(code, sizeof code, "%s", entry->proprietary_code);
    if (length < 0)
        code[0] = '\0';
    recon_utf8_trim(code); /* snprintf may have cut a character */
    const char *stored = recon_builder_text(&parser->builder, code, strlen(code));
    if (stored == NULL)
        return fail(parser, RECON_ERR_NOMEM, "out of memory");
    *out = stored;
    return RECON_OK;
}

/* A line with the entry's data; transaction (may be NULL) adds its details. */
static enum recon_err entry_line(struct camt_parser *parser,
                                 const struct camt_transaction *transaction, int64_t amount_minor,
                                 uint64_t source_line, struct recon_line **out)
{
    const struct camt_entry *entry = &parser->entry;
    struct recon_line *line;
    enum recon_err err =
        recon_builder_add_line(&parser->builder, &line, source_line, parser->error);
    if (err != RECON_OK) {
        parser->failed = true;
        return err;
    }
    line->amount_minor = amount_minor;
    memcpy(line->currency, entry->amount.currency, RECON_CURRENCY_SIZE);
    line->value_date_days = entry->value_date_days;
    line->booking_date_days = entry->booking_date_days;
    line->reversal = entry->reversal;
    line->bank_reference = entry->bank_reference;
    line->additional_info = entry->additional_info;
    err = entry_transaction_code(parser, &line->transaction_code);
    *out = line;
    if (err != RECON_OK || transaction == NULL)
        return err;
    /* The original payment was a credit: its debtor paid the court. */
    bool paid_in = (entry->direction == DIRECTION_CREDIT) != entry->reversal;
    if (transaction->bank_reference[0] != '\0')
        line->bank_reference = transaction->bank_reference;
    if (transaction->additional_info[0] != '\0')
        line->additional_info = transaction->additional_info;
    line->owner_reference = transaction->owner_reference;
    if (strcmp(transaction->end_to_end_id, "NOTPROVIDED") != 0)
        line->end_to_end_id = transaction->end_to_end_id;
    line->counterparty_name = paid_in ? transaction->debtor_name : transaction->creditor_name;
    line->counterparty_account =
        paid_in ? transaction->debtor_account : transaction->creditor_account;
    line->remittance = transaction->remittance;
    line->creditor_reference = transaction->creditor_reference;
    line->return_reason = transaction->return_reason;
    return RECON_OK;
}

static const struct camt_amount *transaction_amount(const struct camt_transaction *transaction)
{
    return transaction->amount.present ? &transaction->amount : &transaction->details_amount;
}

/* True when every TxDtls has an amount in the entry's currency and they
 * add up to the entry. */
static bool entry_splits(const struct camt_entry *entry, int64_t entry_minor)
{
    int64_t sum = 0;
    for (size_t index = 0; index < entry->transaction_count; index++) {
        const struct camt_transaction *transaction = &entry->transactions[index];
        const struct camt_amount *amount = transaction_amount(transaction);
        enum camt_direction direction =
            transaction->direction != DIRECTION_UNKNOWN ? transaction->direction : entry->direction;
        if (!amount->present || strcmp(amount->currency, entry->amount.currency) != 0)
            return false;
        int64_t signed_minor =
            direction == DIRECTION_CREDIT ? amount->magnitude_minor : -amount->magnitude_minor;
        if (__builtin_add_overflow(sum, signed_minor, &sum))
            return false;
    }
    return sum == entry_minor;
}

static enum recon_err entry_split(struct camt_parser *parser)
{
    const struct camt_entry *entry = &parser->entry;
    uint32_t count = (uint32_t)entry->transaction_count;
    for (uint32_t index = 0; index < count; index++) {
        const struct camt_transaction *transaction = &entry->transactions[index];
        const struct camt_amount *amount = transaction_amount(transaction);
        enum camt_direction direction =
            transaction->direction != DIRECTION_UNKNOWN ? transaction->direction : entry->direction;
        struct recon_line *line;
        enum recon_err err = entry_line(parser, transaction,
                                        direction == DIRECTION_CREDIT ? amount->magnitude_minor
                                                                      : -amount->magnitude_minor,
                                        transaction->line, &line);
        if (err != RECON_OK)
            return err;
        line->split_index = index;
        line->split_count = count;
    }
    return RECON_OK;
}

static enum recon_err entry_lines(struct camt_parser *parser)
{
    struct camt_entry *entry = &parser->entry;
    struct recon_line *line;
    if (!entry->booked) {
        parser->builder.current->skipped_entry_count++;
        return RECON_OK;
    }
    if (!entry->amount.present || entry->direction == DIRECTION_UNKNOWN)
        return fail_at(parser, RECON_ERR_MISSING_FIELD, entry->line,
                       "entry needs Amt and CdtDbtInd");
    int64_t entry_minor = entry->direction == DIRECTION_CREDIT ? entry->amount.magnitude_minor
                                                               : -entry->amount.magnitude_minor;
    size_t count = entry->transaction_count;
    if (count >= 2 && entry_splits(entry, entry_minor))
        return entry_split(parser);
    bool aggregated = count >= 2 || entry->batch_count > 1;
    enum recon_err err =
        entry_line(parser, aggregated || count == 0 ? NULL : &entry->transactions[0], entry_minor,
                   entry->line, &line);
    if (err == RECON_OK && aggregated)
        line->batch_transaction_count =
            entry->batch_count > count ? entry->batch_count : (uint32_t)count;
    return err;
}

/* After an entry's lines are complete: a streamed chunk may go. */
static enum recon_err entry_end(struct camt_parser *parser)
{
    enum recon_err err = entry_lines(parser);
    if (err == RECON_OK &&
        (err = recon_builder_checkpoint(&parser->builder, parser->error)) != RECON_OK)
        parser->failed = true;
    return err;
}

/* ---- the element stream ---- */

static enum recon_err dispatch_text(struct camt_parser *parser)
{
    char path[CAMT_RELATIVE_PATH_SIZE];
    size_t anchor = anchor_level(parser);
    if (anchor == SIZE_MAX || !relative_path(parser, anchor, path, sizeof path) || path[0] == '\0')
        return RECON_OK;
    switch (parser->stack[anchor].anchor) {
    case ANCHOR_STATEMENT:
        return statement_field(parser, path);
    case ANCHOR_BALANCE:
        return balance_field(parser, path);
    case ANCHOR_ENTRY:
        return entry_field(parser, path);
    case ANCHOR_TRANSACTION:
        return transaction_field(parser, path);
    default:
        return RECON_OK;
    }
}

static enum recon_err element_end(struct camt_parser *parser)
{
    struct camt_element *element = &parser->stack[parser->depth - 1];
    /* Only elements without children carry a value. */
    enum recon_err err = element->has_children ? RECON_OK : dispatch_text(parser);
    if (err == RECON_OK) {
        switch (element->anchor) {
        case ANCHOR_STATEMENT:
            err = statement_end(parser);
            break;
        case ANCHOR_BALANCE:
            err = balance_end(parser);
            break;
        case ANCHOR_ENTRY:
            err = entry_end(parser);
            break;
        default:
            break;
        }
    }
    if (err == RECON_OK && parser->depth == 2 && parser->statement_index == 0)
        err = fail(parser, RECON_ERR_NOT_STATEMENT, "BkToCstmrStmt holds no Stmt");
    parser->depth--;
    recon_buffer_clear(&parser->text);
    parser->pending_currency_set = false;
    return err;
}

static bool is_camt053_namespace(const char *uri)
{
    size_t prefix = strlen(CAMT_NAMESPACE_PREFIX);
    if (uri == NULL || strncmp(uri, CAMT_NAMESPACE_PREFIX, prefix) != 0)
        return false;
    const char *version = uri + prefix;
    return strlen(version) == 2 && version[0] >= '0' && version[0] <= '9' && version[1] >= '0' &&
           version[1] <= '9' && strcmp(version, "02") >= 0;
}

/* Which anchor an element named `name` at the current depth is. */
static enum camt_anchor anchor_of(const struct camt_parser *parser, const char *name)
{
    size_t depth = parser->depth; /* the new element's level */
    const struct camt_element *parent = depth > 0 ? &parser->stack[depth - 1] : NULL;
    if (depth == 2 && strcmp(name, "Stmt") == 0)
        return ANCHOR_STATEMENT;
    if (parent == NULL)
        return ANCHOR_NONE;
    if (parent->anchor == ANCHOR_STATEMENT && strcmp(name, "Bal") == 0)
        return ANCHOR_BALANCE;
    if (parent->anchor == ANCHOR_STATEMENT && strcmp(name, "Ntry") == 0)
        return ANCHOR_ENTRY;
    if (depth >= 2 && strcmp(name, "TxDtls") == 0 && strcmp(parent->name, "NtryDtls") == 0 &&
        parser->stack[depth - 2].anchor == ANCHOR_ENTRY)
        return ANCHOR_TRANSACTION;
    return ANCHOR_NONE;
}

/* The element just pushed: the root must be a camt.053 Document holding a
 * BkToCstmrStmt. */
static enum recon_err check_document(struct camt_parser *parser, const char *name)
{
    if (parser->depth == 1 &&
        (strcmp(name, "Document") != 0 ||
         !is_camt053_namespace((const char *)xmlTextReaderConstNamespaceUri(parser->reader))))
        return fail(parser, RECON_ERR_NOT_STATEMENT, "not a camt.053 Document");
    if (parser->depth == 2 && strcmp(name, "BkToCstmrStmt") != 0)
        return fail(parser, RECON_ERR_NOT_STATEMENT, "Document does not hold BkToCstmrStmt");
    return RECON_OK;
}

static enum recon_err anchor_begin(struct camt_parser *parser, struct camt_element *element)
{
    enum recon_err err;
    switch (element->anchor) {
    case ANCHOR_STATEMENT:
        element->index = ++parser->statement_index;
        parser->balance_index = 0;
        parser->entry_index = 0;
        parser->statement_currency_set = false;
        parser->opening_is_opbd = false;
        err = recon_builder_begin(&parser->builder, element->line, parser->error);
        parser->failed = err != RECON_OK;
        return err;
    case ANCHOR_BALANCE:
        element->index = ++parser->balance_index;
        memset(&parser->balance, 0, sizeof parser->balance);
        parser->balance.date_days = RECON_DATE_NONE;
        parser->balance.line = element->line;
        return RECON_OK;
    case ANCHOR_ENTRY:
        element->index = ++parser->entry_index;
        parser->transaction_index = 0;
        entry_begin(parser, element->line);
        return RECON_OK;
    case ANCHOR_TRANSACTION:
        element->index = ++parser->transaction_index;
        return transaction_begin(parser, element->line);
    default:
        return RECON_OK;
    }
}

static void read_currency_attribute(struct camt_parser *parser)
{
    xmlChar *currency = xmlTextReaderGetAttribute(parser->reader, BAD_CAST "Ccy");
    parser->pending_currency_set = currency != NULL;
    if (currency != NULL) {
        snprintf(parser->pending_currency, sizeof parser->pending_currency, "%s",
                 (const char *)currency);
        if (strlen((const char *)currency) != 3)
            parser->pending_currency[0] = '?'; /* refused in read_amount */
        xmlFree(currency);
    }
}

static enum recon_err element_start(struct camt_parser *parser)
{
    const char *name = (const char *)xmlTextReaderConstLocalName(parser->reader);
    if (name == NULL)
        return fail(parser, RECON_ERR_NOMEM, "out of memory");
    if (parser->depth >= parser->builder.limits.element_depth_max)
        return fail(parser, RECON_ERR_TOO_DEEP, "elements are nested too deeply");
    struct camt_element *element = &parser->stack[parser->depth];
    if (parser->depth > 0)
        parser->stack[parser->depth - 1].has_children = true;
    size_t length = strlen(name);
    if (length < CAMT_NAME_SIZE)
        memcpy(element->name, name, length + 1);
    else
        snprintf(element->name, sizeof element->name, "%s", "(long name)");
    element->anchor = anchor_of(parser, name);
    element->index = 0;
    element->has_children = false;
    element->line = current_line(parser);
    parser->depth++;
    recon_buffer_clear(&parser->text);
    enum recon_err err = check_document(parser, name);
    if (err != RECON_OK)
        return err;
    if (strcmp(name, "Amt") == 0)
        read_currency_attribute(parser);
    return anchor_begin(parser, element);
}

static enum recon_err element_text(struct camt_parser *parser)
{
    const char *value = (const char *)xmlTextReaderConstValue(parser->reader);
    bool no_memory = false;
    if (value == NULL)
        return RECON_OK;
    if (!recon_buffer_append(&parser->text, value, strlen(value), &no_memory))
        return fail(parser, no_memory ? RECON_ERR_NOMEM : RECON_ERR_FIELD_TOO_LONG,
                    "element text is too long");
    return RECON_OK;
}

static enum recon_err read_node(struct camt_parser *parser)
{
    switch (xmlTextReaderNodeType(parser->reader)) {
    case XML_READER_TYPE_ELEMENT: {
        bool empty = xmlTextReaderIsEmptyElement(parser->reader) == 1;
        enum recon_err err = element_start(parser);
        if (err == RECON_OK && empty)
            err = element_end(parser);
        return err;
    }
    case XML_READER_TYPE_END_ELEMENT:
        return element_end(parser);
    case XML_READER_TYPE_TEXT:
    case XML_READER_TYPE_CDATA:
    case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
        return parser->depth > 0 ? element_text(parser) : RECON_OK;
    case XML_READER_TYPE_DOCUMENT_TYPE:
    case XML_READER_TYPE_ENTITY_REFERENCE:
    case XML_READER_TYPE_ENTITY:
        return fail(parser, RECON_ERR_FORBIDDEN_MARKUP, "DOCTYPE and entities are not allowed");
    default:
        return RECON_OK;
    }
}

/* Why xmlTextReaderRead failed. */
static enum recon_err read_failed(struct camt_parser *parser)
{
    const struct camt_input *input = parser->input;
    if (input->encoding_problem[0] != '\0')
        return fail(parser, RECON_ERR_ENCODING, input->encoding_problem);
    if (input->forbidden)
        return fail(parser, RECON_ERR_FORBIDDEN_MARKUP,
                    "DOCTYPE and CDATA before the root element are not allowed");
    if (input->not_ascii)
        return fail(parser, RECON_ERR_ENCODING, "camt.053 must be UTF-8: this file is not");
    if (input->too_large)
        return fail(parser, RECON_ERR_INPUT_TOO_LARGE, "input is too large");
    if (input->io_failed)
        return fail(parser, RECON_ERR_IO, "could not read the statement file");
    return fail_at(parser, RECON_ERR_SYNTAX,
                   parser->xml_line > 0 ? parser->xml_line : current_line(parser),
                   parser->xml_message[0] != '\0' ? parser->xml_message : "malformed XML");
}

static enum recon_err read_document(struct camt_parser *parser)
{
    for (;;) {
        int status = xmlTextReaderRead(parser->reader);
        if (status == 0)
            break;
        if (status < 0 || parser->xml_message[0] != '\0')
            return read_failed(parser);
        enum recon_err err = read_node(parser);
        if (err != RECON_OK)
            return err;
    }
    if (parser->depth != 0 || parser->statement_index == 0)
        return fail(parser, RECON_ERR_NOT_STATEMENT, "document holds no statement");
    return RECON_OK;
}

static enum recon_err camt_run(struct recon_statement **out, struct camt_input *input,
                               const struct recon_limits *limits, unsigned flags,
                               const struct recon_sink *sink, struct recon_error *error)
{
    struct camt_parser parser;
    const int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                        XML_PARSE_NOCDATA | XML_PARSE_NOBLANKS | XML_PARSE_BIG_LINES |
                        XML_PARSE_IGNORE_ENC;
    enum recon_err err;

    memset(&parser, 0, sizeof parser);
    recon_builder_init(&parser.builder, limits, RECON_FORMAT_CAMT053);
    if (sink != NULL)
        recon_builder_stream(&parser.builder, sink);
    parser.error = error;
    parser.input = input;
    input->max = parser.builder.limits.input_bytes_max;
    recon_buffer_init(&parser.text, parser.builder.limits.field_bytes_max);
    recon_buffer_init(&parser.scratch, parser.builder.limits.field_bytes_max * 2 + 1);
    parser.stack = calloc(parser.builder.limits.element_depth_max + 1, sizeof *parser.stack);
    xmlInitParser();
    parser.reader = xmlReaderForIO(camt_input_read, NULL, input, NULL, NULL, options);
    if (parser.stack == NULL || parser.reader == NULL) {
        err = recon_fail(error, RECON_ERR_NOMEM, 0, "", "out of memory");
        goto release;
    }
    xmlTextReaderSetStructuredErrorHandler(parser.reader, xml_error_handler, &parser);
    err = read_document(&parser);
    if (err != RECON_OK && error != NULL)
        error->statement_index = parser.builder.statement_count; /* the one being read */
    if (err == RECON_OK)
        err = recon_builder_finish(&parser.builder, out, flags, error);
release:
    if (parser.reader != NULL)
        xmlFreeTextReader(parser.reader);
    free(parser.stack);
    free(parser.entry.transactions);
    recon_buffer_free(&parser.text);
    recon_buffer_free(&parser.scratch);
    recon_builder_discard(&parser.builder);
    return err;
}

static enum recon_err check_arguments(struct recon_statement **out, unsigned flags,
                                      struct recon_error *error)
{
    if (error != NULL)
        memset(error, 0, sizeof *error);
    if (out == NULL || (flags & ~RECON_PARSE_NO_STATEMENT_CHECKS) != 0)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "invalid arguments");
    *out = NULL;
    return RECON_OK;
}

enum recon_err recon_camt053_parse(struct recon_statement **out, const char *data, size_t size,
                                   const struct recon_limits *limits, unsigned flags,
                                   struct recon_error *error)
{
    struct camt_input input;
    enum recon_err err = check_arguments(out, flags, error);
    if (err != RECON_OK)
        return err;
    if (data == NULL && size > 0)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "no data");
    memset(&input, 0, sizeof input);
    input.data = data != NULL ? data : "";
    input.size = size;
    return camt_run(out, &input, limits, flags, NULL, error);
}

enum recon_err recon_camt053_parse_file(struct recon_statement **out, const char *path,
                                        const struct recon_limits *limits, unsigned flags,
                                        struct recon_error *error)
{
    struct camt_input input;
    enum recon_err err = check_arguments(out, flags, error);
    if (err != RECON_OK)
        return err;
    if (path == NULL)
        return recon_fail(error, RECON_ERR_INVALID_ARGUMENT, 0, "", "no path");
    memset(&input, 0, sizeof input);
    input.file = fopen(path, "rb");
    if (input.file == NULL)
        return recon_fail(error, RECON_ERR_IO, 0, "", "could not open the statement file");
    err = camt_run(out, &input, limits, flags, NULL, error);
    fclose(input.file);
    return err;
}

enum recon_err recon_camt053_stream(const struct recon_source *source,
                                    const struct recon_sink *sink,
                                    const struct recon_limits *limits, struct recon_error *error)
{
    struct camt_input input;
    memset(&input, 0, sizeof input);
    if (source->path == NULL) {
        input.data = source->data != NULL ? source->data : "";
        input.size = source->size;
        return camt_run(NULL, &input, limits, 0, sink, error);
    }
    input.file = fopen(source->path, "rb");
    if (input.file == NULL)
        return recon_fail(error, RECON_ERR_IO, 0, "", "could not open the statement file");
    enum recon_err err = camt_run(NULL, &input, limits, 0, sink, error);
    fclose(input.file);
    return err;
}
