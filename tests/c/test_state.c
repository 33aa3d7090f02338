/* test_state.c - invite flows end to end, and calls made in the wrong
 * state (each gives WD_RESULT_INVALID_STATE and changes nothing):
 * cancel twice, cancel after accepted, accept/reject after canceled,
 * reject after accept, accept twice, disconnect a conversation twice;
 * an accepted flow with the getters, participants JSON and disconnect;
 * offline, timeout, inviting yourself. */
#include "helpers.h"

static wd_client *alice, *bob;
static struct recorder bob_invites;

static wd_outgoing_status out_status(wd_outgoing_invite *out)
{
    wd_outgoing_status st = 77;
    CHECK_RESULT(wd_outgoing_invite_status(out, &st), WD_RESULT_OK);
    return st;
}

static wd_incoming_status in_status(wd_incoming_invite *in)
{
    wd_incoming_status st = 77;
    CHECK_RESULT(wd_incoming_invite_status(in, &st), WD_RESULT_OK);
    return st;
}

/* Conversation events with the uid of the participant that left. */
struct conv_rec {
    struct recorder r;
    char left_uid[64];
};

static void on_conversation(void *ud, wd_conversation *conv, const wd_conversation_event *ev)
{
    struct conv_rec *c = ud;
    (void)conv;
    if (ev->kind == WD_CONVERSATION_EVENT_KIND_PARTICIPANT_DISCONNECTED) {
        CHECK(ev->participant_uid != NULL && ev->participant_device != NULL);
        if (ev->participant_uid != NULL)
            snprintf(c->left_uid, sizeof c->left_uid, "%s", ev->participant_uid);
    } else {
        CHECK(ev->participant_uid == NULL && ev->participant_device == NULL);
    }
    recorder_push(&c->r, (int)ev->kind);
}

/* The participants JSON of `conv` (malloc'd). */
static char *participants(wd_conversation *conv)
{
    size_t needed = 0;
    CHECK_RESULT(wd_conversation_participants(conv, NULL, 0, &needed), WD_RESULT_BUFFER_TOO_SMALL);
    char *buf = calloc(1, needed + 1);
    CHECK_RESULT(wd_conversation_participants(conv, buf, needed, &needed), WD_RESULT_OK);
    return buf;
}

static char *device_of(wd_client *client)
{
    size_t needed = 0;
    CHECK_RESULT(wd_client_device(client, NULL, 0, &needed), WD_RESULT_BUFFER_TOO_SMALL);
    char *buf = calloc(1, needed + 1);
    CHECK_RESULT(wd_client_device(client, buf, needed, &needed), WD_RESULT_OK);
    return buf;
}

