/* The matching rules of match.h, in order. Each rule function either
 * decides the line (returns true) or leaves it to the next rule. */
#include "match.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "payin.h"

#define HEX_HASH_BYTES 16

const char *recon_line_status_name(enum recon_line_status status)
{
    static const char *const names[] = {
        [RECON_LINE_BOOKED] = "booked",       [RECON_LINE_MATCHED] = "matched",
        [RECON_LINE_SETTLED] = "settled",     [RECON_LINE_RETURNED] = "returned",
        [RECON_LINE_SUSPENSE] = "suspense",   [RECON_LINE_EXCEPTION] = "exception",
        [RECON_LINE_DUPLICATE] = "duplicate",
    };
    if ((int)status < RECON_LINE_BOOKED || (int)status > RECON_LINE_DUPLICATE)
        return "exception";
    return names[status];
}

static void hash_hex(char out[2 * HEX_HASH_BYTES + 1], const char *text)
{
    uint8_t hash[HEX_HASH_BYTES];
    crypto_generichash(hash, sizeof hash, (const unsigned char *)text, strlen(text), NULL, 0);
    ledger_to_hex(out, hash, sizeof hash);
}

void recon_line_identity(char out[RECON_IDENTITY_SIZE], const struct recon_line *line)
{
    if (line->bank_reference[0] == '\0') {
        snprintf(out, RECON_IDENTITY_SIZE, "fp:%s", line->fingerprint);
        return;
    }
    char split[24] = "";
    if (line->split_count > 1)
        snprintf(split, sizeof split, "/%u", (unsigned)line->split_index);
    int written = snprintf(out, RECON_IDENTITY_SIZE, "ref:%s%s", line->bank_reference, split);
    if (written < 0 || (size_t)written >= RECON_IDENTITY_SIZE) {
        char hex[2 * HEX_HASH_BYTES + 1];
        hash_hex(hex, line->bank_reference);
        snprintf(out, RECON_IDENTITY_SIZE, "refh:%s%s", hex, split);
    }
}

size_t recon_disbursement_refs(int64_t *ids, size_t max, const char *text)
{
    size_t count = 0;
    for (const char *p = text; *p != '\0' && count < max; p++) {
        bool starts_word =
            p == text || !((p[-1] >= '0' && p[-1] <= '9') || (p[-1] >= 'A' && p[-1] <= 'Z') ||
                           (p[-1] >= 'a' && p[-1] <= 'z'));
        if (!starts_word || strncasecmp(p, "CLD", 3) != 0 || p[3] < '0' || p[3] > '9')
            continue;
        int64_t id = 0;
        size_t digits = 0;
        for (const char *d = p + 3; *d >= '0' && *d <= '9'; d++, digits++)
            if (digits < 18)
                id = id * 10 + (*d - '0');
        if (digits <= 18 && id > 0)
            ids[count++] = id;
        p += 2 + digits;
    }
    return count;
}

void recon_line_payin(char out[LEDGER_PAYIN_DIGITS + 1], bool *found_valid,
                      const struct recon_line *line)
{
    const char *fields[] = {line->remittance, line->creditor_reference, line->end_to_end_id,
                            line->owner_reference};
    char candidate[LEDGER_PAYIN_DIGITS + 1];
    out[0] = '\0';
    *found_valid = false;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        enum ledger_err err = ledger_payin_find(candidate, fields[i], strlen(fields[i]));
        if (err == LEDGER_OK) {
            memcpy(out, candidate, sizeof candidate);
            *found_valid = true;
            return;
        }
        if (err == LEDGER_ERR_INVALID_PAYIN && out[0] == '\0')
            memcpy(out, candidate, sizeof candidate);
    }
}

/* ---- deciding ---- */

__attribute__((format(printf, 4, 5))) static void decide(struct recon_decision *decision,
                                                         enum recon_line_status status,
                                                         const char *rule, const char *format, ...)
{
    decision->status = status;
    decision->rule = rule;
    va_list args;
    va_start(args, format);
    vsnprintf(decision->reason, sizeof decision->reason, format, args);
    va_end(args);
}

struct line_work {
    struct recon_match_context *context;
    const struct recon_line *line;
    size_t line_index;
    const struct ledger_payin_case *payin_case;
    struct recon_decision *decision;
    struct recon_booking *bookings;
    size_t *bookings_count;
};

