/* Bank statements: one model for camt.053, MT940 and CSV, and their parsers.
 *
 * Every parser reads a byte buffer or a file into a list of statements
 * (struct recon_statement), bounded by struct recon_limits, without
 * recursion over the input, and reports a failure as a specific enum
 * recon_err plus where it happened (struct recon_error).
 *
 * Conventions of the model, the same for every format:
 *
 * - Amounts are int64_t minor units of the statement's currency (fen for
 *   CNY, cents for EUR, yen for JPY), parsed with ledger_money_parse(),
 *   never floating point.
 * - Signs are from the view of the court's bank account, as a bank prints
 *   its statement: a credit (money coming in) is positive, a debit (money
 *   going out) is negative; a balance is positive when the account is in
 *   credit (the bank holds the court's money) and negative when overdrawn.
 *   NOTE: this is the opposite of the journal's posting convention (debit
 *   positive): a +100 statement line is a +100 posting on the `bank` asset
 *   account, i.e. a debit there. The importer does that mapping, once.
 * - A reversal (camt RvslInd, MT940 RC/RD) keeps the sign of the booking it
 *   is: a reversed credit is a debit, so negative, with reversal set.
 * - Dates are int32_t days since 1970-01-01 (1970-01-01 is 0, 1969-12-31 is
 *   -1) of the calendar date as printed, without time or time zone;
 *   RECON_DATE_NONE when the file gives none. See recon_date_from_ymd().
 * - Amount text is accepted when it is exact in the currency's minor unit:
 *   "18.150" EUR is 1815, while "8.855" EUR is refused with
 *   RECON_ERR_AMOUNT_PRECISION. Nothing is ever rounded.
 * - Text is UTF-8, NUL-terminated, never NULL ("" when absent), with runs of
 *   white space folded to one space and no space at either end.
 */
#ifndef RECON_STATEMENT_H
#define RECON_STATEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "recon_limits.h"

#define RECON_MUST_CHECK __attribute__((warn_unused_result))

/* Errors of the statement parsers; 0 is success. Each names one thing a
 * caller can act on; recon_err_code() gives its stable API code. */
enum recon_err {
    RECON_OK = 0,
    RECON_ERR_INVALID_ARGUMENT,    /* caller's bug: NULL output, unknown flag */
    RECON_ERR_NOMEM,               /* out of memory */
    RECON_ERR_IO,                  /* the file could not be opened or read */
    RECON_ERR_INPUT_TOO_LARGE,     /* more than limits->input_bytes_max */
    RECON_ERR_LINE_TOO_LONG,       /* a physical line over limits->line_bytes_max */
    RECON_ERR_FIELD_TOO_LONG,      /* an element text, CSV field or MT940 tag too long */
    RECON_ERR_TOO_DEEP,            /* XML nested deeper than limits->element_depth_max */
    RECON_ERR_TOO_MANY_LINES,      /* over lines_per_statement_max or lines_per_file_max */
    RECON_ERR_TOO_MANY_STATEMENTS, /* over limits->statements_per_file_max */
    RECON_ERR_ENCODING,            /* bytes invalid in the file's encoding */
    RECON_ERR_SYNTAX,              /* malformed XML, MT940 field, CSV quoting */
    RECON_ERR_FORBIDDEN_MARKUP,    /* XML DOCTYPE / entity declarations */
    RECON_ERR_NOT_STATEMENT,       /* well-formed, but not a statement (no Stmt, other message) */
    RECON_ERR_TRUNCATED,           /* the input ends inside a statement */
    RECON_ERR_MISSING_FIELD,       /* a mandatory field is absent */
    RECON_ERR_DUPLICATE_FIELD,     /* a field that must appear once appears twice */
    RECON_ERR_INVALID_AMOUNT,      /* amount text that is not a decimal amount */
    RECON_ERR_AMOUNT_PRECISION,    /* non-zero digits beyond the currency's minor unit */
    RECON_ERR_INVALID_DATE,        /* a date that does not exist or cannot be read */
    RECON_ERR_INVALID_CURRENCY,    /* not an ISO 4217 code */
    RECON_ERR_OVERFLOW,            /* a sum of amounts outside int64_t */
    RECON_ERR_MAPPING,             /* CSV column mapping invalid or not matching the file */
    RECON_ERR_CURRENCY_MIXED,      /* a statement with more than one currency */
    RECON_ERR_UNBALANCED,          /* opening balance + lines != closing balance */
    RECON_ERR_STOPPED,             /* a sink (struct recon_sink) stopped the parse */
    RECON_ERR__COUNT
};