static void test_accepted_flow(void)
{
    struct recorder out_rec, in_rec;
    recorder_init(&out_rec);
    recorder_init(&in_rec);
    wd_outgoing_invite *out = invite(
        alice, "bob",
        ",\"mode\":\"server\",\"userData\":\"hi\",\"offer\":\"v=0 offer\",\"lifetimeMs\":60000");
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    const char *to = NULL, *out_conv_id = NULL;
    CHECK_RESULT(wd_outgoing_invite_to(out, &to), WD_RESULT_OK);
    CHECK(to && strcmp(to, "bob") == 0);
    CHECK_RESULT(wd_outgoing_invite_conversation_id(out, &out_conv_id), WD_RESULT_OK);
    CHECK(out_conv_id && *out_conv_id);
    wd_conversation *conv = (wd_conversation *)&conv;
    CHECK_RESULT(wd_outgoing_invite_conversation(out, &conv), WD_RESULT_INVALID_STATE);
    CHECK(conv == (wd_conversation *)&conv);

    wd_incoming_invite *in = recorder_next_invite(&bob_invites);
    if (!CHECK(in != NULL))
        return;
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &in_rec, NULL),
                 WD_RESULT_OK);
    const char *s = NULL;
    CHECK_RESULT(wd_incoming_invite_from(in, &s), WD_RESULT_OK);
    CHECK(s && strcmp(s, "alice") == 0);
    CHECK_RESULT(wd_incoming_invite_conversation_id(in, &s), WD_RESULT_OK);
    CHECK(s && strcmp(s, out_conv_id) == 0);
    CHECK_RESULT(wd_incoming_invite_user_data(in, &s), WD_RESULT_OK);
    CHECK(s && strcmp(s, "hi") == 0);
    CHECK_RESULT(wd_incoming_invite_offer(in, &s), WD_RESULT_OK);
    CHECK(s && strcmp(s, "v=0 offer") == 0);
    wd_mode mode = 77;
    CHECK_RESULT(wd_incoming_invite_mode(in, &mode), WD_RESULT_OK);
    CHECK(mode == WD_MODE_SERVER);
    CHECK(in_status(in) == WD_INCOMING_STATUS_PENDING);
    CHECK_RESULT(wd_incoming_invite_conversation(in, &conv), WD_RESULT_INVALID_STATE);

    /* Ringing comes first. */
    WAIT_EVENTS(&out_rec, 1);
    CHECK(recorder_kind(&out_rec, 0) == WD_OUTGOING_EVENT_KIND_RINGING);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_PENDING);

    CHECK_RESULT(wd_incoming_invite_accept(in, "v=0 answer", NULL), WD_RESULT_OK);
    wd_incoming_status ist = in_status(in);
    CHECK(ist == WD_INCOMING_STATUS_ACCEPTING || ist == WD_INCOMING_STATUS_ACCEPTED);
    /* Accept twice, reject after accept: refused, nothing changes. */
    CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_INVALID_STATE);
    CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_DECLINED), WD_RESULT_INVALID_STATE);
    CHECK_LAST_ERROR_HAS("status");

    WAIT_EVENTS(&out_rec, 2);
    WAIT_EVENTS(&in_rec, 1);
    CHECK(recorder_kind(&out_rec, 1) == WD_OUTGOING_EVENT_KIND_ACCEPTED);
    CHECK(recorder_kind(&in_rec, 0) == WD_INCOMING_EVENT_KIND_ACCEPTED);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_ACCEPTED);
    CHECK(in_status(in) == WD_INCOMING_STATUS_ACCEPTED);
    /* Cancel after accepted: refused, still accepted. */
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_INVALID_STATE);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_ACCEPTED);
    CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_BUSY), WD_RESULT_INVALID_STATE);
    CHECK(in_status(in) == WD_INCOMING_STATUS_ACCEPTED);
    wd_failure_reason fr = 77;
    CHECK_RESULT(wd_outgoing_invite_failure_reason(out, &fr), WD_RESULT_OK);
    CHECK(fr == WD_FAILURE_REASON_NONE);
    wd_reject_reason rr = 77;
    CHECK_RESULT(wd_outgoing_invite_reject_reason(out, &rr), WD_RESULT_OK);
    CHECK(rr == WD_REJECT_REASON_NONE);

    /* Both sides see the same conversation. */
    wd_conversation *ca = NULL, *ca2 = NULL, *cb = NULL;
    CHECK_RESULT(wd_outgoing_invite_conversation(out, &ca), WD_RESULT_OK);
    CHECK_RESULT(wd_outgoing_invite_conversation(out, &ca2), WD_RESULT_OK);
    CHECK(ca != NULL && ca == ca2); /* references to one object are equal pointers */
    wd_conversation_free(ca2);
    CHECK_RESULT(wd_incoming_invite_conversation(in, &cb), WD_RESULT_OK);
    if (!CHECK(ca != NULL && cb != NULL))
        return;
    const char *ida = NULL, *idb = NULL;
    CHECK_RESULT(wd_conversation_id(ca, &ida), WD_RESULT_OK);
    CHECK_RESULT(wd_conversation_id(cb, &idb), WD_RESULT_OK);
    CHECK(ida && idb && strcmp(ida, out_conv_id) == 0 && strcmp(idb, out_conv_id) == 0);
    CHECK_RESULT(wd_conversation_mode(cb, &mode), WD_RESULT_OK);
    CHECK(mode == WD_MODE_SERVER);
    size_t count = 0;
    CHECK_RESULT(wd_conversation_participant_count(ca, &count), WD_RESULT_OK);
    CHECK(count == 1);

    char *pa = participants(ca), *pb = participants(cb);
    char *dev_a = device_of(alice), *dev_b = device_of(bob);
    char want[256];
    snprintf(want, sizeof want, "[{\"uid\":\"bob\",\"device\":\"%s\"}]", dev_b);
    if (!CHECK(strcmp(pa, want) == 0))
        fprintf(stderr, "    alice sees %s, expected %s\n", pa, want);
    snprintf(want, sizeof want, "[{\"uid\":\"alice\",\"device\":\"%s\"}]", dev_a);
    if (!CHECK(strcmp(pb, want) == 0))
        fprintf(stderr, "    bob sees %s, expected %s\n", pb, want);
    free(pa);
    free(pb);
    free(dev_a);
    free(dev_b);

    /* Alice leaves: she hears DISCONNECTED; bob hears alice leave, and
     * then, alone, DISCONNECTED. */
    struct conv_rec ra, rb;
    recorder_init(&ra.r);
    recorder_init(&rb.r);
    ra.left_uid[0] = rb.left_uid[0] = '\0';
    CHECK_RESULT(wd_conversation_set_callback(ca, on_conversation, &ra, recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_conversation_set_callback(cb, on_conversation, &rb, recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_conversation_disconnect(ca), WD_RESULT_OK);
    CHECK_RESULT(wd_conversation_disconnect(ca), WD_RESULT_INVALID_STATE);
    bool connected = true;
    CHECK_RESULT(wd_conversation_is_connected(ca, &connected), WD_RESULT_OK);
    CHECK(!connected);
    WAIT_EVENTS(&ra.r, 1);
    CHECK(recorder_kind(&ra.r, 0) == WD_CONVERSATION_EVENT_KIND_DISCONNECTED);
    WAIT_EVENTS(&rb.r, 2);
    CHECK(recorder_kind(&rb.r, 0) == WD_CONVERSATION_EVENT_KIND_PARTICIPANT_DISCONNECTED);
    CHECK(recorder_kind(&rb.r, 1) == WD_CONVERSATION_EVENT_KIND_DISCONNECTED);
    CHECK(strcmp(rb.left_uid, "alice") == 0);
    CHECK_RESULT(wd_conversation_is_connected(cb, &connected), WD_RESULT_OK);
    CHECK(!connected);
    CHECK_RESULT(wd_conversation_disconnect(cb), WD_RESULT_INVALID_STATE);
    pb = participants(cb);
    CHECK(strcmp(pb, "[]") == 0);
    free(pb);
    CHECK_RESULT(wd_conversation_participant_count(cb, &count), WD_RESULT_OK);
    CHECK(count == 0);

    wd_conversation_free(ca);
    wd_conversation_free(cb);
    WAIT_RELEASES(&ra.r, 1); /* may run on the event thread, if it was delivering */
    WAIT_RELEASES(&rb.r, 1);
    /* Nothing more arrived: one event for alice, two for bob. */
    CHECK(recorder_get(&ra.r, &ra.r.n) == 1 && recorder_get(&rb.r, &rb.r.n) == 2);
    CHECK(recorder_get(&out_rec, &out_rec.n) == 2 && recorder_get(&in_rec, &in_rec.n) == 1);
    wd_outgoing_invite_free(out);
    wd_incoming_invite_free(in);
    recorder_destroy(&ra.r);
    recorder_destroy(&rb.r);
    recorder_destroy(&out_rec);
    recorder_destroy(&in_rec);
}

static void test_canceled(void)
{
    struct recorder out_rec, in_rec;
    recorder_init(&out_rec);
    recorder_init(&in_rec);
    wd_outgoing_invite *out = invite(alice, "bob", NULL);
    wd_incoming_invite *in = recorder_next_invite(&bob_invites);
    if (!CHECK(in != NULL))
        return;
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &in_rec, NULL),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_OK);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_CANCELED); /* when cancel returns */
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_INVALID_STATE);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_CANCELED);
    /* The callback set after the cancel still hears it. */
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_CANCELED);

    WAIT_EVENTS(&in_rec, 1);
    CHECK(recorder_kind(&in_rec, 0) == WD_INCOMING_EVENT_KIND_CANCELED);
    CHECK(in_status(in) == WD_INCOMING_STATUS_CANCELED);
    wd_cancel_reason why = 77;
    CHECK_RESULT(wd_incoming_invite_cancel_reason(in, &why), WD_RESULT_OK);
    CHECK(why == WD_CANCEL_REASON_CALLER_CANCELED);
    /* Accept or reject after canceled: refused. */
    CHECK_RESULT(wd_incoming_invite_accept(in, "v=0", "late"), WD_RESULT_INVALID_STATE);
    CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_DECLINED), WD_RESULT_INVALID_STATE);
    CHECK(in_status(in) == WD_INCOMING_STATUS_CANCELED);
    wd_conversation *conv = NULL;
    CHECK_RESULT(wd_incoming_invite_conversation(in, &conv), WD_RESULT_INVALID_STATE);
    CHECK_RESULT(wd_outgoing_invite_conversation(out, &conv), WD_RESULT_INVALID_STATE);
    wd_outgoing_invite_free(out);
    wd_incoming_invite_free(in);
    recorder_destroy(&out_rec);
    recorder_destroy(&in_rec);
}

