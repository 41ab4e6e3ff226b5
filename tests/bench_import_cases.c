/* Bench-only set-up for the import benchmark (tests/bench_import.sh): opens
 * N case accounts through the ledger's own API (ledger_case_open: check,
 * pay-in number, access-code hash, applicant, idempotency record, one
 * transaction each: the API has no batch form) from T threads, each with its
 * own handle, and writes the pay-in numbers, one a line, in case order.
 * Prints how long it took as one JSON object on stderr.
 *
 * usage: bench_import_cases --cases N --out FILE [--threads T] [--as CLERK]
 *            [--dsn DSN] [--key-dir DIR]
 * (defaults: 4 threads, clerk "bench-clerk", CASELEDGER_DSN and
 * CASELEDGER_KEY_DIR) */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ledger.h"

#define CASES_MAX 10000000
#define THREADS_MAX 64
#define PATH_SIZE 1024

struct setup {
    struct ledger_config config;
    const char *actor;
    long cases_count;
    int threads_count;
    char (*payins)[LEDGER_PAYIN_DIGITS + 1];
    atomic_long failed;
};

struct worker {
    struct setup *setup;
    struct ledger *ledger;
    int index;
    pthread_t thread;
};

static double now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static bool open_one(struct ledger *ledger, struct setup *s, long index)
{
    char case_no[64];
    char title[32];
    char applicant_name[32];
    char key[32];
    snprintf(case_no, sizeof case_no, "(2024)沪0115执%ld号", index + 1);
    snprintf(title, sizeof title, "Bench case %ld", index + 1);
    snprintf(applicant_name, sizeof applicant_name, "Applicant %ld", index + 1);
    snprintf(key, sizeof key, "bench-case-%ld", index + 1);
    struct ledger_applicant applicant = {.name = applicant_name};
    struct ledger_case_request request = {.case_no = case_no,
                                          .court = "上海市闵行区人民法院",
                                          .title = title,
                                          .applicants_count = 1,
                                          .applicants = &applicant};
    struct ledger_case_result result;
    enum ledger_err err = ledger_case_open(ledger, s->actor, &request, key, &result);
    if (err != LEDGER_OK) {
        fprintf(stderr, "bench_import_cases: case %ld: %s: %s\n", index + 1, ledger_err_code(err),
                ledger_last_detail(ledger));
        return false;
    }
    memcpy(s->payins[index], result.payin_no, sizeof result.payin_no);
    return true;
}

static void *work(void *argument)
{
    struct worker *w = argument;
    struct setup *s = w->setup;
    for (long i = w->index; i < s->cases_count; i += s->threads_count)
        if (!open_one(w->ledger, s, i)) {
            atomic_fetch_add(&s->failed, 1);
            break;
        }
    return NULL;
}

/* The handles are opened one after the other: the first open of a new
 * signing key registers it, and concurrent first opens race there (the
 * losers see neither their insert nor the winner's row and report "another
 * public key"). */
static bool open_handles(struct worker *workers, struct setup *s)
{
    char detail[256];
    for (int t = 0; t < s->threads_count; t++) {
        workers[t] = (struct worker){.setup = s, .index = t};
        if (ledger_open(&workers[t].ledger, &s->config, detail, sizeof detail) != LEDGER_OK) {
            fprintf(stderr, "bench_import_cases: could not open the ledger: %s\n", detail);
            for (int u = 0; u < t; u++)
                ledger_close(workers[u].ledger);
            return false;
        }
    }
    return true;
}

static bool write_payins(const struct setup *s, const char *path)
{
    FILE *out = fopen(path, "w");
    if (out == NULL)
        return false;
    for (long i = 0; i < s->cases_count; i++)
        fprintf(out, "%s\n", s->payins[i]);
    return fclose(out) == 0;
}

static const char *arg_value(int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return fallback;
}

int main(int argc, char **argv)
{
    static char key_file[PATH_SIZE + 32];
    static char access_key_file[PATH_SIZE + 32];
    const char *key_dir = arg_value(argc, argv, "--key-dir", getenv("CASELEDGER_KEY_DIR"));
    const char *out = arg_value(argc, argv, "--out", NULL);
    struct setup s = {.actor = arg_value(argc, argv, "--as", "bench-clerk"),
                      .cases_count = atol(arg_value(argc, argv, "--cases", "0")),
                      .threads_count = atoi(arg_value(argc, argv, "--threads", "4"))};
    s.config.dsn = arg_value(argc, argv, "--dsn", getenv("CASELEDGER_DSN"));
    if (s.config.dsn == NULL || key_dir == NULL || out == NULL || s.cases_count <= 0 ||
        s.cases_count > CASES_MAX || s.threads_count <= 0 || s.threads_count > THREADS_MAX ||
        strlen(key_dir) >= PATH_SIZE) {
        fprintf(stderr, "usage: bench_import_cases --cases N --out FILE [--threads T] "
                        "[--as CLERK] [--dsn DSN] [--key-dir DIR]\n");
        return 2;
    }
    snprintf(key_file, sizeof key_file, "%s/current.key", key_dir);
    snprintf(access_key_file, sizeof access_key_file, "%s/access.key", key_dir);
    s.config.key_file = key_file;
    s.config.access_key_file = access_key_file;
    s.payins = calloc((size_t)s.cases_count, sizeof *s.payins);
    static struct worker workers[THREADS_MAX];
    if (s.payins == NULL || !open_handles(workers, &s))
        return 1;
    double started = now_seconds();
    for (int t = 0; t < s.threads_count; t++)
        if (pthread_create(&workers[t].thread, NULL, work, &workers[t]) != 0)
            return 1;
    for (int t = 0; t < s.threads_count; t++) {
        pthread_join(workers[t].thread, NULL);
        ledger_close(workers[t].ledger);
    }
    double seconds = now_seconds() - started;
    bool ok = atomic_load(&s.failed) == 0 && write_payins(&s, out);
    free(s.payins);
    if (!ok)
        return 1;
    fprintf(stderr, "{\"cases\": %ld, \"threads\": %d, \"seconds\": %.2f, \"cases_per_s\": %.0f}\n",
            s.cases_count, s.threads_count, seconds, (double)s.cases_count / seconds);
    return 0;
}