/* Where and why a parse failed. line is the 1-based physical line of the
 * input (MT940, CSV, and the XML parser's line for camt.053), 0 when not
 * known. path names the place: the XML element path with 1-based indexes
 * ("/Document/BkToCstmrStmt/Stmt[2]/Ntry[5]/Amt"), the MT940 tag (":61:"),
 * the CSV column or mapping key. message is lower-case, without a full stop,
 * and never repeats account numbers or names from the file. */
struct recon_error {
    enum recon_err code;
    uint64_t line;
    size_t statement_index; /* 0-based statement the error is in, when known */
    char path[RECON_ERROR_PATH_SIZE];
    char message[RECON_ERROR_MESSAGE_SIZE];
};

/* Limits of one parse; recon_limits_default() fills the RECON_*_MAX values.
 * Passing NULL to a parser means the defaults. */
struct recon_limits {
    uint64_t input_bytes_max;
    size_t line_bytes_max;
    size_t field_bytes_max;
    size_t element_depth_max;
    size_t lines_per_statement_max;
    size_t lines_per_file_max;
    size_t statements_per_file_max;
};

/* Parse flags. */
/* Parse and build the model but skip the statement checks
 * (recon_statement_check): for diagnosis and for test fixtures whose
 * numbers do not add up. An importer never sets it. */
#define RECON_PARSE_NO_STATEMENT_CHECKS 0x1u

#define RECON_DATE_NONE INT32_MIN

#define RECON_CURRENCY_SIZE 4     /* "CNY" + NUL */
#define RECON_FINGERPRINT_SIZE 33 /* 32 hex digits + NUL */

enum recon_format {
    RECON_FORMAT_CAMT053 = 1,
    RECON_FORMAT_MT940,
    RECON_FORMAT_CSV,
};

struct recon_balance {
    bool present;
    int64_t amount_minor; /* signed, see the conventions above */
    int32_t date_days;    /* RECON_DATE_NONE when not given */
    char currency[RECON_CURRENCY_SIZE];
    uint64_t source_line; /* input line of the balance */
};

/* One line of a statement: one movement of money on the account.
 *
 * bank_reference identifies the booking at the bank (camt
 * TxDtls/Refs/AcctSvcrRef, else Ntry/AcctSvcrRef; MT940 :61: reference after
 * "//"; CSV reference column). Lines split from one camt entry may share the
 * entry's reference; split_index then tells them apart. fingerprint is for
 * lines without a bank reference (and is filled for every line): 32 hex
 * digits of BLAKE2b-128 over account, currency, amount, dates, counterparty,
 * remittance and end-to-end id, plus the count of identical earlier lines in
 * the statement, so that re-importing the same statement gives the same
 * fingerprints and two identical payments on one day stay two lines. */
struct recon_line {
    int64_t amount_minor; /* credit positive, debit negative */
    int32_t value_date_days;
    int32_t booking_date_days; /* RECON_DATE_NONE when the file gives none */
    char currency[RECON_CURRENCY_SIZE];
    bool reversal;            /* reverses an earlier booking (camt RvslInd, MT940 RC/RD) */
    bool value_date_adjusted; /* MT940 "30 February" read as the month's last day */
    uint32_t split_index;     /* 0-based line of a camt entry split by TxDtls */
    uint32_t split_count;     /* lines the entry was split into; 1 when not split */
    /* Payments this one line carries when the bank booked several as one
     * amount that could not be split (camt batch booking without per-payment
     * amounts); 0 for an ordinary line. The matcher must not treat such a
     * line as one payment. */
    uint32_t batch_transaction_count;
    uint64_t source_line; /* input line where the line's data begins */

    const char *bank_reference;
    const char *owner_reference;      /* the account owner's (court's) own reference:
                                         MT940 :61: customer reference, camt InstrId */
    const char *end_to_end_id;        /* camt EndToEndId, MT940 EREF; "" for NOTPROVIDED */
    const char *transaction_code;     /* camt BkTxCd "PMNT/RCDT/DMCT" or proprietary
                                         code, MT940 :61: type ("NTRF") */
    const char *counterparty_name;    /* payer of a credit, payee of a debit */
    const char *counterparty_account; /* IBAN or account number as printed */
    const char *remittance;           /* what the payer wrote: camt Ustrd, MT940
                                         Verwendungszweck / REMI / free :86: text */
    const char *creditor_reference;   /* structured reference: camt Strd/CdtrRefInf/Ref */
    const char *additional_info;      /* the bank's own text: camt AddtlTxInf /
                                         AddtlNtryInf, MT940 :61: supplementary
                                         details and ?00 booking text */
    const char *return_reason;        /* camt RtrInf/Rsn/Cd, MT940 /RTRN/ or German ?34
                                         9xx code; "" when not a return */
    char fingerprint[RECON_FINGERPRINT_SIZE];
};

