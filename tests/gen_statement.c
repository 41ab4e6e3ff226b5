/* Bench-only generator of bank statements for the import benchmark
 * (tests/bench_import.sh): a camt.053.001.08 document or an MT940 file of N
 * credit lines on one custody account in CNY, or the same lines as
 * tab-separated rows for a PostgreSQL COPY baseline.
 *
 * The mix, per line (decided by a seeded hash of the line's index, so the
 * output is the same for the same arguments):
 *   95 %  a valid pay-in number, spread uniformly over the given list: in
 *         the remittance text ("case payment N"), grouped in fours
 *         ("PAYIN 8000 0000 0001 2345"), or only in the end-to-end id
 *    3 %  unidentified: no pay-in number anywhere (goes to suspense)
 *    2 %  a pay-in number with one digit mistyped (bad check digit: suspense)
 * Amounts are 1.00 .. 50,000.00 CNY in int64_t fen; bank references are
 * PREFIX + the line's index (unique per run when the prefix is); value dates
 * run over --days days from --start. Every statement balances exactly:
 * opening + sum(lines) = closing, and the closing balance of one statement
 * is the opening balance of the next. The whole file's numbers are printed
 * as one JSON object on stderr.
 *
 * Memory does not grow with N: a line is a pure function of (seed, index),
 * so a statement's sum is computed in a first pass over its amounts and its
 * lines are written in a second.
 *
 * usage: gen_statement --format camt053|mt940|tsv --lines N --account NO
 *            --payins FILE|- [--seed S] [--ref-prefix P] [--start YYYY-MM-DD]
 *            [--days D] [--opening MINOR] [--statement-lines M] [--out FILE]
 */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "payin.h"

/* Limits of the generator. */
#define GEN_LINES_MAX 100000000ULL      /* lines of one file */
#define GEN_PAYINS_MAX 10000000         /* pay-in numbers read */
#define GEN_DAYS_MAX 3660               /* value dates span */
#define GEN_REF_PREFIX_MAX 6            /* MT940 references are 16x: prefix + 10 digits */
#define GEN_AMOUNT_MIN_MINOR 100LL      /* 1.00 CNY */
#define GEN_AMOUNT_SPAN_MINOR 4999901LL /* up to 50,000.00 CNY */
#define GEN_TEXT_SIZE 160               /* any generated text field */
#define GEN_MT940_LINE_CHARS 65         /* SWIFT line width; longer :86: text wraps */
#define GEN_MT940_STATEMENT_LINES 50000 /* default lines per MT940 statement */
#define GEN_PERCENT_UNIDENTIFIED 3
#define GEN_PERCENT_MISTYPED 2

enum gen_format { GEN_CAMT053, GEN_MT940, GEN_TSV };
enum gen_kind {
    GEN_PAYIN_REMITTANCE,
    GEN_PAYIN_GROUPED,
    GEN_PAYIN_E2E,
    GEN_UNIDENTIFIED,
    GEN_MISTYPED
};

struct generator {
    enum gen_format format;
    uint64_t lines_count;
    uint64_t statement_lines_max;
    const char *account_no;
    uint64_t seed;
    const char *ref_prefix;
    int32_t start_days;
    int32_t days_count;
    int64_t opening_minor;
    char (*payins)[LEDGER_PAYIN_DIGITS + 1];
    size_t payins_count;
    FILE *out;
    /* what was written */
    uint64_t kind_counts[GEN_MISTYPED + 1];
    uint64_t statements_count;
    int64_t closing_minor;
};

struct gen_line {
    enum gen_kind kind;
    int64_t amount_minor;
    int32_t value_date_days;
    char bank_ref[GEN_TEXT_SIZE];
    char end_to_end_id[GEN_TEXT_SIZE];
    char remittance[GEN_TEXT_SIZE];
    char payer[GEN_TEXT_SIZE];
    char payer_account[GEN_TEXT_SIZE];
    char payin_no[LEDGER_PAYIN_DIGITS + 1]; /* as meant (valid), "" for unidentified */
};

