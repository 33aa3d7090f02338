/* test_conversation.c - conversations through the C ABI: messages
 * (wd_conversation_send) and their events, oversize payloads, sending to
 * a non-participant, sending after disconnect, NULLs for the new exports,
 * the cancel reason of an outgoing invite, and a three-party conversation
 * built with wd_conversation_invite.
 */
#include "helpers.h"

/* A conversation recorder that also keeps the last message. */
struct conv_rec {
    struct recorder rec;
    char payload[128];
    char from[64];
    size_t payload_len;
};

static void on_conv(void *user_data, wd_conversation *conv, const wd_conversation_event *ev)
{
    (void)conv;
    struct conv_rec *c = user_data;
    pthread_mutex_lock(&c->rec.mu);
    if (ev->kind == WD_CONVERSATION_EVENT_KIND_MESSAGE) {
        c->payload_len = strlen(ev->payload);
        snprintf(c->payload, sizeof c->payload, "%s", ev->payload);
        snprintf(c->from, sizeof c->from, "%s", ev->participant_uid);
    } else if (ev->kind == WD_CONVERSATION_EVENT_KIND_PARTICIPANT_CONNECTED) {
        snprintf(c->from, sizeof c->from, "%s", ev->participant_uid);
        CHECK(ev->payload == NULL);
    }
    pthread_mutex_unlock(&c->rec.mu);
    recorder_push(&c->rec, (int)ev->kind);
}

static void conv_rec_init(struct conv_rec *c, wd_conversation *conv)
{
    memset(c, 0, sizeof *c);
    recorder_init(&c->rec);
    CHECK_RESULT(wd_conversation_set_callback(conv, on_conv, c, recorder_release), WD_RESULT_OK);
}

/* Waits for event number `n` (1-based) and checks its kind. */
static void expect_event(struct conv_rec *c, int n, wd_conversation_event_kind kind)
{
    WAIT_EVENTS(&c->rec, n);
    CHECK(recorder_kind(&c->rec, n - 1) == (int)kind);
}

/* `out` (sent by the caller) reaches `invites`; accepts it and returns
 * both conversations through the out-parameters. */
static void establish(wd_outgoing_invite *out, struct recorder *invites, wd_conversation **caller,
                      wd_conversation **callee)
{
    struct recorder out_rec, in_rec;
    recorder_init(&out_rec);
    recorder_init(&in_rec);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec,
                                                 recorder_release),
                 WD_RESULT_OK);
    wd_incoming_invite *in = recorder_next_invite(invites);
    CHECK(in != NULL);
    if (in == NULL)
        exit(check_summary("test_conversation"));
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &in_rec,
                                                 recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_OK);
    CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_ACCEPTED);
    WAIT_EVENTS(&in_rec, 1);
    CHECK(recorder_kind(&in_rec, 0) == WD_INCOMING_EVENT_KIND_ACCEPTED);
    CHECK_RESULT(wd_outgoing_invite_conversation(out, caller), WD_RESULT_OK);
    CHECK_RESULT(wd_incoming_invite_conversation(in, callee), WD_RESULT_OK);
    /* Clearing the callbacks releases the recorders before they go. */
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, NULL, NULL, NULL), WD_RESULT_OK);
    CHECK_RESULT(wd_incoming_invite_set_callback(in, NULL, NULL, NULL), WD_RESULT_OK);
    WAIT_RELEASES(&out_rec, 1);
    WAIT_RELEASES(&in_rec, 1);
    wd_incoming_invite_free(in);
    recorder_destroy(&out_rec);
    recorder_destroy(&in_rec);
}