static void test_rejected(void)
{
    struct recorder out_rec, in_rec;
    recorder_init(&out_rec);
    recorder_init(&in_rec);
    wd_outgoing_invite *out = invite(alice, "bob", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    wd_incoming_invite *in = recorder_next_invite(&bob_invites);
    if (!CHECK(in != NULL))
        return;
    CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_DECLINED), WD_RESULT_OK);
    /* A proposal until the caller decides, as an accept is. */
    wd_incoming_status st = in_status(in);
    CHECK(st == WD_INCOMING_STATUS_REJECTING || st == WD_INCOMING_STATUS_REJECTED);
    CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_DECLINED), WD_RESULT_INVALID_STATE);
    CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_INVALID_STATE);
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &in_rec, NULL),
                 WD_RESULT_OK);
    WAIT_EVENTS(&in_rec, 1);
    CHECK(recorder_kind(&in_rec, 0) == WD_INCOMING_EVENT_KIND_REJECTED);
    CHECK(in_status(in) == WD_INCOMING_STATUS_REJECTED);
    WAIT_EVENTS(&out_rec, 2);
    CHECK(recorder_kind(&out_rec, 0) == WD_OUTGOING_EVENT_KIND_RINGING);
    CHECK(recorder_kind(&out_rec, 1) == WD_OUTGOING_EVENT_KIND_REJECTED);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_REJECTED);
    wd_reject_reason rr = 77;
    CHECK_RESULT(wd_outgoing_invite_reject_reason(out, &rr), WD_RESULT_OK);
    CHECK(rr == WD_REJECT_REASON_DECLINED);
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_INVALID_STATE);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_REJECTED);
    wd_outgoing_invite_free(out);
    wd_incoming_invite_free(in);
    recorder_destroy(&out_rec);
    recorder_destroy(&in_rec);
}