/* ---- deterministic randomness: splitmix64 of (seed, index, salt) ---- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

static uint64_t line_random(const struct generator *g, uint64_t index, uint64_t salt)
{
    return mix64(g->seed ^ mix64(index * 8 + salt));
}

/* ---- one line ---- */

static int64_t line_amount(const struct generator *g, uint64_t index)
{
    return GEN_AMOUNT_MIN_MINOR + (int64_t)(line_random(g, index, 1) % GEN_AMOUNT_SPAN_MINOR);
}

static int32_t line_day(const struct generator *g, uint64_t index)
{
    return g->start_days + (int32_t)((index * (uint64_t)g->days_count) / g->lines_count);
}

static enum gen_kind line_kind(const struct generator *g, uint64_t index)
{
    uint64_t percent = line_random(g, index, 2) % 100;
    if (percent < GEN_PERCENT_UNIDENTIFIED)
        return GEN_UNIDENTIFIED;
    if (percent < GEN_PERCENT_UNIDENTIFIED + GEN_PERCENT_MISTYPED)
        return GEN_MISTYPED;
    return (enum gen_kind)(percent % 3); /* the three places of a valid number */
}

/* One digit of a valid number changed: MOD 97-10 detects every such error. */
static void mistype(char payin[LEDGER_PAYIN_DIGITS + 1], uint64_t random)
{
    size_t position = (size_t)(random % LEDGER_PAYIN_DIGITS);
    int delta = 1 + (int)((random >> 8) % 9);
    payin[position] = (char)('0' + (payin[position] - '0' + delta) % 10);
    assert(ledger_payin_check(payin, LEDGER_PAYIN_DIGITS) == LEDGER_ERR_INVALID_PAYIN);
}

static void line_texts(struct gen_line *l, const char *payin)
{
    switch (l->kind) {
    case GEN_PAYIN_REMITTANCE:
    case GEN_MISTYPED:
        snprintf(l->remittance, sizeof l->remittance, "case payment %s", payin);
        break;
    case GEN_PAYIN_GROUPED:
        snprintf(l->remittance, sizeof l->remittance, "PAYIN %.4s %.4s %.4s %.4s", payin, payin + 4,
                 payin + 8, payin + 12);
        break;
    case GEN_PAYIN_E2E:
        snprintf(l->end_to_end_id, sizeof l->end_to_end_id, "%s", payin);
        snprintf(l->remittance, sizeof l->remittance, "court deposit");
        break;
    case GEN_UNIDENTIFIED:
        snprintf(l->remittance, sizeof l->remittance, "for the court, invoice %u",
                 (unsigned)(l->amount_minor % 100000));
        break;
    }
}

static void line_make(struct gen_line *l, const struct generator *g, uint64_t index)
{
    memset(l, 0, sizeof *l);
    l->kind = line_kind(g, index);
    l->amount_minor = line_amount(g, index);
    l->value_date_days = line_day(g, index);
    snprintf(l->bank_ref, sizeof l->bank_ref, "%s%010" PRIu64, g->ref_prefix, index);
    uint64_t random = line_random(g, index, 3);
    snprintf(l->payer, sizeof l->payer, "Payer %05u", (unsigned)(random % 100000));
    /* 19 digits, as a bank card number: never a 16-digit pay-in candidate */
    snprintf(l->payer_account, sizeof l->payer_account, "622%016" PRIu64,
             (uint64_t)((random >> 17) % 10000000000000000ULL));
    char payin[LEDGER_PAYIN_DIGITS + 1] = "";
    if (l->kind != GEN_UNIDENTIFIED) {
        size_t which = (size_t)(line_random(g, index, 4) % g->payins_count);
        memcpy(payin, g->payins[which], sizeof payin);
        memcpy(l->payin_no, payin, sizeof payin);
    }
    if (l->kind == GEN_MISTYPED)
        mistype(payin, line_random(g, index, 5));
    line_texts(l, payin);
}