static void null_parameters(wd_conversation *conv, wd_outgoing_invite *out)
{
    wd_outgoing_invite *o = NULL;
    wd_cancel_reason cr = WD_CANCEL_REASON_NONE;
    CHECK_RESULT(wd_conversation_send(NULL, NULL, "x"), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_conversation_send(conv, "bob", NULL), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("payload");
    CHECK_RESULT(wd_conversation_invite(NULL, "{\"participantId\":\"carol\"}", &o),
                 WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_conversation_invite(conv, NULL, &o), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_conversation_invite(conv, "{\"participantId\":\"carol\"}", NULL),
                 WD_RESULT_NULL_PARAMETER);
    CHECK(o == NULL);
    CHECK_RESULT(wd_outgoing_invite_cancel_reason(NULL, &cr), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_outgoing_invite_cancel_reason(out, NULL), WD_RESULT_NULL_PARAMETER);
}

int main(void)
{
    wd_client *alice = connect_as("alice", NULL);
    wd_client *bob = connect_as("bob", NULL);
    wd_client *carol = connect_as("carol", NULL);
    struct recorder bob_invites, carol_invites;
    recorder_init(&bob_invites);
    recorder_init(&carol_invites);
    CHECK_RESULT(wd_client_set_invite_callback(bob, recorder_on_invite, &bob_invites,
                                               recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_client_set_invite_callback(carol, recorder_on_invite, &carol_invites,
                                               recorder_release),
                 WD_RESULT_OK);

    wd_outgoing_invite *out = invite(alice, "bob", NULL);
    wd_conversation *ca = NULL, *cb = NULL;
    establish(out, &bob_invites, &ca, &cb);
    struct conv_rec ra, rb;
    conv_rec_init(&ra, ca);
    conv_rec_init(&rb, cb);

    /* A message to bob, then one to everyone from bob. */
    CHECK_RESULT(wd_conversation_send(ca, "bob", "{\"candidate\":\"x\"}"), WD_RESULT_OK);
    expect_event(&rb, 1, WD_CONVERSATION_EVENT_KIND_MESSAGE);
    CHECK(strcmp(rb.payload, "{\"candidate\":\"x\"}") == 0);
    CHECK(strcmp(rb.from, "alice") == 0);
    CHECK_RESULT(wd_conversation_send(cb, NULL, "back"), WD_RESULT_OK);
    expect_event(&ra, 1, WD_CONVERSATION_EVENT_KIND_MESSAGE);
    CHECK(strcmp(ra.payload, "back") == 0);

    /* Oversize (65537 bytes): refused, the conversation survives. */
    char *big = malloc(65538);
    CHECK(big != NULL);
    memset(big, 'x', 65537);
    big[65537] = '\0';
    CHECK_RESULT(wd_conversation_send(ca, NULL, big), WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("payload");
    big[65536] = '\0'; /* exactly the limit is fine */
    CHECK_RESULT(wd_conversation_send(ca, NULL, big), WD_RESULT_OK);
    expect_event(&rb, 2, WD_CONVERSATION_EVENT_KIND_MESSAGE);
    CHECK(rb.payload_len == 65536);
    free(big);
    CHECK_RESULT(wd_conversation_send(ca, NULL, "\xff\xfe"), WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("payload");

    /* Not a participant. */
    CHECK_RESULT(wd_conversation_send(ca, "carol", "hi"), WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("to");
    CHECK_RESULT(wd_conversation_send(ca, "bob", "still here"), WD_RESULT_OK);
    expect_event(&rb, 3, WD_CONVERSATION_EVENT_KIND_MESSAGE);
    CHECK(strcmp(rb.payload, "still here") == 0);

    null_parameters(ca, out);
    wd_cancel_reason cr = WD_CANCEL_REASON_GLARE;
    CHECK_RESULT(wd_outgoing_invite_cancel_reason(out, &cr), WD_RESULT_OK);
    CHECK(cr == WD_CANCEL_REASON_NONE);

    /* Three parties: alice invites carol into the live conversation. */
    wd_outgoing_invite *o3 = NULL;
    CHECK_RESULT(wd_conversation_invite(ca, "{\"participantId\":\"bob\"}", &o3),
                 WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("participantId");
    CHECK_RESULT(wd_conversation_invite(ca, "{\"participantId\":\"carol\"}", &o3), WD_RESULT_OK);
    const char *id3 = NULL, *ida = NULL;
    CHECK_RESULT(wd_outgoing_invite_conversation_id(o3, &id3), WD_RESULT_OK);
    CHECK_RESULT(wd_conversation_id(ca, &ida), WD_RESULT_OK);
    CHECK(strcmp(id3, ida) == 0);
    wd_conversation *ca3 = NULL, *cc = NULL;
    establish(o3, &carol_invites, &ca3, &cc);
    CHECK(ca3 == ca); /* the same conversation */
    wd_conversation_free(ca3);
    struct conv_rec rc;
    conv_rec_init(&rc, cc);
    expect_event(&ra, 2, WD_CONVERSATION_EVENT_KIND_PARTICIPANT_CONNECTED);
    CHECK(strcmp(ra.from, "carol") == 0);
    expect_event(&rb, 4, WD_CONVERSATION_EVENT_KIND_PARTICIPANT_CONNECTED);
    CHECK(strcmp(rb.from, "carol") == 0);
    size_t count = 0;
    CHECK_RESULT(wd_conversation_participant_count(cc, &count), WD_RESULT_OK);
    CHECK(count == 2);
    CHECK_RESULT(wd_conversation_participant_count(ca, &count), WD_RESULT_OK);
    CHECK(count == 2);
    CHECK_RESULT(wd_conversation_send(cc, NULL, "hi both"), WD_RESULT_OK);
    expect_event(&ra, 3, WD_CONVERSATION_EVENT_KIND_MESSAGE);
    expect_event(&rb, 5, WD_CONVERSATION_EVENT_KIND_MESSAGE);
    CHECK(strcmp(ra.payload, "hi both") == 0 && strcmp(ra.from, "carol") == 0);
    CHECK(strcmp(rb.payload, "hi both") == 0 && strcmp(rb.from, "carol") == 0);

    /* A local cancel reports CALLER_CANCELED. */
    wd_outgoing_invite *o4 = invite(bob, "carol", NULL);
    CHECK_RESULT(wd_outgoing_invite_cancel(o4), WD_RESULT_OK);
    CHECK_RESULT(wd_outgoing_invite_cancel_reason(o4, &cr), WD_RESULT_OK);
    CHECK(cr == WD_CANCEL_REASON_CALLER_CANCELED);
    wd_outgoing_invite_free(o4);
    wd_incoming_invite *late = recorder_next_invite(&carol_invites);
    wd_incoming_invite_free(late);

    /* After leaving: INVALID_STATE for send and invite. */
    CHECK_RESULT(wd_conversation_disconnect(ca), WD_RESULT_OK);
    CHECK_RESULT(wd_conversation_send(ca, NULL, "late"), WD_RESULT_INVALID_STATE);
    CHECK_RESULT(wd_conversation_invite(ca, "{\"participantId\":\"carol\"}", &o3),
                 WD_RESULT_INVALID_STATE);
    expect_event(&ra, 4, WD_CONVERSATION_EVENT_KIND_DISCONNECTED);
    expect_event(&rb, 6, WD_CONVERSATION_EVENT_KIND_PARTICIPANT_DISCONNECTED);
    expect_event(&rc, 1, WD_CONVERSATION_EVENT_KIND_PARTICIPANT_DISCONNECTED);
    CHECK_RESULT(wd_conversation_disconnect(cb), WD_RESULT_OK);
    expect_event(&rc, 3, WD_CONVERSATION_EVENT_KIND_DISCONNECTED);

    wd_outgoing_invite_free(o3);
    wd_outgoing_invite_free(out);
    wd_conversation_free(ca);
    wd_conversation_free(cb);
    wd_conversation_free(cc);
    WAIT_RELEASES(&ra.rec, 1);
    WAIT_RELEASES(&rb.rec, 1);
    WAIT_RELEASES(&rc.rec, 1);
    wd_client_free(alice);
    wd_client_free(bob);
    wd_client_free(carol);
    recorder_destroy(&ra.rec);
    recorder_destroy(&rb.rec);
    recorder_destroy(&rc.rec);
    recorder_destroy(&bob_invites);
    recorder_destroy(&carol_invites);
    return check_summary("test_conversation");
}
