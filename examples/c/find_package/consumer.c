/*
 * consumer.c - the smallest program using an *installed* wilddog_video:
 * it checks that the header and the library it was linked with agree on the
 * version, makes a few offline calls and, given a server URL, connects one
 * client with a log callback installed.
 *
 * Built out of tree by scripts/install-test.sh, once with pkg-config and
 * once with CMake's find_package(WilddogVideo); see
 * docs/getting-started-c.md.
 *
 *   consumer                      offline checks only
 *   consumer ws://127.0.0.1:8480  also connects as dev:alice (a --dev server)
 */
#include <wilddog_video.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int log_messages;
static atomic_int saw_connected;

/* May run on any SDK thread, concurrently: only atomics here. */
static void on_log(void *user_data, wd_log_level level, const char *target,
                   const char *message) {
    (void)user_data;
    (void)target;
    atomic_fetch_add(&log_messages, 1);
    if (level == WD_LOG_LEVEL_INFO && strncmp(message, "connected", 9) == 0) {
        atomic_store(&saw_connected, 1);
    }
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "consumer: %s:%d: check failed: %s\n", __FILE__,  \
                    __LINE__, #cond);                                          \
            return 1;                                                          \
        }                                                                      \
    } while (0)

int main(int argc, char **argv) {
    char header_version[32];
    snprintf(header_version, sizeof header_version, "%d.%d.%d", WD_VERSION_MAJOR,
             WD_VERSION_MINOR, WD_VERSION_PATCH);
    const char *library_version = wd_version();
    CHECK(library_version != NULL);
    CHECK(strcmp(library_version, header_version) == 0);

    CHECK(strcmp(wd_result_message(WD_RESULT_OK), "success") == 0);
    CHECK(strstr(wd_result_message(9999), "unknown") != NULL);

    wd_client *client = NULL;
    CHECK(wd_client_new(NULL, &client) == WD_RESULT_NULL_PARAMETER);
    char detail[256];
    size_t needed = 0;
    CHECK(wd_last_error(detail, sizeof detail, &needed) == WD_RESULT_OK);
    CHECK(strstr(detail, "NULL") != NULL);
    CHECK(wd_set_log_callback(on_log, 99, NULL, NULL) == WD_RESULT_INVALID_ARGUMENT);

    if (argc > 1) {
        CHECK(wd_set_log_callback(on_log, WD_LOG_LEVEL_DEBUG, NULL, NULL) == WD_RESULT_OK);
        char config[512];
        snprintf(config, sizeof config, "{\"url\":\"%s\",\"token\":\"dev:alice\"}", argv[1]);
        wd_result r = wd_client_new(config, &client);
        if (r != WD_RESULT_OK) {
            wd_last_error(detail, sizeof detail, &needed);
            fprintf(stderr, "consumer: wd_client_new: %s (%s)\n", wd_result_message(r), detail);
            return 1;
        }
        CHECK(atomic_load(&saw_connected) == 1);
        wd_client_free(client);
        CHECK(wd_set_log_callback(NULL, 0, NULL, NULL) == WD_RESULT_OK);
        int before = atomic_load(&log_messages);
        CHECK(wd_client_new(config, &client) == WD_RESULT_OK);
        wd_client_free(client);
        CHECK(atomic_load(&log_messages) == before);
    }

    printf("consumer: wilddog_video %s OK (%d log messages)\n", library_version,
           atomic_load(&log_messages));
    return 0;
}