struct recon_statement_storage; /* private: the memory of one statement */

/* One statement: one account, one currency, one period. A parse returns the
 * first statement of a file; the others follow through next. */
struct recon_statement {
    struct recon_statement *next;
    enum recon_format format;
    uint64_t source_line; /* input line where the statement begins */

    const char *account_id;             /* camt Acct/Id/IBAN or Othr/Id, MT940 :25:, CSV mapping */
    const char *statement_id;           /* camt Stmt/Id, MT940 :20:, "" for CSV */
    const char *sequence;               /* camt ElctrncSeqNb, MT940 :28C: */
    char currency[RECON_CURRENCY_SIZE]; /* the account's currency (camt Acct/Ccy,
                                           else the opening balance's) */
    struct recon_balance opening;       /* camt OPBD (else PRCD), MT940 :60F:/:60M: */
    struct recon_balance closing;       /* camt CLBD, MT940 :62F:/:62M: */

    struct recon_line *lines;
    size_t line_count;
    int64_t lines_sum_minor; /* sum of lines[].amount_minor, overflow-checked */
    /* Lines of the statement so far, with those already handed to a sink
     * (recon_parse_stream); equals line_count when nothing was streamed. In
     * a streamed parse lines_sum_minor covers them all too. */
    size_t lines_total;
    size_t skipped_entry_count; /* camt entries not booked (Sts PDNG, INFO) and left out */

    struct recon_statement_storage *storage;
};

/* Fills limits with the RECON_*_MAX defaults of recon_limits.h. */
void recon_limits_default(struct recon_limits *limits);

/* camt.053 (versions .001.02 and later, any namespace version), streamed
 * with libxml2's xmlTextReader: no DTD, no entities, no network. On success
 * *out is a new list of at least one statement the caller frees with
 * recon_statement_free(); on failure *out is NULL and error (when not NULL)
 * says why. data is borrowed for the call. limits may be NULL. */
enum recon_err recon_camt053_parse(struct recon_statement **out, const char *data, size_t size,
                                   const struct recon_limits *limits, unsigned flags,
                                   struct recon_error *error) RECON_MUST_CHECK;
enum recon_err recon_camt053_parse_file(struct recon_statement **out, const char *path,
                                        const struct recon_limits *limits, unsigned flags,
                                        struct recon_error *error) RECON_MUST_CHECK;

/* SWIFT MT940, one or more statements, with or without {1:}{2:}{4: block
 * wrappers. encoding names the file's character set for iconv ("CP852",
 * "ISO-8859-1", "GB18030", ...); NULL means UTF-8, which is validated.
 * Otherwise as recon_camt053_parse(). */
enum recon_err recon_mt940_parse(struct recon_statement **out, const char *data, size_t size,
                                 const char *encoding, const struct recon_limits *limits,
                                 unsigned flags, struct recon_error *error) RECON_MUST_CHECK;
enum recon_err recon_mt940_parse_file(struct recon_statement **out, const char *path,
                                      const char *encoding, const struct recon_limits *limits,
                                      unsigned flags, struct recon_error *error) RECON_MUST_CHECK;

/* A CSV column mapping: which column holds what, how dates and amounts are
 * written, which delimiter and encoding. Its text format is key=value lines:
 *
 *   # comments and blank lines are ignored; keys and values are trimmed
 *   delimiter = ,           one character, or: comma semicolon tab pipe
 *   encoding = utf-8        utf-8 | gb18030 (converted with iconv)
 *   header = yes            yes: the first row after skip_lines names the
 *                           columns; no: columns are given by number
 *   skip_lines = 0          lines before the header (or first data) row
 *   currency = CNY          the statement currency (default CNY)
 *   account = ...           the account id to record (optional)
 *   date_format = YYYY-MM-DD  YYYY, MM, DD and literal characters; a final
 *                           '*' ignores the rest of the field (a time)
 *   decimal = .             . or ,
 *   thousands = none        none, or the grouping character (, . ' or space)
 *   order = oldest_first    or newest_first: row order in the file
 *   date = 交易日期          the value date column (required)
 *   booking_date = ...      booking date column (optional)
 *   amount = ...            a signed amount column, or instead
 *   credit = ... / debit = ...  two unsigned columns (money in / money out)
 *   balance = ...           running balance after each row (gives the
 *                           opening and closing balances; without it the
 *                           statement has none and fails the checks)
 *   reference, counterparty, counterparty_account, remittance = ...
 *
 * A column is named by its header text, or by "#N" (1-based) — required
 * when header = no. */
