/* test_after_free.c - handles outlive their client, and hear their
 * outcome exactly once, in every dispatch mode ("thread", "io",
 * "manual"):
 * - invites with callbacks set, then wd_client_free: each callback has
 *   heard FAILED (network) exactly once by the time the free returns
 *   (with "manual", inside the free, on this thread);
 * - invites without callbacks, then wd_client_free, then
 *   wd_*_set_callback: the callback hears the missed event once, inside
 *   the set_callback call; a replacing callback hears nothing more;
 * - the incoming side: the invitee's client is freed while its invites
 *   ring; each handle it kept ends FAILED (network) once.
 * Every release runs exactly once. */
#include "helpers.h"

#define HELD 5

static const char *const MODES[] = {"thread", "io", "manual"};

static wd_client *connect_mode(const char *uid, const char *mode)
{
    char extra[64];
    snprintf(extra, sizeof extra, ",\"dispatch\":\"%s\"", mode);
    return connect_as(uid, extra);
}

static void check_failed_network(wd_outgoing_invite *inv)
{
    wd_outgoing_status st = WD_OUTGOING_STATUS_PENDING;
    CHECK_RESULT(wd_outgoing_invite_status(inv, &st), WD_RESULT_OK);
    CHECK(st == WD_OUTGOING_STATUS_FAILED);
    wd_failure_reason why = WD_FAILURE_REASON_NONE;
    CHECK_RESULT(wd_outgoing_invite_failure_reason(inv, &why), WD_RESULT_OK);
    CHECK(why == WD_FAILURE_REASON_NETWORK);
}

/* Callbacks set before the free hear the outcome before it returns. */
static void callbacks_set_before_the_free(const char *mode, wd_client *bob)
{
    (void)bob;
    wd_client *alice = connect_mode("alice", mode);
    wd_outgoing_invite *inv[HELD];
    struct recorder rec[HELD];
    for (int i = 0; i < HELD; i++) {
        recorder_init(&rec[i]);
        inv[i] = invite(alice, "bob", NULL);
        CHECK_RESULT(wd_outgoing_invite_set_callback(inv[i], recorder_on_outgoing, &rec[i],
                                                     recorder_release),
                     WD_RESULT_OK);
    }
    if (strcmp(mode, "manual") == 0) {
        /* Deliver what is queued so far (RINGING, maybe); not the end. */
        CHECK_RESULT(wd_client_dispatch(alice, 0, NULL), WD_RESULT_OK);
    }
    wd_client_free(alice);
    for (int i = 0; i < HELD; i++) {
        /* No wait: delivered before wd_client_free returned. */
        int n = recorder_get(&rec[i], &rec[i].n);
        int last = recorder_kind(&rec[i], n - 1);
        if (!CHECK(last == WD_OUTGOING_EVENT_KIND_FAILED))
            fprintf(stderr, "    %s: invite %d heard %d events, last %d\n", mode, i, n, last);
        int terminal = 0;
        for (int k = 0; k < n; k++)
            terminal += recorder_kind(&rec[i], k) != WD_OUTGOING_EVENT_KIND_RINGING;
        CHECK(terminal == 1);
        check_failed_network(inv[i]);
        CHECK(recorder_get(&rec[i], &rec[i].releases) == 0);
        wd_outgoing_invite_free(inv[i]);
        CHECK(recorder_get(&rec[i], &rec[i].releases) == 1);
        recorder_destroy(&rec[i]);
    }
}

/* A callback set after the free hears the missed event inside the set. */
static void callbacks_set_after_the_free(const char *mode)
{
    wd_client *alice = connect_mode("alice", mode);
    wd_outgoing_invite *inv[HELD];
    for (int i = 0; i < HELD; i++)
        inv[i] = invite(alice, "bob", NULL);
    wd_client_free(alice);
    for (int i = 0; i < HELD; i++) {
        check_failed_network(inv[i]);
        struct recorder first, second;
        recorder_init(&first);
        recorder_init(&second);
        CHECK_RESULT(wd_outgoing_invite_set_callback(inv[i], recorder_on_outgoing, &first,
                                                     recorder_release),
                     WD_RESULT_OK);
        /* Heard inside the call: RINGING (if bob's device had it), then
         * FAILED, last. */
        int n = recorder_get(&first, &first.n);
        if (!CHECK(n >= 1 && recorder_kind(&first, n - 1) == WD_OUTGOING_EVENT_KIND_FAILED))
            fprintf(stderr, "    %s: set after free heard %d events\n", mode, n);
        /* Replacing it: the first is released, the second hears nothing. */
        CHECK_RESULT(wd_outgoing_invite_set_callback(inv[i], recorder_on_outgoing, &second,
                                                     recorder_release),
                     WD_RESULT_OK);
        CHECK(recorder_get(&first, &first.releases) == 1);
        CHECK(recorder_get(&second, &second.n) == 0);
        CHECK(recorder_get(&first, &first.n) == n);
        wd_outgoing_invite_free(inv[i]);
        CHECK(recorder_get(&second, &second.releases) == 1);
        recorder_destroy(&first);
        recorder_destroy(&second);
    }
}