/* ---- text helpers ---- */

static void amount_text(char *out, size_t size, int64_t minor, char separator)
{
    assert(minor >= 0);
    snprintf(out, size, "%" PRId64 "%c%02d", minor / 100, separator, (int)(minor % 100));
}

/* An amount (its absolute value) and a date as the formats print them. */
struct gen_texts {
    char amount[32];
    char iso[LEDGER_DATE_TEXT_SIZE]; /* YYYY-MM-DD */
    char yymmdd[7];
};

static void texts_of(struct gen_texts *t, int64_t minor, char separator, int32_t days)
{
    amount_text(t->amount, sizeof t->amount, minor < 0 ? -minor : minor, separator);
    ledger_date_text(t->iso, days);
    snprintf(t->yymmdd, sizeof t->yymmdd, "%.2s%.2s%.2s", t->iso + 2, t->iso + 5, t->iso + 8);
}

/* ---- camt.053.001.08 ---- */

static void camt_balance(FILE *out, const char *code, int64_t minor, int32_t days)
{
    struct gen_texts t;
    texts_of(&t, minor, '.', days);
    fprintf(out,
            "<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp><Amt Ccy=\"CNY\">%s</Amt>"
            "<CdtDbtInd>%s</CdtDbtInd><Dt><Dt>%s</Dt></Dt></Bal>\n",
            code, t.amount, minor < 0 ? "DBIT" : "CRDT", t.iso);
}

static void camt_entry(FILE *out, const struct gen_line *l)
{
    struct gen_texts t;
    texts_of(&t, l->amount_minor, '.', l->value_date_days);
    fprintf(out,
            "<Ntry><Amt Ccy=\"CNY\">%s</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            "<BookgDt><Dt>%s</Dt></BookgDt><ValDt><Dt>%s</Dt></ValDt>"
            "<AcctSvcrRef>%s</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd>"
            "<SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls><Refs>"
            "<EndToEndId>%s</EndToEndId></Refs><RltdPties><Dbtr><Pty><Nm>%s</Nm></Pty></Dbtr>"
            "<DbtrAcct><Id><Othr><Id>%s</Id></Othr></Id></DbtrAcct></RltdPties>"
            "<RmtInf><Ustrd>%s</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n",
            t.amount, t.iso, t.iso, l->bank_ref,
            l->end_to_end_id[0] ? l->end_to_end_id : "NOTPROVIDED", l->payer, l->payer_account,
            l->remittance);
}

static void camt_statement_head(const struct generator *g, uint64_t number, int64_t opening,
                                int64_t closing, int32_t first_day, int32_t last_day)
{
    struct gen_texts t;
    texts_of(&t, closing, '.', last_day);
    fprintf(g->out,
            "<Stmt><Id>%s-S%06" PRIu64 "</Id><ElctrncSeqNb>%" PRIu64 "</ElctrncSeqNb>"
            "<CreDtTm>%sT20:00:00</CreDtTm>\n<Acct><Id><Othr><Id>%s</Id></Othr></Id>"
            "<Ccy>CNY</Ccy></Acct>\n",
            g->ref_prefix, number, number, t.iso, g->account_no);
    camt_balance(g->out, "OPBD", opening, first_day);
    camt_balance(g->out, "CLBD", closing, last_day);
}

/* ---- MT940 ---- */

/* Writes ":86:" + text, wrapped at the SWIFT line width (the parser joins
 * full-width lines directly). */
static void mt940_wrapped(FILE *out, const char *text)
{
    size_t length = strlen(text);
    size_t first = GEN_MT940_LINE_CHARS - 4; /* after ":86:" */
    size_t taken = length < first ? length : first;
    fprintf(out, ":86:%.*s\n", (int)taken, text);
    while (taken < length) {
        size_t part = length - taken < GEN_MT940_LINE_CHARS ? length - taken : GEN_MT940_LINE_CHARS;
        fprintf(out, "%.*s\n", (int)part, text + taken);
        taken += part;
    }
}