struct recon_csv_mapping;

/* Parses mapping text into a new mapping (free with recon_csv_mapping_free).
 * Errors are RECON_ERR_MAPPING with the mapping's line in error->line and the
 * key in error->path. */
enum recon_err recon_csv_mapping_parse(struct recon_csv_mapping **out, const char *text,
                                       size_t size, struct recon_error *error) RECON_MUST_CHECK;
void recon_csv_mapping_free(struct recon_csv_mapping *mapping);

/* A CSV statement with the given mapping (borrowed). Produces exactly one
 * statement. Otherwise as recon_camt053_parse(). */
enum recon_err recon_csv_parse(struct recon_statement **out, const char *data, size_t size,
                               const struct recon_csv_mapping *mapping,
                               const struct recon_limits *limits, unsigned flags,
                               struct recon_error *error) RECON_MUST_CHECK;
enum recon_err recon_csv_parse_file(struct recon_statement **out, const char *path,
                                    const struct recon_csv_mapping *mapping,
                                    const struct recon_limits *limits, unsigned flags,
                                    struct recon_error *error) RECON_MUST_CHECK;

/* The statement checks every parser runs unless RECON_PARSE_NO_STATEMENT_CHECKS:
 * opening and closing balances present; one currency for the statement, its
 * balances and every line (RECON_ERR_CURRENCY_MIXED); opening balance + sum
 * of lines == closing balance, overflow-checked (RECON_ERR_UNBALANCED). */
enum recon_err recon_statement_check(const struct recon_statement *statement,
                                     struct recon_error *error) RECON_MUST_CHECK;

/* ---- streaming ----
 *
 * A streamed parse keeps one chunk of lines in memory, whatever the file's
 * size: the lines of the current statement go to the sink in chunks of at
 * most chunk_lines (the header fields of the statement — account,
 * statement id, currency, opening balance — are set by the first call), and
 * each statement, once it passed the checks of recon_statement_check, to
 * end(). A callback that returns anything but RECON_OK stops the parse,
 * which then returns RECON_ERR_STOPPED; the sink keeps its own account of
 * why. CSV is read whole first (a file may list its rows newest first), and
 * then handed over in chunks. */
struct recon_sink {
    void *context;
    size_t chunk_lines; /* 0: RECON_STREAM_CHUNK_LINES */
    /* lines[0..count) of statement (count >= 1); valid only during the call. */
    enum recon_err (*lines)(void *context, const struct recon_statement *statement,
                            const struct recon_line *lines, size_t count);
    /* The statement is complete and checked: closing balance, lines_total,
     * lines_sum_minor. lines holds none of its lines any more. */
    enum recon_err (*end)(void *context, const struct recon_statement *statement);
};

struct recon_source {
    enum recon_format format;
    const char *path; /* a file, or NULL and: */
    const char *data; /* a buffer of size bytes */
    size_t size;
    const char *encoding;                    /* MT940 (see recon_mt940_parse) */
    const struct recon_csv_mapping *mapping; /* CSV */
    const struct recon_limits *limits;       /* NULL: recon_limits_stream() */
};

/* The limits of a streamed parse: as recon_limits_default(), with the line
 * counts raised to RECON_STREAM_LINES_*_MAX, since memory no longer grows
 * with them. */
void recon_limits_stream(struct recon_limits *limits);

/* Parses source into sink. Errors as the parse functions (the statement
 * checks always run), plus RECON_ERR_STOPPED. */
enum recon_err recon_parse_stream(const struct recon_source *source, const struct recon_sink *sink,
                                  struct recon_error *error) RECON_MUST_CHECK;

/* Frees a list of statements from a parser (takes ownership); NULL is fine. */
void recon_statement_free(struct recon_statement *first);

/* Number of statements in a list. */
size_t recon_statement_count(const struct recon_statement *first);

/* Days since 1970-01-01 of a calendar date (proleptic Gregorian, years
 * 1..9999); false, leaving *out_days untouched, when the date does not exist. */
bool recon_date_from_ymd(int32_t *out_days, int year, int month, int day) RECON_MUST_CHECK;
/* The calendar date of days since 1970-01-01. */
void recon_date_to_ymd(int32_t days, int *year, int *month, int *day);

/* Stable machine-readable name ("statement_unbalanced"); never NULL. */
const char *recon_err_code(enum recon_err err);
/* Short lower-case message ("statement does not balance"); never NULL. */
const char *recon_err_message(enum recon_err err);

#endif
