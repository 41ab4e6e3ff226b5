/* The rate limiter (api/ratelimit.c) and who the client is behind a
 * reverse proxy (api/client_address.c), as units: no server, no database.
 *
 *   limiter   two keys in one bucket keep their own state (a check never
 *             evicts); a full bucket forgets its least recent entry, an
 *             expired one first; fixed windows; locks that double
 *   clients   --trusted-proxies parsing; the right-most untrusted address
 *             of X-Forwarded-For, only from a trusted peer; IPv6 by /64 */
#include <check.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server_internal.h"

#define ROWS(table) ((int)(sizeof(table) / sizeof((table)[0])))
#define SMALL_TABLE_SLOTS (API_RATE_BUCKET_SLOTS * 8) /* 8 buckets */
#define KEY_SIZE 64
#define T0 1000 /* a monotonic second to start from */

static const struct api_rate_rule lock_after_3 = {.failures_max = 3, .window_s = 600};
static const struct api_rate_rule lock_at_once = {.failures_max = 1, .window_s = 600};
static const struct api_rate_rule backoff_rule = {.failures_max =
                                                      API_STATUS_FAILURES_PER_CLIENT_CASE,
                                                  .window_s = API_STATUS_WINDOW_S,
                                                  .backoff_s = API_STATUS_BACKOFF_S,
                                                  .backoff_max_s = API_STATUS_BACKOFF_MAX_S};

static struct api_rate_limiter limiter;

static void limiter_setup(void)
{
    ck_assert(api_rate_init(&limiter, SMALL_TABLE_SLOTS));
}

static void limiter_teardown(void)
{
    api_rate_destroy(&limiter);
}

/* count keys ("key-N") that all fall in one bucket, into keys. */
static void keys_in_one_bucket(char keys[][KEY_SIZE], size_t count)
{
    size_t found = 0;
    size_t bucket = 0;
    for (unsigned n = 0; n < 100000 && found < count; n++) {
        char key[KEY_SIZE];
        snprintf(key, sizeof key, "status-client:192.0.2.%u", n);
        size_t this_bucket = api_rate_bucket_of(&limiter, key);
        if (found == 0)
            bucket = this_bucket;
        if (this_bucket == bucket)
            snprintf(keys[found++], KEY_SIZE, "%s", key);
    }
    ck_assert_uint_eq(found, count);
}

static bool allowed(const char *key, int64_t now_s)
{
    int64_t retry_after_s = 0;
    bool result = api_rate_allowed(&limiter, key, now_s, &retry_after_s);
    ck_assert(result ? retry_after_s == 0 : retry_after_s >= 1);
    return result;
}

static int64_t retry_after(const char *key, int64_t now_s)
{
    int64_t retry_after_s = 0;
    ck_assert(!api_rate_allowed(&limiter, key, now_s, &retry_after_s));
    return retry_after_s;
}

/* One slot per bucket used to be all there was: checking B evicted A's
 * failures, and A's lock was gone. */
START_TEST(colliding_keys_keep_their_state)
{
    char keys[2][KEY_SIZE];
    keys_in_one_bucket(keys, 2);
    for (int i = 0; i < 3; i++)
        api_rate_failed(&limiter, keys[0], &lock_after_3, T0);
    ck_assert(!allowed(keys[0], T0));
    /* Checking and failing the other key leaves the first locked. */
    ck_assert(allowed(keys[1], T0 + 1));
    ck_assert(!allowed(keys[0], T0 + 1));
    api_rate_failed(&limiter, keys[1], &lock_after_3, T0 + 1);
    ck_assert(!allowed(keys[0], T0 + 2));
    ck_assert_int_eq(retry_after(keys[0], T0 + 2), 600 - 2);
    /* ... and the second has its own count: two more failures lock it. */
    api_rate_failed(&limiter, keys[1], &lock_after_3, T0 + 2);
    ck_assert(allowed(keys[1], T0 + 2));
    api_rate_failed(&limiter, keys[1], &lock_after_3, T0 + 3);
    ck_assert(!allowed(keys[1], T0 + 3));
    ck_assert(!allowed(keys[0], T0 + 3));
}
END_TEST

/* A bucket full of live entries gives up the least recent one, and only
 * for a failure: checks alone never take an entry. */