static void add_booking(struct line_work *w, enum ledger_statement_booking_kind kind,
                        int64_t account_id, int64_t disbursement_id, int64_t amount_minor)
{
    struct recon_decision *decision = w->decision;
    struct recon_booking *slot = &w->bookings[*w->bookings_count];
    if (decision->bookings_count == 0)
        decision->bookings_first = *w->bookings_count;
    char hex[2 * HEX_HASH_BYTES + 1];
    hash_hex(hex, decision->identity);
    snprintf(slot->key, sizeof slot->key, "recon:%lld:%s:%zu",
             (long long)w->context->bank_account_id, hex, decision->bookings_count);
    slot->line_index = w->line_index;
    slot->booking = (struct ledger_statement_booking){
        .kind = kind,
        .account_id = account_id,
        .disbursement_id = disbursement_id,
        .amount_minor = amount_minor,
        .bank_ref = w->line->bank_reference,
        .payer = w->line->counterparty_name,
        .value_date_days = w->line->value_date_days,
        .memo = decision->reason,
        .idempotency_key = slot->key,
    };
    decision->bookings_count++;
    (*w->bookings_count)++;
}

static bool dates_within(int32_t a, int32_t b, int32_t window)
{
    if (a == RECON_DATE_NONE || b == RECON_DATE_NONE)
        return false;
    int64_t difference = (int64_t)a - (int64_t)b;
    return difference <= window && difference >= -window;
}

/* Account numbers compare without spaces and dashes, letters upper-case. */
static bool accounts_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a == ' ' || *a == '-')
            a++;
        while (*b == ' ' || *b == '-')
            b++;
        if (*a == '\0' || *b == '\0')
            return *a == *b;
        char x = (*a >= 'a' && *a <= 'z') ? (char)(*a - 32) : *a;
        char y = (*b >= 'a' && *b <= 'z') ? (char)(*b - 32) : *b;
        if (x != y)
            return false;
        a++;
        b++;
    }
}

/* ---- look-up tables ---- */

struct key_ref {
    const char *ref;
    size_t i;
};

struct key_amount {
    int64_t amount;
    size_t i;
};

struct recon_match_index {
    struct key_ref *items_by_ref; /* receipts' and settlements' bank references */
    struct key_amount *items_by_amount;
    size_t items_count;
    struct key_amount *payouts_by_amount;
    size_t payouts_count;
};

static int key_ref_order(const void *a, const void *b)
{
    const struct key_ref *x = a;
    const struct key_ref *y = b;
    int order = strcmp(x->ref, y->ref);
    return order != 0 ? order : (x->i > y->i) - (x->i < y->i);
}

static int key_amount_order(const void *a, const void *b)
{
    const struct key_amount *x = a;
    const struct key_amount *y = b;
    if (x->amount != y->amount)
        return x->amount < y->amount ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

void recon_match_index_free(struct recon_match_context *context)
{
    if (context->index == NULL)
        return;
    free(context->index->items_by_ref);
    free(context->index->items_by_amount);
    free(context->index->payouts_by_amount);
    free(context->index);
    context->index = NULL;
}

static struct recon_match_index *index_of(struct recon_match_context *c)
{
    if (c->index != NULL)
        return c->index;
    struct recon_match_index *x = calloc(1, sizeof *x);
    size_t items = c->items.count;
    size_t payouts = c->payouts.count;
    if (x == NULL)
        return NULL;
    x->items_by_ref = calloc(items ? items : 1, sizeof *x->items_by_ref);
    x->items_by_amount = calloc(items ? items : 1, sizeof *x->items_by_amount);
    x->payouts_by_amount = calloc(payouts ? payouts : 1, sizeof *x->payouts_by_amount);
    if (x->items_by_ref == NULL || x->items_by_amount == NULL || x->payouts_by_amount == NULL) {
        c->index = x;
        recon_match_index_free(c);
        return NULL;
    }
    for (size_t i = 0; i < items; i++) {
        x->items_by_ref[i] = (struct key_ref){c->items.items[i].bank_ref, i};
        x->items_by_amount[i] = (struct key_amount){c->items.items[i].amount_minor, i};
    }
    for (size_t i = 0; i < payouts; i++)
        x->payouts_by_amount[i] = (struct key_amount){c->payouts.payouts[i].amount_minor, i};
    qsort(x->items_by_ref, items, sizeof *x->items_by_ref, key_ref_order);
    qsort(x->items_by_amount, items, sizeof *x->items_by_amount, key_amount_order);
    qsort(x->payouts_by_amount, payouts, sizeof *x->payouts_by_amount, key_amount_order);
    x->items_count = items;
    x->payouts_count = payouts;
    c->index = x;
    return x;
}

/* [*first, *end) of the keys equal to ref / amount, in table order. */
static void ref_range(const struct key_ref *keys, size_t count, const char *ref, size_t *first,
                      size_t *end)
{
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (strcmp(keys[middle].ref, ref) < 0)
            low = middle + 1;
        else
            high = middle;
    }
    *first = low;
    while (low < count && strcmp(keys[low].ref, ref) == 0)
        low++;
    *end = low;
}

