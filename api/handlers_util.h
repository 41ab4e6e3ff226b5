/* Helpers the staff handlers share (handlers_cases.c, handlers_money.c):
 * amounts with their text, times, hashes, list pages and ledger errors. */
#ifndef API_HANDLERS_UTIL_H
#define API_HANDLERS_UTIL_H

#include "server.h"

/* The ledger's error with the handle's detail (internal errors keep theirs
 * out of the answer: api_respond_ledger_error). */
void api_respond_ledger_failure(struct api_handler_context *context, struct api_response *response,
                                enum ledger_err err);

/* Sets object[name] to the amount and object["<name>_text"] to its text. */
void api_set_amount(json_t *object, const char *name, int64_t amount_minor, const char *currency);
/* New JSON strings: ISO 8601 UTC of microseconds since the epoch; hex of
 * a hash. */
json_t *api_time_json(int64_t time_us);
json_t *api_hash_json(const uint8_t hash[LEDGER_HASH_SIZE]);

/* ?cursor= of a list: absent or empty is the first page (0); else the
 * "next" of an earlier page (400 invalid_cursor otherwise). */
bool api_list_cursor(struct api_handler_context *context, struct api_response *response,
                     int64_t *cursor);
/* Answers 200 {"items": items, "next": "cursor" | null}; takes items. */
void api_respond_page(struct api_response *response, json_t *items, int64_t next_cursor);
/* Appends item (taken) to items: LEDGER_OK, or LEDGER_ERR_NOMEM (for list
 * callbacks). */
enum ledger_err api_append_item(json_t *items, json_t *item);

/* A string member name of a nested object (label names the object in
 * errors: "payee"); like api_body_string. */
bool api_member_string(struct api_response *response, json_t *object, const char *label,
                       const char *name, bool required, size_t max_bytes, const char **out);

/* A path segment {id} as a positive id; false after answering 404 with
 * the ledger error `unknown` (an id that is not a number names nothing). */
bool api_path_id(struct api_handler_context *context, struct api_response *response,
                 enum ledger_err unknown, int64_t *id);

/* Same, answering 404 with unknown_code (for objects the ledger has no
 * error of their own for: "unknown_statement"). */
bool api_path_object_id(struct api_handler_context *context, struct api_response *response,
                        const char *unknown_code, int64_t *id);

/* After a booking: the ledger's error (err), or 201 {"entry_id", "seq",
 * "case_no" (null unless the booking's account is a case), "suspense",
 * "amount"(+_text), "currency", "hash"}; true when it answered 201. */
bool api_respond_booking(struct api_handler_context *context, struct api_response *response,
                         enum ledger_err err, const struct ledger_booking *booking);

#endif