START_TEST(full_bucket_forgets_least_recent)
{
    char keys[API_RATE_BUCKET_SLOTS + 1][KEY_SIZE];
    keys_in_one_bucket(keys, API_RATE_BUCKET_SLOTS + 1);
    for (int i = 0; i < API_RATE_BUCKET_SLOTS; i++)
        api_rate_failed(&limiter, keys[i], &lock_at_once, T0 + i);
    for (int round = 0; round < 100; round++)
        ck_assert(allowed(keys[API_RATE_BUCKET_SLOTS], T0 + 20));
    for (int i = 0; i < API_RATE_BUCKET_SLOTS; i++)
        ck_assert_msg(!allowed(keys[i], T0 + 20), "key %d lost its lock to checks", i);
    api_rate_failed(&limiter, keys[API_RATE_BUCKET_SLOTS], &lock_at_once, T0 + 20);
    ck_assert(!allowed(keys[API_RATE_BUCKET_SLOTS], T0 + 20));
    ck_assert_msg(allowed(keys[0], T0 + 20), "the least recent entry was not the one forgotten");
    for (int i = 1; i < API_RATE_BUCKET_SLOTS; i++)
        ck_assert_msg(!allowed(keys[i], T0 + 20), "key %d was forgotten", i);
}
END_TEST

/* An expired entry is taken before any live one, however old. */
START_TEST(expired_entry_taken_first)
{
    static const struct api_rate_rule short_window = {.failures_max = 1, .window_s = 10};
    char keys[API_RATE_BUCKET_SLOTS + 1][KEY_SIZE];
    keys_in_one_bucket(keys, API_RATE_BUCKET_SLOTS + 1);
    for (int i = 0; i < API_RATE_BUCKET_SLOTS; i++)
        api_rate_failed(&limiter, keys[i], i == 5 ? &short_window : &lock_at_once, T0 + i);
    ck_assert(allowed(keys[5], T0 + 100)); /* expired */
    api_rate_failed(&limiter, keys[API_RATE_BUCKET_SLOTS], &lock_at_once, T0 + 100);
    for (int i = 0; i < API_RATE_BUCKET_SLOTS; i++)
        ck_assert_msg(i == 5 || !allowed(keys[i], T0 + 100), "live key %d was forgotten", i);
    ck_assert(!allowed(keys[API_RATE_BUCKET_SLOTS], T0 + 100));
}
END_TEST

/* Fixed windows (per client address): failures_max in a window lock the
 * key to the window's end; the next window counts from zero. */
START_TEST(fixed_window)
{
    static const struct api_rate_rule client = {.failures_max = API_STATUS_FAILURES_PER_IP,
                                                .window_s = API_STATUS_WINDOW_S};
    const char *key = "status-client:198.51.100.7";
    for (int i = 0; i < API_STATUS_FAILURES_PER_IP; i++) {
        ck_assert(allowed(key, T0 + i));
        api_rate_failed(&limiter, key, &client, T0 + i);
    }
    ck_assert_int_eq(retry_after(key, T0 + 100), API_STATUS_WINDOW_S - 100);
    ck_assert(allowed(key, T0 + API_STATUS_WINDOW_S));
    api_rate_failed(&limiter, key, &client, T0 + API_STATUS_WINDOW_S);
    ck_assert(allowed(key, T0 + API_STATUS_WINDOW_S + 1));
}
END_TEST

/* Per client and case: failures_max failures lock for backoff_s, each
 * further failure doubles the lock up to backoff_max_s; forgotten a window
 * after the lock ends. */
START_TEST(locks_double)
{
    const char *key = "status-client-case:198.51.100.7|(2024)1";
    int64_t now = T0;
    for (int i = 0; i < API_STATUS_FAILURES_PER_CLIENT_CASE - 1; i++)
        api_rate_failed(&limiter, key, &backoff_rule, now);
    ck_assert(allowed(key, now));
    int64_t lock_s = API_STATUS_BACKOFF_S;
    for (int lock = 0; lock < 20; lock++) {
        api_rate_failed(&limiter, key, &backoff_rule, now);
        ck_assert_int_eq(retry_after(key, now), lock_s);
        now += lock_s;
        ck_assert(allowed(key, now));
        lock_s = lock_s * 2 < API_STATUS_BACKOFF_MAX_S ? lock_s * 2 : API_STATUS_BACKOFF_MAX_S;
    }
    ck_assert_int_eq(lock_s, API_STATUS_BACKOFF_MAX_S);
    /* A window without failures after the last lock: forgotten. */
    now += API_STATUS_WINDOW_S;
    for (int i = 0; i < API_STATUS_FAILURES_PER_CLIENT_CASE - 1; i++)
        api_rate_failed(&limiter, key, &backoff_rule, now);
    ck_assert(allowed(key, now));
    api_rate_failed(&limiter, key, &backoff_rule, now);
    ck_assert_int_eq(retry_after(key, now), API_STATUS_BACKOFF_S);
}
END_TEST