static void amount_range(const struct key_amount *keys, size_t count, int64_t amount, size_t *first,
                         size_t *end)
{
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (keys[middle].amount < amount)
            low = middle + 1;
        else
            high = middle;
    }
    *first = low;
    while (low < count && keys[low].amount == amount)
        low++;
    *end = low;
}

/* Candidates of a rule: the item (or payout) numbers of one range of a
 * table. A range holds equal keys sorted by number, so the candidates come
 * in the order the scans they replace visited them. Without tables (out of
 * memory) every number is a candidate. */
struct candidates {
    const struct key_ref *refs;       /* the range's table, or */
    const struct key_amount *amounts; /* this one, or neither: every number */
    size_t position;
    size_t end;
};

static bool candidates_next(struct candidates *c, size_t *number)
{
    if (c->position >= c->end)
        return false;
    *number = c->refs      ? c->refs[c->position].i
              : c->amounts ? c->amounts[c->position].i
                           : c->position;
    c->position++;
    return true;
}

static struct candidates candidates_items_by_ref(struct recon_match_context *c, const char *ref)
{
    struct recon_match_index *x = index_of(c);
    struct candidates out = {.end = c->items.count};
    if (x != NULL) {
        out.refs = x->items_by_ref;
        ref_range(x->items_by_ref, x->items_count, ref, &out.position, &out.end);
    }
    return out;
}

static struct candidates candidates_items_by_amount(struct recon_match_context *c, int64_t amount)
{
    struct recon_match_index *x = index_of(c);
    struct candidates out = {.end = c->items.count};
    if (x != NULL) {
        out.amounts = x->items_by_amount;
        amount_range(x->items_by_amount, x->items_count, amount, &out.position, &out.end);
    }
    return out;
}

static struct candidates candidates_payouts_by_amount(struct recon_match_context *c, int64_t amount)
{
    struct recon_match_index *x = index_of(c);
    struct candidates out = {.end = c->payouts.count};
    if (x != NULL) {
        out.amounts = x->payouts_by_amount;
        amount_range(x->payouts_by_amount, x->payouts_count, amount, &out.position, &out.end);
    }
    return out;
}

/* ---- credits ---- */

static bool is_receipt(const struct ledger_open_item *item)
{
    return strcmp(item->kind, "receipt") == 0 || strcmp(item->kind, "suspense_receipt") == 0;
}

static bool rule_receipt_bank_ref(struct line_work *w)
{
    const struct recon_line *line = w->line;
    struct recon_match_context *c = w->context;
    if (line->bank_reference[0] == '\0')
        return false;
    struct candidates found = candidates_items_by_ref(c, line->bank_reference);
    size_t i;
    while (candidates_next(&found, &i)) {
        const struct ledger_open_item *item = &c->items.items[i];
        if (c->item_used[i] || !is_receipt(item) || strcmp(item->bank_ref, line->bank_reference))
            continue;
        if (item->amount_minor != line->amount_minor) {
            decide(w->decision, RECON_LINE_EXCEPTION, "receipt_bank_ref",
                   "amount mismatch: receipt entry %lld has the bank reference but books %lld, "
                   "the bank %lld",
                   (long long)item->seq, (long long)item->amount_minor,
                   (long long)line->amount_minor);
            return true;
        }
        c->item_used[i] = true;
        w->decision->matched_seq = item->seq;
        decide(w->decision, RECON_LINE_MATCHED, "receipt_bank_ref",
               "receipt entry %lld was booked through the API with this bank reference",
               (long long)item->seq);
        return true;
    }
    return false;
}

