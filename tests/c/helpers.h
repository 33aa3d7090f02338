/* helpers.h - shared plumbing for the C tests: connecting clients to the
 * server named by $WD_URL, and a recorder that callbacks report into and
 * the test thread waits on (mutex + condvar, bounded waits; no sleeps).
 */
#ifndef WD_TEST_HELPERS_H
#define WD_TEST_HELPERS_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "wilddog_video.h"

/* Upper bound on any wait for an event: a failure bound, not a delay. */
#define WAIT_MS 10000
#define MAX_RECORDED 64

static inline const char *server_url(void)
{
    const char *url = getenv("WD_URL");
    if (url == NULL || *url == '\0') {
        fprintf(stderr, "WD_URL is not set (run the tests with make test)\n");
        exit(2);
    }
    return url;
}

/* Writes the config of a client of `uid` (a dev token) for the server at
 * `url`; `extra` is appended to the config object (e.g.
 * ",\"dispatch\":\"manual\"") or NULL. */
static inline void client_config(char *config, size_t len, const char *url, const char *uid,
                                 const char *extra)
{
    /* WD_DISPATCH (set by run-tests.sh) runs the same test with callbacks
     * in another dispatch mode, for clients the test does not configure. */
    char dispatch[64] = "";
    const char *mode = getenv("WD_DISPATCH");
    if (!extra && mode && *mode)
        snprintf(dispatch, sizeof dispatch, ",\"dispatch\":\"%s\"", mode);
    snprintf(config, len, "{\"url\":\"%s\",\"token\":\"dev:%s\"%s}", url, uid,
             extra ? extra : dispatch);
}

/* Connects `uid` with a dev token to the server at `url`; `extra` as for
 * client_config. Exits on failure. */
static inline wd_client *connect_to(const char *url, const char *uid, const char *extra)
{
    char config[512];
    client_config(config, sizeof config, url, uid, extra);
    wd_client *client = NULL;
    wd_result r = wd_client_new(config, &client);
    if (r != WD_RESULT_OK) {
        fprintf(stderr, "cannot connect %s: %s (%s)\n", uid, wd_result_message(r),
                check_last_error());
        exit(2);
    }
    return client;
}

/* Connects `uid` with a dev token to the server named by $WD_URL; `extra`
 * as for connect_to. Exits on failure. */
static inline wd_client *connect_as(const char *uid, const char *extra)
{
    return connect_to(server_url(), uid, extra);
}

/* Invites `to` with extra options (e.g. ",\"lifetimeMs\":500") or NULL. */
static inline wd_outgoing_invite *invite(wd_client *client, const char *to, const char *extra)
{
    char options[512];
    snprintf(options, sizeof options, "{\"participantId\":\"%s\"%s}", to, extra ? extra : "");
    wd_outgoing_invite *out = NULL;
    CHECK_RESULT(wd_client_invite(client, options, &out), WD_RESULT_OK);
    return out;
}

/* What callbacks saw. Every callback below takes a `struct recorder *` as
 * user_data and `recorder_release` counts releases of it. */
struct recorder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int kinds[MAX_RECORDED]; /* event kinds, in order */
    int n;                   /* events recorded */
    int releases;            /* calls of recorder_release */
    wd_incoming_invite *invites[MAX_RECORDED]; /* from recorder_on_invite */
    int n_invites;
    int n_taken;             /* invites handed out by recorder_next_invite */
};

static inline void recorder_init(struct recorder *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

/* Frees invites never taken; destroys the sync objects. */
static inline void recorder_destroy(struct recorder *r)
{
    for (int i = r->n_taken; i < r->n_invites; i++)
        wd_incoming_invite_free(r->invites[i]);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

static inline void recorder_push(struct recorder *r, int kind)
{
    pthread_mutex_lock(&r->mu);
    if (r->n < MAX_RECORDED)
        r->kinds[r->n] = kind;
    r->n++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static inline void recorder_release(void *user_data)
{
    struct recorder *r = user_data;
    pthread_mutex_lock(&r->mu);
    r->releases++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static inline struct timespec deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits until *field >= want (field inside r, read under r->mu), at most
 * WAIT_MS. Returns whether it got there. */
static inline bool recorder_wait_ms(struct recorder *r, const int *field, int want, int ms)
{
    struct timespec until = deadline_in(ms);
    pthread_mutex_lock(&r->mu);
    int err = 0;
    while (*field < want && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&r->cv, &r->mu, &until);
    bool ok = *field >= want;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

static inline bool recorder_wait(struct recorder *r, const int *field, int want)
{
    return recorder_wait_ms(r, field, want, WAIT_MS);
}

static inline int recorder_get(struct recorder *r, const int *field)
{
    pthread_mutex_lock(&r->mu);
    int v = *field;
    pthread_mutex_unlock(&r->mu);
    return v;
}

/* The i-th recorded kind, or -1. */
static inline int recorder_kind(struct recorder *r, int i)
{
    pthread_mutex_lock(&r->mu);
    int v = i >= 0 && i < r->n && i < MAX_RECORDED ? r->kinds[i] : -1;
    pthread_mutex_unlock(&r->mu);
    return v;
}

#define WAIT_EVENTS(r, count) CHECK(recorder_wait((r), &(r)->n, (count)))
#define WAIT_RELEASES(r, count) CHECK(recorder_wait((r), &(r)->releases, (count)))

static inline void recorder_on_outgoing(void *user_data, wd_outgoing_invite *invite,
                                        const wd_outgoing_event *event)
{
    (void)invite;
    recorder_push(user_data, (int)event->kind);
}

static inline void recorder_on_incoming(void *user_data, wd_incoming_invite *invite,
                                        const wd_incoming_event *event)
{
    (void)invite;
    recorder_push(user_data, (int)event->kind);
}

static inline void recorder_on_conversation(void *user_data, wd_conversation *conversation,
                                            const wd_conversation_event *event)
{
    (void)conversation;
    recorder_push(user_data, (int)event->kind);
}

/* For a recorder of outgoing events: waits for the outcome (RINGING may
 * come first) and returns its kind, or -1 after WAIT_MS. */
static inline int wait_outgoing_outcome(struct recorder *r)
{
    if (!recorder_wait(r, &r->n, 1))
        return -1;
    if (recorder_kind(r, 0) != WD_OUTGOING_EVENT_KIND_RINGING)
        return recorder_kind(r, 0);
    return recorder_wait(r, &r->n, 2) ? recorder_kind(r, 1) : -1;
}

/* Invite callback: keeps the new invite reference for the test thread. */
static inline void recorder_on_invite(void *user_data, wd_incoming_invite *invite)
{
    struct recorder *r = user_data;
    pthread_mutex_lock(&r->mu);
    if (r->n_invites < MAX_RECORDED)
        r->invites[r->n_invites++] = invite;
    else
        wd_incoming_invite_free(invite);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* The next invite recorder_on_invite kept (the caller owns it), or NULL
 * after WAIT_MS. */
static inline wd_incoming_invite *recorder_next_invite(struct recorder *r)
{
    if (!recorder_wait(r, &r->n_invites, r->n_taken + 1))
        return NULL;
    pthread_mutex_lock(&r->mu);
    wd_incoming_invite *inv = r->invites[r->n_taken++];
    pthread_mutex_unlock(&r->mu);
    return inv;
}

#endif