/* ---- clients ---- */

struct proxies_row {
    const char *text;
    bool valid;
    size_t count;
};

static const struct proxies_row proxies_rows[] = {
    {"", true, 0},
    {"127.0.0.1", true, 1},
    {"127.0.0.1,10.0.0.0/8, 192.168.1.0/24 ::1 fd00::/8", true, 5},
    {"0.0.0.0/0", true, 1},
    {"10.0.0.0/33", false, 0},
    {"fd00::/129", false, 0},
    {"10.0.0.0/", false, 0},
    {"10.0.0.0/8x", false, 0},
    {"10.0.0.0/-1", false, 0},
    {"proxy.example", false, 0},
    {"10.0.0.256", false, 0},
    {"127.0.0.1;10.0.0.1", false, 0},
};

START_TEST(proxies_parse)
{
    const struct proxies_row *row = &proxies_rows[_i];
    struct api_trusted_proxies proxies;
    ck_assert_msg(api_trusted_proxies_parse(&proxies, row->text) == row->valid, "\"%s\"",
                  row->text);
    if (row->valid)
        ck_assert_uint_eq(proxies.count, row->count);
}
END_TEST

START_TEST(proxies_bounded)
{
    char text[API_TRUSTED_PROXIES_MAX * 16 + 16] = "";
    for (int i = 0; i <= API_TRUSTED_PROXIES_MAX; i++) {
        char one[16];
        snprintf(one, sizeof one, "10.0.0.%d,", i);
        strcat(text, one);
        struct api_trusted_proxies proxies;
        ck_assert(api_trusted_proxies_parse(&proxies, text) == (i < API_TRUSTED_PROXIES_MAX));
    }
}
END_TEST

struct client_row {
    const char *what;
    const char *proxies;
    const char *peer;
    const char *forwarded[3]; /* X-Forwarded-For lines, NULL-terminated */
    const char *client;
};

static const struct client_row client_rows[] = {
    {"no proxies: the header is ignored", "", "203.0.113.5", {"198.51.100.1", NULL}, "203.0.113.5"},
    {"untrusted peer: ignored", "10.0.0.0/8", "203.0.113.5", {"198.51.100.1", NULL}, "203.0.113.5"},
    {"trusted peer without the header", "127.0.0.1", "127.0.0.1", {NULL}, "127.0.0.1"},
    {"trusted peer", "127.0.0.1", "127.0.0.1", {"198.51.100.1", NULL}, "198.51.100.1"},
    {"right-most untrusted",
     "127.0.0.1, 10.0.0.0/8",
     "127.0.0.1",
     {"192.0.2.66, 198.51.100.1, 10.1.2.3", NULL},
     "198.51.100.1"},
    {"a spoofed left part is not believed",
     "127.0.0.1",
     "127.0.0.1",
     {"10.9.9.9, 198.51.100.1", NULL},
     "198.51.100.1"},
    {"every hop trusted: the left-most",
     "127.0.0.1, 10.0.0.0/8",
     "127.0.0.1",
     {"10.0.0.1, 10.0.0.2", NULL},
     "10.0.0.1"},
    {"several header lines are one list",
     "127.0.0.1, 10.0.0.0/8",
     "127.0.0.1",
     {"198.51.100.1", "10.0.0.2", NULL},
     "198.51.100.1"},
    {"junk from the proxy: the proxy stands for the client",
     "127.0.0.1",
     "127.0.0.1",
     {"198.51.100.1, unknown", NULL},
     "127.0.0.1"},
    {"junk left of the client is not read",
     "127.0.0.1",
     "127.0.0.1",
     {"junk, 198.51.100.1", NULL},
     "198.51.100.1"},
    {"blanks and an empty item", "127.0.0.1", "127.0.0.1", {"  198.51.100.1 ,", NULL}, "127.0.0.1"},
    {"IPv6 client", "127.0.0.1", "127.0.0.1", {"2001:db8::1", NULL}, "2001:db8::1"},
    {"bracketed IPv6 client", "127.0.0.1", "127.0.0.1", {"[2001:db8::1]", NULL}, "2001:db8::1"},
    {"IPv4-mapped client", "127.0.0.1", "127.0.0.1", {"::ffff:198.51.100.1", NULL}, "198.51.100.1"},
    {"IPv4-mapped peer", "127.0.0.1", "::ffff:127.0.0.1", {"198.51.100.1", NULL}, "198.51.100.1"},
    {"CIDR boundary", "10.0.0.0/9", "10.127.255.255", {"198.51.100.1", NULL}, "198.51.100.1"},
    {"outside the CIDR", "10.0.0.0/9", "10.128.0.0", {"198.51.100.1", NULL}, "10.128.0.0"},
};