static bool rule_receipt_amount_payer(struct line_work *w)
{
    const struct recon_line *line = w->line;
    struct recon_match_context *c = w->context;
    size_t found[2];
    size_t count = 0;
    if (line->counterparty_name[0] == '\0')
        return false;
    struct candidates candidates = candidates_items_by_amount(c, line->amount_minor);
    size_t i;
    while (candidates_next(&candidates, &i)) {
        const struct ledger_open_item *item = &c->items.items[i];
        if (c->item_used[i] || !is_receipt(item) || item->amount_minor != line->amount_minor ||
            strcasecmp(item->payer, line->counterparty_name) != 0 ||
            !dates_within(item->value_date_days, line->value_date_days,
                          RECON_MATCH_DATE_WINDOW_DAYS) ||
            (w->payin_case->account_id != 0 && item->account_id != w->payin_case->account_id))
            continue;
        if (count < 2)
            found[count] = i;
        count++;
    }
    if (count == 0)
        return false;
    const struct ledger_open_item *first = &c->items.items[found[0]];
    if (count > 1) {
        const struct ledger_open_item *second = &c->items.items[found[1]];
        snprintf(w->decision->candidates, sizeof w->decision->candidates,
                 "receipt entry %lld, receipt entry %lld%s", (long long)first->seq,
                 (long long)second->seq, count > 2 ? ", and more" : "");
        decide(w->decision, RECON_LINE_EXCEPTION, "receipt_amount_payer",
               "ambiguous: %zu receipts booked through the API have this amount and payer within "
               "%d days: entries %lld and %lld",
               count, RECON_MATCH_DATE_WINDOW_DAYS, (long long)first->seq, (long long)second->seq);
        return true;
    }
    c->item_used[found[0]] = true;
    w->decision->matched_seq = first->seq;
    decide(w->decision, RECON_LINE_MATCHED, "receipt_amount_payer",
           "receipt entry %lld booked through the API has the same amount and payer within %d "
           "days",
           (long long)first->seq, RECON_MATCH_DATE_WINDOW_DAYS);
    return true;
}

static void to_suspense(struct line_work *w, const char *rule, const char *reason)
{
    decide(w->decision, RECON_LINE_SUSPENSE, rule, "%s", reason);
    add_booking(w, LEDGER_STATEMENT_SUSPENSE, 0, 0, w->line->amount_minor);
}

static bool rule_payin(struct line_work *w)
{
    const struct ledger_payin_case *found = w->payin_case;
    struct recon_decision *decision = w->decision;
    char reason[RECON_REASON_SIZE];
    if (decision->payin_no[0] == '\0' ||
        ledger_payin_check(decision->payin_no, LEDGER_PAYIN_DIGITS))
        return false;
    if (found->account_id == 0) {
        snprintf(reason, sizeof reason, "pay-in number %s names no case", decision->payin_no);
        to_suspense(w, "payin_no", reason);
    } else if (strcmp(found->status, "closed") == 0 ||
               strcmp(found->currency, w->context->currency) != 0) {
        snprintf(reason, sizeof reason, "pay-in number %s names case %s, which is %s",
                 decision->payin_no, found->case_no,
                 strcmp(found->status, "closed") == 0 ? "closed" : "in another currency");
        to_suspense(w, "payin_no", reason);
    } else {
        decide(decision, RECON_LINE_BOOKED, "payin_no", "pay-in number %s: receipt on case %s",
               decision->payin_no, found->case_no);
        add_booking(w, LEDGER_STATEMENT_RECEIPT, found->account_id, 0, w->line->amount_minor);
    }
    return true;
}

static void match_credit(struct line_work *w)
{
    char reason[RECON_REASON_SIZE];
    if (rule_receipt_bank_ref(w) || rule_receipt_amount_payer(w) || rule_payin(w))
        return;
    if (w->decision->payin_no[0] != '\0') {
        snprintf(reason, sizeof reason,
                 "pay-in number %s has a bad check digit: never booked to a case",
                 w->decision->payin_no);
        to_suspense(w, "payin_check_digit", reason);
    } else if (w->line->batch_transaction_count > 0) {
        snprintf(reason, sizeof reason, "a batch booking of %u payments without their details",
                 (unsigned)w->line->batch_transaction_count);
        to_suspense(w, "batch_credit", reason);
    } else {
        to_suspense(w, "unidentified", "no pay-in number and no receipt booked through the API");
    }
}