/* An invite that fails by itself with `reason`; `to` is never answered. */
static void check_fails(const char *to, const char *extra, wd_failure_reason reason)
{
    struct recorder out_rec;
    recorder_init(&out_rec);
    wd_outgoing_invite *out = invite(alice, to, extra);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_FAILED);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_FAILED);
    wd_failure_reason fr = 77;
    CHECK_RESULT(wd_outgoing_invite_failure_reason(out, &fr), WD_RESULT_OK);
    if (!CHECK(fr == reason))
        fprintf(stderr, "    invite to %s: failure reason %u, expected %u\n", to, fr, reason);
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_INVALID_STATE);
    CHECK(out_status(out) == WD_OUTGOING_STATUS_FAILED);
    wd_outgoing_invite_free(out);
    recorder_destroy(&out_rec);
}

static void test_failures(void)
{
    check_fails("nobody", NULL, WD_FAILURE_REASON_OFFLINE);
    check_fails("alice", NULL, WD_FAILURE_REASON_INVALID_PARTICIPANT);

    /* Timeout: bob holds the invite but never answers; both sides fail. */
    check_fails("bob", ",\"lifetimeMs\":300", WD_FAILURE_REASON_TIMEOUT);
    wd_incoming_invite *in = recorder_next_invite(&bob_invites);
    if (!CHECK(in != NULL))
        return;
    struct recorder in_rec;
    recorder_init(&in_rec);
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &in_rec, NULL),
                 WD_RESULT_OK);
    WAIT_EVENTS(&in_rec, 1);
    CHECK(recorder_kind(&in_rec, 0) == WD_INCOMING_EVENT_KIND_FAILED);
    wd_failure_reason fr = 77;
    CHECK_RESULT(wd_incoming_invite_failure_reason(in, &fr), WD_RESULT_OK);
    CHECK(fr == WD_FAILURE_REASON_TIMEOUT);
    CHECK(in_status(in) == WD_INCOMING_STATUS_FAILED);
    CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_INVALID_STATE);
    wd_incoming_invite_free(in);
    recorder_destroy(&in_rec);
}

int main(void)
{
    recorder_init(&bob_invites);
    alice = connect_as("alice", NULL);
    bob = connect_as("bob", NULL);
    CHECK_RESULT(wd_client_set_invite_callback(bob, recorder_on_invite, &bob_invites, NULL),
                 WD_RESULT_OK);
    test_accepted_flow();
    test_canceled();
    test_rejected();
    test_failures();
    wd_client_free(alice);
    wd_client_free(bob);
    CHECK(recorder_get(&bob_invites, &bob_invites.n_invites) == 4); /* no stray invite */
    recorder_destroy(&bob_invites);
    return check_summary("test_state");
}
