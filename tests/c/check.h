/* check.h - a tiny assertion kit for the C tests.
 *
 *   CHECK(cond)                  records a pass, or prints file:line and the
 *                                condition and records a failure.
 *   CHECK_RESULT(expr, WD_X)     evaluates expr (a wd_result) once; on a
 *                                mismatch prints both codes and wd_last_error.
 *   CHECK_LAST_ERROR_HAS("txt")  this thread's wd_last_error contains txt.
 *   return check_summary("name") prints a last line "N passed, M failed"
 *                                and gives the
 *                                exit status.
 *
 * Failures do not stop the program: later checks still run, so one run
 * shows every problem. Counters are atomic: checks may run in callbacks.
 */
#ifndef WD_TEST_CHECK_H
#define WD_TEST_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wilddog_video.h"

static atomic_int check_passed;
static atomic_int check_failed;

static inline const char *check_last_error(void)
{
    /* One buffer per thread: the text is printed right away. */
    static _Thread_local char buf[1024];
    size_t needed = 0;
    if (wd_last_error(buf, sizeof buf, &needed) != WD_RESULT_OK)
        snprintf(buf, sizeof buf, "<wd_last_error needs %zu bytes>", needed);
    return buf;
}

static inline int check_record(int ok, const char *file, int line, const char *what)
{
    if (ok) {
        atomic_fetch_add(&check_passed, 1);
    } else {
        atomic_fetch_add(&check_failed, 1);
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
    }
    return ok;
}

#define CHECK(cond) check_record(!!(cond), __FILE__, __LINE__, #cond)

#define CHECK_RESULT(expr, expected)                                              \
    do {                                                                          \
        wd_result check_got_ = (expr);                                            \
        if (!check_record(check_got_ == (expected), __FILE__, __LINE__, #expr)) { \
            fprintf(stderr, "    got %u (%s), expected %s; last error: \"%s\"\n", \
                    (unsigned)check_got_, wd_result_message(check_got_),          \
                    #expected, check_last_error());                               \
        }                                                                         \
    } while (0)

#define CHECK_LAST_ERROR_HAS(text)                                                 \
    do {                                                                           \
        const char *check_err_ = check_last_error();                               \
        if (!check_record(strstr(check_err_, (text)) != NULL, __FILE__, __LINE__,  \
                          "wd_last_error contains \"" text "\""))                  \
            fprintf(stderr, "    last error: \"%s\"\n", check_err_);               \
    } while (0)

static inline int check_summary(const char *name)
{
    int passed = atomic_load(&check_passed), failed = atomic_load(&check_failed);
    printf("[%s] done\n%d passed, %d failed\n", name, passed, failed);
    fflush(stdout);
    return failed == 0 && passed > 0 ? 0 : 1;
}

#endif