/* ---- payouts ---- */

static struct ledger_payout *payout_find(struct recon_match_context *c, int64_t id)
{
    size_t low = 0;
    size_t high = c->payouts.count;
    while (low < high) { /* payouts are in id order */
        size_t middle = low + (high - low) / 2;
        if (c->payouts.payouts[middle].id == id)
            return &c->payouts.payouts[middle];
        if (c->payouts.payouts[middle].id < id)
            low = middle + 1;
        else
            high = middle;
    }
    return NULL;
}

static size_t line_refs(const struct recon_line *line, int64_t *ids, size_t max)
{
    size_t count = recon_disbursement_refs(ids, max, line->end_to_end_id);
    count += recon_disbursement_refs(ids + count, max - count, line->owner_reference);
    count += recon_disbursement_refs(ids + count, max - count, line->remittance);
    size_t unique = 0; /* the same payout named in two fields counts once */
    for (size_t i = 0; i < count; i++) {
        bool seen = false;
        for (size_t j = 0; j < unique && !seen; j++)
            seen = ids[j] == ids[i];
        if (!seen)
            ids[unique++] = ids[i];
    }
    return unique;
}

static bool case_closed(const struct ledger_payout *payout)
{
    return strcmp(payout->case_status, "closed") == 0;
}

static void return_payout(struct line_work *w, struct ledger_payout *payout, const char *rule)
{
    if (case_closed(payout)) {
        decide(w->decision, RECON_LINE_EXCEPTION, rule,
               "payout %lld came back but case %s is closed", (long long)payout->id,
               payout->case_no);
        return;
    }
    snprintf(payout->status, sizeof payout->status, "returned");
    w->decision->disbursement_id = payout->id;
    decide(w->decision, RECON_LINE_RETURNED, rule, "payout %lld returned (%s): back on case %s",
           (long long)payout->id, w->line->return_reason[0] ? w->line->return_reason : "reversal",
           payout->case_no);
    add_booking(w, LEDGER_STATEMENT_RETURN, payout->account_id, payout->id, w->line->amount_minor);
}

static bool rule_return_reference(struct line_work *w)
{
    int64_t ids[RECON_BATCH_REFERENCES_MAX];
    size_t count = line_refs(w->line, ids, RECON_BATCH_REFERENCES_MAX);
    if (count != 1)
        return false;
    struct ledger_payout *payout = payout_find(w->context, ids[0]);
    if (payout == NULL)
        return false;
    if (strcmp(payout->status, "paid") != 0 || payout->amount_minor != w->line->amount_minor) {
        decide(w->decision, RECON_LINE_EXCEPTION, "return_reference",
               "payout %lld is %s for %lld: cannot take back %lld", (long long)payout->id,
               payout->status, (long long)payout->amount_minor, (long long)w->line->amount_minor);
        return true;
    }
    return_payout(w, payout, "return_reference");
    return true;
}

/* Payouts in status with the line's absolute amount and counterparty
 * account; found[0..1] the first two, returns how many. */
static size_t payouts_by_payee(struct recon_match_context *c, const struct recon_line *line,
                               const char *status, int64_t amount_minor, size_t found[2])
{
    size_t count = 0;
    if (line->counterparty_account[0] == '\0')
        return 0;
    struct candidates candidates = candidates_payouts_by_amount(c, amount_minor);
    size_t i;
    while (candidates_next(&candidates, &i)) {
        const struct ledger_payout *payout = &c->payouts.payouts[i];
        /* A payout paid in part is settled only by a line naming it: this
         * rule would book what is left of it against a line of its whole. */
        if (strcmp(payout->status, status) != 0 || payout->amount_minor != amount_minor ||
            payout->parts_paid_minor != 0 ||
            !accounts_equal(payout->payee_account, line->counterparty_account))
            continue;
        if (count < 2)
            found[count] = i;
        count++;
    }
    return count;
}

