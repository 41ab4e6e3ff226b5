/* api/openapi.json against the server's route table: every route is
 * described with its method and path, every described operation is a
 * route, public routes need no token and staff routes name their roles,
 * path templates have their parameters, every $ref resolves, and the
 * binary embeds the file as it is in the tree. */
#include <check.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "ledger.h"
#include "routes.h"

#ifndef CASELEDGER_OPENAPI_PATH
#define CASELEDGER_OPENAPI_PATH "api/openapi.json"
#endif

#define REPORT_SIZE 8192   /* bytes of the list of differences */
#define REF_STACK_MAX 4096 /* JSON values waiting in the $ref walk */
#define METHOD_TEXT_SIZE 8

static const char *const http_methods[] = {"get",     "put",  "post",  "delete",
                                           "options", "head", "patch", "trace"};

static json_t *document;

static const char *document_path(void)
{
    const char *path = getenv("CASELEDGER_OPENAPI");
    return path != NULL && path[0] != '\0' ? path : CASELEDGER_OPENAPI_PATH;
}

static void load_document(void)
{
    json_error_t error;
    document = json_load_file(document_path(), JSON_REJECT_DUPLICATES, &error);
    if (document == NULL) {
        fprintf(stderr, "test_openapi: could not load %s: line %d: %s\n", document_path(),
                error.line, error.text);
        exit(2);
    }
}

static void free_document(void)
{
    json_decref(document);
    document = NULL;
}

/* Appends one line to report (silently cut when full) and counts it. */
static void report_add(char report[REPORT_SIZE], size_t *count, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void report_add(char report[REPORT_SIZE], size_t *count, const char *format, ...)
{
    size_t used = strlen(report);
    va_list arguments;
    va_start(arguments, format);
    if (used + 1 < REPORT_SIZE)
        vsnprintf(report + used, REPORT_SIZE - used, format, arguments);
    va_end(arguments);
    (*count)++;
}

static void lower_method(char out[METHOD_TEXT_SIZE], const char *method)
{
    size_t i = 0;
    for (; method[i] != '\0' && i + 1 < METHOD_TEXT_SIZE; i++)
        out[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] - 'A' + 'a' : method[i]);
    out[i] = '\0';
}

static json_t *operation_of(const struct api_route *route)
{
    char method[METHOD_TEXT_SIZE];
    lower_method(method, route->method);
    json_t *path_item = json_object_get(json_object_get(document, "paths"), route->pattern);
    return json_object_get(path_item, method);
}

static const struct api_route *route_of(const char *pattern, const char *method)
{
    for (size_t i = 0; i < api_routes_count; i++) {
        char route_method[METHOD_TEXT_SIZE];
        lower_method(route_method, api_routes[i].method);
        if (strcmp(api_routes[i].pattern, pattern) == 0 && strcmp(route_method, method) == 0)
            return &api_routes[i];
    }
    return NULL;
}

/* ---- core: the document and the route table name the same operations ---- */

START_TEST(document_is_openapi_3_1)
{
    ck_assert_str_eq(json_string_value(json_object_get(document, "openapi")), "3.1.0");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(document, "info"), "title"));
    ck_assert(json_is_object(json_object_get(document, "paths")));
}
END_TEST

START_TEST(every_route_is_described)
{
    char report[REPORT_SIZE] = "";
    size_t missing = 0;
    for (size_t i = 0; i < api_routes_count; i++)
        if (operation_of(&api_routes[i]) == NULL)
            report_add(report, &missing, "  not in api/openapi.json: %s %s\n", api_routes[i].method,
                       api_routes[i].pattern);
    ck_assert_msg(missing == 0, "%zu route(s) of api/routes.c are not described:\n%s", missing,
                  report);
}
END_TEST

START_TEST(every_described_operation_is_a_route)
{
    char report[REPORT_SIZE] = "";
    size_t extra = 0;
    const char *pattern = NULL;
    json_t *path_item = NULL;
    json_object_foreach(json_object_get(document, "paths"), pattern, path_item)
    {
        for (size_t m = 0; m < sizeof http_methods / sizeof http_methods[0]; m++)
            if (json_object_get(path_item, http_methods[m]) != NULL &&
                route_of(pattern, http_methods[m]) == NULL)
                report_add(report, &extra, "  not a route in api/routes.c: %s %s\n",
                           http_methods[m], pattern);
    }
    ck_assert_msg(extra == 0, "%zu described operation(s) are not served:\n%s", extra, report);
}
END_TEST