/* The invitee's client is freed while its invites ring. */
static void incoming_handles_after_the_free(const char *mode, wd_client *alice)
{
    wd_client *carol = connect_mode("carol", mode);
    struct recorder invites;
    recorder_init(&invites);
    CHECK_RESULT(wd_client_set_invite_callback(carol, recorder_on_invite, &invites,
                                               recorder_release),
                 WD_RESULT_OK);
    wd_outgoing_invite *out[HELD];
    wd_incoming_invite *in[HELD];
    for (int i = 0; i < HELD; i++) {
        out[i] = invite(alice, "carol", NULL);
        if (strcmp(mode, "manual") == 0) {
            /* The invite callback runs inside dispatch. */
            for (int tries = 0; recorder_get(&invites, &invites.n_invites) <= i && tries < 200;
                 tries++)
                CHECK_RESULT(wd_client_dispatch(carol, 50, NULL), WD_RESULT_OK);
        }
        in[i] = recorder_next_invite(&invites);
        CHECK(in[i] != NULL);
    }
    struct recorder rec[HELD];
    for (int i = 0; i < HELD; i++) {
        recorder_init(&rec[i]);
        /* Half before the free, half after. */
        if (i % 2 == 0 && in[i])
            CHECK_RESULT(wd_incoming_invite_set_callback(in[i], recorder_on_incoming, &rec[i],
                                                         recorder_release),
                         WD_RESULT_OK);
    }
    wd_client_free(carol);
    CHECK(recorder_get(&invites, &invites.releases) == 1);
    for (int i = 0; i < HELD; i++) {
        if (!in[i])
            continue;
        if (i % 2 == 1)
            CHECK_RESULT(wd_incoming_invite_set_callback(in[i], recorder_on_incoming, &rec[i],
                                                         recorder_release),
                         WD_RESULT_OK);
        CHECK(recorder_get(&rec[i], &rec[i].n) == 1);
        CHECK(recorder_kind(&rec[i], 0) == WD_INCOMING_EVENT_KIND_FAILED);
        wd_incoming_status st = WD_INCOMING_STATUS_PENDING;
        CHECK_RESULT(wd_incoming_invite_status(in[i], &st), WD_RESULT_OK);
        CHECK(st == WD_INCOMING_STATUS_FAILED);
        wd_failure_reason why = WD_FAILURE_REASON_NONE;
        CHECK_RESULT(wd_incoming_invite_failure_reason(in[i], &why), WD_RESULT_OK);
        CHECK(why == WD_FAILURE_REASON_NETWORK);
        wd_incoming_invite_free(in[i]);
        CHECK(recorder_get(&rec[i], &rec[i].releases) == 1);
        recorder_destroy(&rec[i]);
        CHECK_RESULT(wd_outgoing_invite_cancel(out[i]), WD_RESULT_OK);
        wd_outgoing_invite_free(out[i]);
    }
    recorder_destroy(&invites);
}

int main(void)
{
    /* Bob is online (thread mode) so that alice's invites stay pending. */
    wd_client *bob = connect_as("bob", ",\"dispatch\":\"thread\"");
    wd_client *alice = connect_as("alice", ",\"dispatch\":\"thread\"");
    for (size_t m = 0; m < sizeof MODES / sizeof MODES[0]; m++) {
        callbacks_set_before_the_free(MODES[m], bob);
        callbacks_set_after_the_free(MODES[m]);
        incoming_handles_after_the_free(MODES[m], alice);
    }
    wd_client_free(alice);
    wd_client_free(bob);
    return check_summary("test_after_free");
}