static void mt940_entry(FILE *out, const struct gen_line *l)
{
    struct gen_texts t;
    texts_of(&t, l->amount_minor, ',', l->value_date_days);
    fprintf(out, ":61:%s%.4sC%sNTRFNONREF//%s\n", t.yymmdd, t.yymmdd + 2, t.amount, l->bank_ref);
    char details[4 * GEN_TEXT_SIZE];
    snprintf(details, sizeof details, "%s%s/REMI/USTD//%s/NAME/%s",
             l->end_to_end_id[0] ? "/EREF/" : "", l->end_to_end_id, l->remittance, l->payer);
    mt940_wrapped(out, details);
}

static void mt940_balance(FILE *out, const char *tag, int64_t minor, int32_t days)
{
    struct gen_texts t;
    texts_of(&t, minor, ',', days);
    fprintf(out, ":%s:%c%sCNY%s\n", tag, minor < 0 ? 'D' : 'C', t.yymmdd, t.amount);
}

static void mt940_statement_head(const struct generator *g, uint64_t number, int64_t opening,
                                 int32_t first_day)
{
    fprintf(g->out, ":20:%s-S%06" PRIu64 "\n:25:%s\n:28C:%05" PRIu64 "/001\n", g->ref_prefix,
            number, g->account_no, number);
    mt940_balance(g->out, "60F", opening, first_day);
}

/* ---- TSV rows for COPY (the baseline) ---- */

static void tsv_row(FILE *out, const struct gen_line *l)
{
    struct gen_texts t;
    texts_of(&t, l->amount_minor, '.', l->value_date_days);
    fprintf(out, "%s\t%s\t%" PRId64 "\tCNY\t%s\t%s\t%s\t%s\t%s\tbooked\tpayin_no\t%s\n",
            l->bank_ref, t.iso, l->amount_minor, l->end_to_end_id, l->payer, l->payer_account,
            l->remittance, l->payin_no, l->kind == GEN_UNIDENTIFIED ? "unidentified" : "case");
}

/* ---- the file ---- */

static int64_t statement_sum(const struct generator *g, uint64_t first, uint64_t end)
{
    int64_t sum = 0;
    for (uint64_t i = first; i < end; i++) {
        bool overflow = __builtin_add_overflow(sum, line_amount(g, i), &sum);
        assert(!overflow);
    }
    return sum;
}

static void write_statement(struct generator *g, uint64_t number, uint64_t first, uint64_t end,
                            int64_t *balance)
{
    int64_t opening = *balance;
    int64_t closing = 0;
    bool overflow = __builtin_add_overflow(opening, statement_sum(g, first, end), &closing);
    assert(!overflow);
    int32_t first_day = line_day(g, first);
    int32_t last_day = line_day(g, end - 1);
    if (g->format == GEN_CAMT053)
        camt_statement_head(g, number, opening, closing, first_day, last_day);
    else if (g->format == GEN_MT940)
        mt940_statement_head(g, number, opening, first_day);
    int64_t written = opening;
    struct gen_line line;
    for (uint64_t i = first; i < end; i++) {
        line_make(&line, g, i);
        g->kind_counts[line.kind]++;
        written += line.amount_minor;
        if (g->format == GEN_CAMT053)
            camt_entry(g->out, &line);
        else if (g->format == GEN_MT940)
            mt940_entry(g->out, &line);
        else
            tsv_row(g->out, &line);
    }
    assert(written == closing); /* both sides of the write */
    if (g->format == GEN_CAMT053)
        fputs("</Stmt>\n", g->out);
    else if (g->format == GEN_MT940) {
        mt940_balance(g->out, "62F", closing, last_day);
        fputs("-\n", g->out);
    }
    *balance = closing;
    g->statements_count++;
}