START_TEST(embedded_copy_is_the_file)
{
    FILE *file = fopen(document_path(), "rb");
    ck_assert_msg(file != NULL, "cannot open %s", document_path());
    char *text = malloc(api_asset_openapi_json_size + 2);
    ck_assert_ptr_nonnull(text);
    size_t read = fread(text, 1, api_asset_openapi_json_size + 1, file);
    fclose(file);
    ck_assert_msg(read == api_asset_openapi_json_size &&
                      memcmp(text, api_asset_openapi_json, read) == 0,
                  "the binary embeds another api/openapi.json than the tree has (rebuild)");
    free(text);
}
END_TEST

/* ---- security: tokens and roles ---- */

/* The role names of a route's mask, as a sorted-by-bit list. */
static void route_roles_text(char *out, size_t size, unsigned roles)
{
    out[0] = '\0';
    for (unsigned bit = 1; bit <= LEDGER_ROLE_BANK; bit <<= 1)
        if ((roles & bit) != 0) {
            size_t used = strlen(out);
            snprintf(out + used, size - used, "%s%s", used ? "," : "", ledger_role_name(bit));
        }
}

static unsigned document_roles(json_t *operation, bool *valid)
{
    unsigned roles = 0;
    size_t index = 0;
    json_t *name = NULL;
    *valid = json_is_array(json_object_get(operation, "x-roles"));
    json_array_foreach(json_object_get(operation, "x-roles"), index, name)
    {
        unsigned role = json_is_string(name) ? ledger_role_parse(json_string_value(name)) : 0;
        *valid = *valid && role != 0;
        roles |= role;
    }
    return roles;
}

START_TEST(public_and_staff_routes_say_so)
{
    char report[REPORT_SIZE] = "";
    size_t wrong = 0;
    for (size_t i = 0; i < api_routes_count; i++) {
        const struct api_route *route = &api_routes[i];
        json_t *operation = operation_of(route);
        if (operation == NULL)
            continue; /* every_route_is_described says so */
        json_t *security = json_object_get(operation, "security");
        bool is_public = json_is_array(security) && json_array_size(security) == 0;
        bool is_bearer = json_is_array(security) && json_array_size(security) == 1 &&
                         json_object_get(json_array_get(security, 0), "bearer") != NULL;
        if (route->roles == API_ROLES_PUBLIC ? !is_public : !is_bearer)
            report_add(report, &wrong, "  %s %s: security must be %s\n", route->method,
                       route->pattern,
                       route->roles == API_ROLES_PUBLIC ? "[] (public)" : "[{bearer: []}]");
        bool valid = false;
        unsigned roles = document_roles(operation, &valid);
        if (!valid || roles != route->roles) {
            char expected[128];
            route_roles_text(expected, sizeof expected, route->roles);
            report_add(report, &wrong, "  %s %s: x-roles must list exactly [%s]\n", route->method,
                       route->pattern, expected);
        }
    }
    ck_assert_msg(wrong == 0, "security or roles differ from api/routes.c:\n%s", report);
}
END_TEST

