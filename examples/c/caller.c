/* caller.c - alice calls bob four times and checks each outcome:
 * accepted, rejected, canceled (by alice, while it rings), failed (bob
 * lets it ring past its lifetime). The invite's userData tells the callee
 * (callee.c) what to do.
 *
 * This program uses the default "thread" dispatch: callbacks run on the
 * client's event thread, so they hand their news to main() through a
 * mutex and a condition variable.
 *
 *   caller ws://127.0.0.1:PORT      (exit status 0 if every outcome matched)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wilddog_video.h"

#define WAIT_MS 10000 /* failure bound for any single wait */

/* What the callbacks saw, shared with main(). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool ringing, left;
static int outcome = -1; /* a wd_outgoing_event_kind, once known */

static void fail_wd(const char *what, wd_result r)
{
    char detail[256] = "";
    size_t needed;
    wd_last_error(detail, sizeof detail, &needed);
    fprintf(stderr, "[caller] %s: %s (%s)\n", what, wd_result_message(r), detail);
}

static const char *kind_name(int kind)
{
    static const char *names[] = {"ringing", "accepted", "rejected", "canceled", "failed"};
    return kind >= 0 && kind <= 4 ? names[kind] : "none";
}

static void on_invite_event(void *user_data, wd_outgoing_invite *invite,
                            const wd_outgoing_event *event)
{
    (void)user_data;
    (void)invite;
    printf("[caller] %s\n", kind_name((int)event->kind));
    pthread_mutex_lock(&mu);
    if (event->kind == WD_OUTGOING_EVENT_KIND_RINGING)
        ringing = true;
    else
        outcome = (int)event->kind;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void on_conversation_event(void *user_data, wd_conversation *conversation,
                                  const wd_conversation_event *event)
{
    (void)user_data;
    (void)conversation;
    if (event->kind == WD_CONVERSATION_EVENT_KIND_DISCONNECTED) {
        printf("[caller] left the conversation\n");
        pthread_mutex_lock(&mu);
        left = true;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

/* Waits until *flag is true, at most WAIT_MS. */
static bool wait_for(const bool *flag)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&mu);
    int err = 0;
    while (!*flag && err == 0)
        err = pthread_cond_timedwait(&cv, &mu, &until);
    bool ok = *flag;
    pthread_mutex_unlock(&mu);
    return ok;
}

/* Rings bob with `options`; cancels once it rings if `cancel`; checks the
 * outcome event and the status getter against `expected`. */
static bool call_bob(wd_client *client, const char *options, bool cancel, int expected)
{
    pthread_mutex_lock(&mu);
    ringing = left = false;
    outcome = -1;
    pthread_mutex_unlock(&mu);

    wd_outgoing_invite *invite = NULL;
    wd_result r = wd_client_invite(client, options, &invite);
    if (r != WD_RESULT_OK) {
        fail_wd("invite", r);
        return false;
    }
    const char *id = NULL;
    wd_outgoing_invite_conversation_id(invite, &id);
    printf("[caller] invite -> bob conversation %s\n", id);
    wd_outgoing_invite_set_callback(invite, on_invite_event, NULL, NULL);

    if (cancel) {
        if (!wait_for(&ringing))
            fprintf(stderr, "[caller] bob's device never rang\n");
        r = wd_outgoing_invite_cancel(invite);
        if (r != WD_RESULT_OK)
            fail_wd("cancel", r);
    }

    /* Wait for the outcome event. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&mu);
    while (outcome < 0 && pthread_cond_timedwait(&cv, &mu, &until) == 0) {
    }
    int got = outcome;
    pthread_mutex_unlock(&mu);

    wd_outgoing_status status = 0;
    wd_outgoing_invite_status(invite, &status);
    /* The status enum lists pending first, then the outcomes in the event
     * kinds' order, so status == kind for every outcome. */
    bool ok = got == expected && (int)status == expected;
    if (got == WD_OUTGOING_EVENT_KIND_FAILED) {
        wd_failure_reason why = 0;
        wd_outgoing_invite_failure_reason(invite, &why);
        printf("[caller] failure reason %u (%s)\n", why,
               why == WD_FAILURE_REASON_TIMEOUT ? "timeout" : "other");
        ok = ok && why == WD_FAILURE_REASON_TIMEOUT;
    }

    if (got == WD_OUTGOING_EVENT_KIND_ACCEPTED) {
        char answer[256];
        size_t needed;
        wd_outgoing_invite_answer_user_data(invite, answer, sizeof answer, &needed);
        printf("[caller] bob says \"%s\"\n", answer);
        wd_conversation *conversation = NULL;
        wd_outgoing_invite_conversation(invite, &conversation);
        char who[512];
        if (wd_conversation_participants(conversation, who, sizeof who, &needed) == WD_RESULT_OK)
            printf("[caller] in the conversation with %s\n", who);
        wd_conversation_set_callback(conversation, on_conversation_event, NULL, NULL);
        wd_conversation_disconnect(conversation);
        ok = ok && wait_for(&left);
        wd_conversation_free(conversation);
    }
    wd_outgoing_invite_free(invite);

    printf("[caller] outcome %s (status %u), expected %s: %s\n", kind_name(got), status,
           kind_name(expected), ok ? "ok" : "MISMATCH");
    return ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: caller ws://HOST:PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char config[512];
    snprintf(config, sizeof config, "{\"url\":\"%s\",\"token\":\"dev:alice\"}", argv[1]);
    wd_client *client = NULL;
    wd_result r = wd_client_new(config, &client);
    if (r != WD_RESULT_OK) {
        fail_wd("connect", r);
        return 1;
    }

    int failures = 0;
    failures += !call_bob(client,
                          "{\"participantId\":\"bob\",\"userData\":\"scenario:accept\","
                          "\"offer\":\"v=0\"}",
                          false, WD_OUTGOING_EVENT_KIND_ACCEPTED);
    failures += !call_bob(client, "{\"participantId\":\"bob\",\"userData\":\"scenario:reject\"}",
                          false, WD_OUTGOING_EVENT_KIND_REJECTED);
    failures += !call_bob(client, "{\"participantId\":\"bob\",\"userData\":\"scenario:ignore\"}",
                          true, WD_OUTGOING_EVENT_KIND_CANCELED);
    failures += !call_bob(client,
                          "{\"participantId\":\"bob\",\"userData\":\"scenario:ignore\","
                          "\"lifetimeMs\":500}",
                          false, WD_OUTGOING_EVENT_KIND_FAILED);

    wd_client_free(client);
    printf("[caller] %d of 4 outcomes as expected\n", 4 - failures);
    return failures == 0 ? 0 : 1;
}