static void write_file(struct generator *g)
{
    if (g->format == GEN_CAMT053)
        fprintf(g->out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\">\n"
                "<BkToCstmrStmt><GrpHdr><MsgId>%s-MSG</MsgId><CreDtTm>2024-01-01T00:00:00"
                "</CreDtTm></GrpHdr>\n",
                g->ref_prefix);
    int64_t balance = g->opening_minor;
    uint64_t number = 1;
    for (uint64_t first = 0; first < g->lines_count; first += g->statement_lines_max, number++) {
        uint64_t end = first + g->statement_lines_max;
        write_statement(g, number, first, end < g->lines_count ? end : g->lines_count, &balance);
    }
    if (g->format == GEN_CAMT053)
        fputs("</BkToCstmrStmt></Document>\n", g->out);
    g->closing_minor = balance;
}

/* ---- arguments ---- */

static bool read_payins(struct generator *g, const char *path)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL)
        return false;
    size_t capacity = 1024;
    g->payins = malloc(capacity * sizeof *g->payins);
    char text[64];
    while (g->payins != NULL && g->payins_count < GEN_PAYINS_MAX && fgets(text, sizeof text, in)) {
        text[strcspn(text, "\r\n")] = '\0';
        if (text[0] == '\0')
            continue;
        if (ledger_payin_check(text, strlen(text)) != LEDGER_OK) {
            fprintf(stderr, "gen_statement: not a valid pay-in number: %s\n", text);
            exit(2);
        }
        if (g->payins_count == capacity) {
            capacity *= 2;
            void *grown = realloc(g->payins, capacity * sizeof *g->payins);
            if (grown == NULL) {
                free(g->payins);
                g->payins = NULL;
                break;
            }
            g->payins = grown;
        }
        memcpy(g->payins[g->payins_count++], text, LEDGER_PAYIN_DIGITS + 1);
    }
    bool ok = g->payins != NULL && !ferror(in) && g->payins_count > 0;
    if (in != stdin)
        fclose(in);
    return ok;
}

static int usage(const char *message)
{
    fprintf(stderr,
            "gen_statement: %s\nusage: gen_statement --format camt053|mt940|tsv --lines N "
            "--account NO --payins FILE|- [--seed S] [--ref-prefix P] [--start YYYY-MM-DD] "
            "[--days D] [--opening MINOR] [--statement-lines M] [--out FILE]\n",
            message);
    return 2;
}

struct gen_args {
    const char *format;
    const char *lines;
    const char *account;
    const char *payins;
    const char *seed;
    const char *ref_prefix;
    const char *start;
    const char *days;
    const char *opening;
    const char *statement_lines;
    const char *out;
};

static bool args_parse(struct gen_args *a, int argc, char **argv)
{
    static const char *const names[] = {"--format",  "--lines",           "--account", "--payins",
                                        "--seed",    "--ref-prefix",      "--start",   "--days",
                                        "--opening", "--statement-lines", "--out"};
    const char **slots[] = {&a->format,  &a->lines,           &a->account, &a->payins,
                            &a->seed,    &a->ref_prefix,      &a->start,   &a->days,
                            &a->opening, &a->statement_lines, &a->out};
    for (int i = 1; i < argc; i += 2) {
        size_t k = 0;
        while (k < sizeof names / sizeof names[0] && strcmp(argv[i], names[k]) != 0)
            k++;
        if (k == sizeof names / sizeof names[0] || i + 1 >= argc)
            return false;
        *slots[k] = argv[i + 1];
    }
    return a->format != NULL && a->lines != NULL && a->account != NULL && a->payins != NULL;
}

static bool number_parse(uint64_t *out, const char *text, uint64_t max)
{
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || value > max)
        return false;
    *out = value;
    return true;
}