START_TEST(bearer_scheme_and_problem_schema)
{
    json_t *components = json_object_get(document, "components");
    json_t *bearer = json_object_get(json_object_get(components, "securitySchemes"), "bearer");
    ck_assert_str_eq(json_string_value(json_object_get(bearer, "type")), "http");
    ck_assert_str_eq(json_string_value(json_object_get(bearer, "scheme")), "bearer");
    json_t *problem = json_object_get(json_object_get(components, "schemas"), "Problem");
    const char *fields[] = {"type", "title", "status", "detail", "code"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        ck_assert_msg(json_object_get(json_object_get(problem, "properties"), fields[i]) != NULL,
                      "Problem has no %s", fields[i]);
    json_t *key = json_object_get(json_object_get(components, "parameters"), "IdempotencyKey");
    ck_assert_str_eq(json_string_value(json_object_get(key, "name")), "Idempotency-Key");
    ck_assert_str_eq(json_string_value(json_object_get(key, "in")), "header");
}
END_TEST

/* ---- structure: parameters and references ---- */

/* The parameter object of p (a $ref into #/components/parameters/ resolved). */
static json_t *parameter_resolved(json_t *parameter)
{
    const char *ref = json_string_value(json_object_get(parameter, "$ref"));
    const char *prefix = "#/components/parameters/";
    if (ref == NULL || strncmp(ref, prefix, strlen(prefix)) != 0)
        return parameter;
    json_t *parameters = json_object_get(json_object_get(document, "components"), "parameters");
    return json_object_get(parameters, ref + strlen(prefix));
}

static bool has_path_parameter(json_t *operation, const char *name, size_t name_length)
{
    size_t index = 0;
    json_t *parameter = NULL;
    json_array_foreach(json_object_get(operation, "parameters"), index, parameter)
    {
        json_t *resolved = parameter_resolved(parameter);
        const char *parameter_name = json_string_value(json_object_get(resolved, "name"));
        const char *in = json_string_value(json_object_get(resolved, "in"));
        if (parameter_name != NULL && in != NULL && strcmp(in, "path") == 0 &&
            strlen(parameter_name) == name_length &&
            strncmp(parameter_name, name, name_length) == 0)
            return true;
    }
    return false;
}

START_TEST(path_templates_have_parameters)
{
    char report[REPORT_SIZE] = "";
    size_t missing = 0;
    for (size_t i = 0; i < api_routes_count; i++) {
        json_t *operation = operation_of(&api_routes[i]);
        const char *open = api_routes[i].pattern;
        while (operation != NULL && (open = strchr(open, '{')) != NULL) {
            const char *close = strchr(open, '}');
            ck_assert_ptr_nonnull(close);
            if (!has_path_parameter(operation, open + 1, (size_t)(close - open - 1)))
                report_add(report, &missing, "  %s %s: a {...} without its path parameter\n",
                           api_routes[i].method, api_routes[i].pattern);
            open = close;
        }
        if (operation != NULL && json_object_get(operation, "responses") == NULL)
            report_add(report, &missing, "  %s %s: no responses\n", api_routes[i].method,
                       api_routes[i].pattern);
    }
    ck_assert_msg(missing == 0, "operations are incomplete:\n%s", report);
}
END_TEST

/* Resolves a local "#/a/b" pointer (no ~ escapes are used in our names). */
static json_t *pointer_resolve(const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    json_t *at = document;
    char name[256];
    const char *part = ref + 2;
    while (at != NULL && *part != '\0') {
        size_t length = strcspn(part, "/");
        if (length >= sizeof name)
            return NULL;
        memcpy(name, part, length);
        name[length] = '\0';
        at = json_object_get(at, name);
        part += length + (part[length] == '/' ? 1 : 0);
    }
    return at;
}

START_TEST(every_ref_resolves)
{
    json_t *stack[REF_STACK_MAX];
    size_t depth = 0;
    char report[REPORT_SIZE] = "";
    size_t broken = 0;
    size_t visited = 0;
    stack[depth++] = document;
    while (depth > 0) {
        json_t *value = stack[--depth];
        visited++;
        if (json_is_object(value)) {
            const char *key = NULL;
            json_t *child = NULL;
            json_object_foreach(value, key, child)
            {
                if (strcmp(key, "$ref") == 0 && json_is_string(child) &&
                    pointer_resolve(json_string_value(child)) == NULL)
                    report_add(report, &broken, "  %s does not resolve\n",
                               json_string_value(child));
                ck_assert_msg(depth < REF_STACK_MAX, "the document is too large to walk");
                stack[depth++] = child;
            }
        } else if (json_is_array(value)) {
            size_t index = 0;
            json_t *child = NULL;
            json_array_foreach(value, index, child)
            {
                ck_assert_msg(depth < REF_STACK_MAX, "the document is too large to walk");
                stack[depth++] = child;
            }
        }
    }
    ck_assert_uint_gt(visited, 100);
    ck_assert_msg(broken == 0, "broken references:\n%s", report);
}
END_TEST

static Suite *openapi_suite(void)
{
    Suite *suite = suite_create("openapi");
    TCase *core = tcase_create("core");
    tcase_add_unchecked_fixture(core, load_document, free_document);
    tcase_add_test(core, document_is_openapi_3_1);
    tcase_add_test(core, every_route_is_described);
    tcase_add_test(core, every_described_operation_is_a_route);
    tcase_add_test(core, embedded_copy_is_the_file);
    suite_add_tcase(suite, core);
    TCase *security = tcase_create("security");
    tcase_add_unchecked_fixture(security, load_document, free_document);
    tcase_add_test(security, public_and_staff_routes_say_so);
    tcase_add_test(security, bearer_scheme_and_problem_schema);
    suite_add_tcase(suite, security);
    TCase *structure = tcase_create("structure");
    tcase_add_unchecked_fixture(structure, load_document, free_document);
    tcase_add_test(structure, path_templates_have_parameters);
    tcase_add_test(structure, every_ref_resolves);
    suite_add_tcase(suite, structure);
    return suite;
}

int main(void)
{
    SRunner *runner = srunner_create(openapi_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