static void peer_of(struct sockaddr_storage *storage, const char *text)
{
    memset(storage, 0, sizeof *storage);
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)storage;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return;
    }
    ck_assert_int_eq(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
    v6->sin6_family = AF_INET6;
}

START_TEST(client_resolved)
{
    const struct client_row *row = &client_rows[_i];
    struct api_trusted_proxies proxies;
    ck_assert(api_trusted_proxies_parse(&proxies, row->proxies));
    struct sockaddr_storage peer;
    peer_of(&peer, row->peer);
    size_t count = 0;
    while (count < 3 && row->forwarded[count] != NULL)
        count++;
    char client[64];
    api_client_address_resolve(client, sizeof client, &proxies,
                               (const struct sockaddr *)(const void *)&peer, row->forwarded, count);
    ck_assert_msg(strcmp(client, row->client) == 0, "%s: %s, want %s", row->what, client,
                  row->client);
}
END_TEST

START_TEST(hops_bounded)
{
    struct api_trusted_proxies proxies;
    ck_assert(api_trusted_proxies_parse(&proxies, "127.0.0.1, 10.0.0.0/8"));
    static char forwarded[API_FORWARDED_HOPS_MAX * 16 + 64];
    strcpy(forwarded, "198.51.100.1");
    for (int i = 0; i < API_FORWARDED_HOPS_MAX; i++)
        strcat(forwarded, ", 10.0.0.1");
    const char *lines[] = {forwarded};
    struct sockaddr_storage peer;
    peer_of(&peer, "127.0.0.1");
    char client[64];
    api_client_address_resolve(client, sizeof client, &proxies,
                               (const struct sockaddr *)(const void *)&peer, lines, 1);
    ck_assert_str_eq(client, "10.0.0.1"); /* stopped at the bound: a proxy stands in */
}
END_TEST

START_TEST(ipv6_counted_by_prefix)
{
    char key[96];
    api_client_rate_key(key, sizeof key, "2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    ck_assert_str_eq(key, "2001:db8:1:2::/64");
    api_client_rate_key(key, sizeof key, "2001:db8:1:2::1");
    ck_assert_str_eq(key, "2001:db8:1:2::/64");
    api_client_rate_key(key, sizeof key, "198.51.100.1");
    ck_assert_str_eq(key, "198.51.100.1");
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *suite = suite_create("ratelimit");
    TCase *limiter_case = tcase_create("limiter");
    tcase_add_checked_fixture(limiter_case, limiter_setup, limiter_teardown);
    tcase_add_test(limiter_case, colliding_keys_keep_their_state);
    tcase_add_test(limiter_case, full_bucket_forgets_least_recent);
    tcase_add_test(limiter_case, expired_entry_taken_first);
    tcase_add_test(limiter_case, fixed_window);
    tcase_add_test(limiter_case, locks_double);
    suite_add_tcase(suite, limiter_case);
    TCase *clients = tcase_create("clients");
    tcase_add_loop_test(clients, proxies_parse, 0, ROWS(proxies_rows));
    tcase_add_test(clients, proxies_bounded);
    tcase_add_loop_test(clients, client_resolved, 0, ROWS(client_rows));
    tcase_add_test(clients, hops_bounded);
    tcase_add_test(clients, ipv6_counted_by_prefix);
    suite_add_tcase(suite, clients);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(ratelimit_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