static int configure(struct generator *g, const struct gen_args *a)
{
    g->format = strcmp(a->format, "camt053") == 0 ? GEN_CAMT053
                : strcmp(a->format, "mt940") == 0 ? GEN_MT940
                                                  : GEN_TSV;
    if (g->format == GEN_TSV && strcmp(a->format, "tsv") != 0)
        return usage("unknown --format");
    uint64_t seed = 1, days = 10, opening = 0, statement_lines = 0;
    if (!number_parse(&g->lines_count, a->lines, GEN_LINES_MAX) || g->lines_count == 0 ||
        (a->seed && !number_parse(&seed, a->seed, UINT64_MAX)) ||
        (a->days && (!number_parse(&days, a->days, GEN_DAYS_MAX) || days == 0)) ||
        (a->opening && !number_parse(&opening, a->opening, INT64_MAX / 2)) ||
        (a->statement_lines &&
         (!number_parse(&statement_lines, a->statement_lines, GEN_LINES_MAX) ||
          statement_lines == 0)))
        return usage("bad number");
    g->seed = seed;
    g->days_count = (int32_t)days;
    g->opening_minor = (int64_t)opening;
    g->statement_lines_max = statement_lines          ? statement_lines
                             : g->format == GEN_MT940 ? GEN_MT940_STATEMENT_LINES
                                                      : g->lines_count;
    g->account_no = a->account;
    g->ref_prefix = a->ref_prefix ? a->ref_prefix : "B";
    if (strlen(g->ref_prefix) > GEN_REF_PREFIX_MAX)
        return usage("--ref-prefix is at most 6 characters");
    if (ledger_date_parse(&g->start_days, a->start ? a->start : "2024-01-01") != LEDGER_OK)
        return usage("bad --start date");
    if (!read_payins(g, a->payins))
        return usage("could not read pay-in numbers (one valid number a line)");
    return 0;
}

static void print_summary(const struct generator *g)
{
    char first[LEDGER_DATE_TEXT_SIZE];
    char last[LEDGER_DATE_TEXT_SIZE];
    ledger_date_text(first, line_day(g, 0));
    ledger_date_text(last, line_day(g, g->lines_count - 1));
    const uint64_t *k = g->kind_counts;
    fprintf(stderr,
            "{\"lines\": %" PRIu64 ", \"statements\": %" PRIu64 ", \"opening\": %" PRId64
            ", \"closing\": %" PRId64 ", \"first_date\": \"%s\", \"last_date\": \"%s\", "
            "\"payin\": %" PRIu64 ", \"unidentified\": %" PRIu64 ", \"mistyped\": %" PRIu64 "}\n",
            g->lines_count, g->statements_count, g->opening_minor, g->closing_minor, first, last,
            k[GEN_PAYIN_REMITTANCE] + k[GEN_PAYIN_GROUPED] + k[GEN_PAYIN_E2E], k[GEN_UNIDENTIFIED],
            k[GEN_MISTYPED]);
}

int main(int argc, char **argv)
{
    struct gen_args args = {0};
    if (!args_parse(&args, argc, argv))
        return usage("--format, --lines, --account and --payins are needed");
    struct generator g = {0};
    int status = configure(&g, &args);
    if (status != 0)
        return status;
    g.out = args.out ? fopen(args.out, "w") : stdout;
    if (g.out == NULL) {
        fprintf(stderr, "gen_statement: could not open %s\n", args.out);
        free(g.payins);
        return 1;
    }
    static char buffer[1 << 20];
    setvbuf(g.out, buffer, _IOFBF, sizeof buffer);
    write_file(&g);
    bool ok = fflush(g.out) == 0 && !ferror(g.out);
    if (g.out != stdout)
        ok = fclose(g.out) == 0 && ok;
    free(g.payins);
    if (!ok) {
        fprintf(stderr, "gen_statement: could not write the output\n");
        return 1;
    }
    print_summary(&g);
    return 0;
}