static void ambiguous_payouts(struct line_work *w, const char *rule, size_t count,
                              const size_t found[2])
{
    const struct ledger_payout *a = &w->context->payouts.payouts[found[0]];
    const struct ledger_payout *b = &w->context->payouts.payouts[found[1]];
    snprintf(w->decision->candidates, sizeof w->decision->candidates,
             "payout %lld (case %.100s), payout %lld (case %.100s)%s", (long long)a->id, a->case_no,
             (long long)b->id, b->case_no, count > 2 ? ", and more" : "");
    decide(w->decision, RECON_LINE_EXCEPTION, rule,
           "ambiguous: %zu payouts have this amount and payee account: payouts %lld and %lld",
           count, (long long)a->id, (long long)b->id);
}

static void match_return(struct line_work *w)
{
    if (rule_return_reference(w))
        return;
    size_t found[2];
    size_t count = payouts_by_payee(w->context, w->line, "paid", w->line->amount_minor, found);
    if (count == 1)
        return_payout(w, &w->context->payouts.payouts[found[0]], "return_amount_payee");
    else if (count > 1)
        ambiguous_payouts(w, "return_amount_payee", count, found);
    else
        to_suspense(w, "return_unmatched", "a returned payment that names no paid payout");
}

/* ---- debits ---- */

static bool rule_settle_bank_ref(struct line_work *w)
{
    const struct recon_line *line = w->line;
    struct recon_match_context *c = w->context;
    if (line->bank_reference[0] == '\0')
        return false;
    struct candidates found = candidates_items_by_ref(c, line->bank_reference);
    size_t i;
    while (candidates_next(&found, &i)) {
        const struct ledger_open_item *item = &c->items.items[i];
        if (c->item_used[i] || strcmp(item->kind, "settle") != 0 ||
            strcmp(item->bank_ref, line->bank_reference) != 0 ||
            item->amount_minor != line->amount_minor)
            continue;
        c->item_used[i] = true;
        w->decision->matched_seq = item->seq;
        w->decision->disbursement_id = item->disbursement_id;
        decide(w->decision, RECON_LINE_MATCHED, "settle_bank_ref",
               "settlement entry %lld of payout %lld was booked through the API with this bank "
               "reference",
               (long long)item->seq, (long long)item->disbursement_id);
        return true;
    }
    return false;
}

/* The open settlement entry of a payout paid through the API, if any. */
static bool match_paid_through_api(struct line_work *w, const struct ledger_payout *payout)
{
    struct recon_match_context *c = w->context;
    size_t low = 0, high = c->items.count;
    while (low < high) { /* items are in seq order */
        size_t middle = low + (high - low) / 2;
        if (c->items.items[middle].seq < payout->settle_seq)
            low = middle + 1;
        else
            high = middle;
    }
    for (size_t i = low; i < c->items.count && c->items.items[i].seq == payout->settle_seq; i++) {
        if (c->item_used[i])
            continue;
        c->item_used[i] = true;
        w->decision->matched_seq = payout->settle_seq;
        w->decision->disbursement_id = payout->id;
        decide(w->decision, RECON_LINE_MATCHED, "disbursement_reference",
               "payout %lld was settled through the API (entry %lld)", (long long)payout->id,
               (long long)payout->settle_seq);
        return true;
    }
    return false;
}

static void settle_payouts(struct line_work *w, struct ledger_payout **payouts, size_t count,
                           const char *rule)
{
    w->decision->disbursement_id = payouts[0]->id;
    if (count == 1)
        decide(w->decision, RECON_LINE_SETTLED, rule, "pays payout %lld of case %s",
               (long long)payouts[0]->id, payouts[0]->case_no);
    else
        decide(w->decision, RECON_LINE_SETTLED, rule,
               "one bank line for a batch of %zu payouts, %lld to %lld", count,
               (long long)payouts[0]->id, (long long)payouts[count - 1]->id);
    for (size_t i = 0; i < count; i++) {
        snprintf(payouts[i]->status, sizeof payouts[i]->status, "paid");
        add_booking(w, LEDGER_STATEMENT_SETTLE, payouts[i]->account_id, payouts[i]->id,
                    payouts[i]->amount_minor - payouts[i]->parts_paid_minor);
        payouts[i]->parts_paid_minor = 0;
    }
}

/* Several bank lines paying one payout: a line that names one approved
 * payout and pays less than what is left of it pays a part. The payout
 * stays approved until the line that pays the rest settles it. */
static bool settle_part(struct line_work *w, struct ledger_payout *payout)
{
    int64_t paid = -w->line->amount_minor;
    int64_t left = payout->amount_minor - payout->parts_paid_minor;
    if (paid <= 0 || paid >= left)
        return false;
    payout->parts_paid_minor += paid;
    w->decision->disbursement_id = payout->id;
    decide(w->decision, RECON_LINE_SETTLED, "disbursement_part",
           "pays %lld of payout %lld of case %s: %lld of %lld paid so far", (long long)paid,
           (long long)payout->id, payout->case_no, (long long)payout->parts_paid_minor,
           (long long)payout->amount_minor);
    add_booking(w, LEDGER_STATEMENT_SETTLE_PART, payout->account_id, payout->id, paid);
    return true;
}

static bool rule_disbursement_reference(struct line_work *w)
{
    int64_t ids[RECON_BATCH_REFERENCES_MAX];
    struct ledger_payout *payouts[RECON_BATCH_REFERENCES_MAX];
    size_t count = line_refs(w->line, ids, RECON_BATCH_REFERENCES_MAX);
    if (count == 0)
        return false;
    int64_t sum = 0;
    for (size_t i = 0; i < count; i++) {
        payouts[i] = payout_find(w->context, ids[i]);
        if (payouts[i] == NULL) {
            decide(w->decision, RECON_LINE_EXCEPTION, "disbursement_reference",
                   "names payout %lld, which is not an approved or recently paid payout",
                   (long long)ids[i]);
            return true;
        }
        if (count == 1 && strcmp(payouts[0]->status, "paid") == 0 &&
            payouts[0]->amount_minor == -w->line->amount_minor &&
            match_paid_through_api(w, payouts[0]))
            return true;
        if (strcmp(payouts[i]->status, "approved") != 0 ||
            __builtin_add_overflow(sum, payouts[i]->amount_minor - payouts[i]->parts_paid_minor,
                                   &sum)) {
            decide(w->decision, RECON_LINE_EXCEPTION, "disbursement_reference",
                   "names payout %lld, which is %s, not waiting to be paid",
                   (long long)payouts[i]->id, payouts[i]->status);
            return true;
        }
    }
    if (count == 1 && settle_part(w, payouts[0]))
        return true;
    if (sum != -w->line->amount_minor) {
        decide(w->decision, RECON_LINE_EXCEPTION, "disbursement_reference",
               "amount mismatch: the named payouts (what is left of them) add up to %lld, the "
               "bank paid %lld",
               (long long)sum, (long long)-w->line->amount_minor);
        return true;
    }
    settle_payouts(w, payouts, count, count == 1 ? "disbursement_reference" : "disbursement_batch");
    return true;
}

static void match_debit(struct line_work *w)
{
    if (w->line->reversal) {
        decide(w->decision, RECON_LINE_EXCEPTION, "reversed_credit",
               "the bank reversed a credit: reverse the receipt through its own workflow");
        return;
    }
    if (rule_settle_bank_ref(w) || rule_disbursement_reference(w))
        return;
    size_t found[2];
    size_t count = payouts_by_payee(w->context, w->line, "approved", -w->line->amount_minor, found);
    if (count == 1) {
        struct ledger_payout *payout = &w->context->payouts.payouts[found[0]];
        settle_payouts(w, &payout, 1, "disbursement_amount_payee");
    } else if (count > 1) {
        ambiguous_payouts(w, "disbursement_amount_payee", count, found);
    } else {
        decide(w->decision, RECON_LINE_EXCEPTION, "unmatched_debit",
               "no approved payout with this reference, or this amount and payee account");
    }
}

void recon_match_line(struct recon_match_context *context, const struct recon_line *line,
                      size_t line_index, const struct ledger_payin_case *payin_case,
                      struct recon_decision *decision, struct recon_booking *bookings,
                      size_t *bookings_count)
{
    struct line_work work = {context,  line,     line_index,    payin_case,
                             decision, bookings, bookings_count};
    bool is_return = line->reversal || line->return_reason[0] != '\0';
    if (line->amount_minor == 0)
        decide(decision, RECON_LINE_EXCEPTION, "zero_amount", "a line of zero amount");
    else if (line->amount_minor > 0 && is_return)
        match_return(&work);
    else if (line->amount_minor > 0)
        match_credit(&work);
    else
        match_debit(&work);
}
