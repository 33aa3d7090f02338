/* test_null.c - NULL for every pointer parameter of every export gives
 * WD_RESULT_NULL_PARAMETER (naming the parameter) and never crashes or
 * writes an out-parameter; _free(NULL) is a no-op; wd_result_message
 * covers every code and unknown ones; wd_last_error's copy-out rules. */
#include "helpers.h"

static const char SENTINEL_STR[] = "sentinel";

/* Both NULL cases of a getter `fn(handle, T *out)`; `out` keeps its
 * sentinel value. */
#define CHECK_NULL_GETTER(fn, handle, T, sentinel)                       \
    do {                                                                 \
        T out_ = sentinel;                                               \
        CHECK_RESULT(fn(NULL, &out_), WD_RESULT_NULL_PARAMETER);         \
        CHECK(out_ == sentinel);                                         \
        CHECK_RESULT(fn(handle, NULL), WD_RESULT_NULL_PARAMETER);        \
        CHECK_LAST_ERROR_HAS("out");                                     \
    } while (0)

/* The NULL cases of a copy-out function `fn(handle, buf, len, needed)`. */
#define CHECK_NULL_COPY_OUT(fn, handle)                                      \
    do {                                                                     \
        char buf_[8] = "unset";                                              \
        size_t needed_ = 12345;                                              \
        CHECK_RESULT(fn(NULL, buf_, sizeof buf_, &needed_), WD_RESULT_NULL_PARAMETER); \
        CHECK(needed_ == 12345 && strcmp(buf_, "unset") == 0);               \
        CHECK_RESULT(fn(handle, buf_, sizeof buf_, NULL), WD_RESULT_NULL_PARAMETER); \
        CHECK_LAST_ERROR_HAS("needed");                                      \
        CHECK_RESULT(fn(handle, NULL, 5, &needed_), WD_RESULT_NULL_PARAMETER); \
        CHECK_LAST_ERROR_HAS("buf");                                         \
        CHECK(needed_ == 12345);                                             \
        CHECK_RESULT(fn(handle, NULL, 0, &needed_), WD_RESULT_BUFFER_TOO_SMALL); \
        CHECK(needed_ > 0 && needed_ != 12345);                              \
    } while (0)

static void never_called_invite(void *ud, wd_incoming_invite *inv)
{
    (void)ud;
    (void)inv;
    CHECK(!"invite callback must not run");
}

static void test_result_messages(void)
{
    const char *seen[10];
    for (unsigned code = 0; code <= WD_RESULT_PROTOCOL; code++) {
        const char *m = wd_result_message(code);
        CHECK(m != NULL && *m != '\0');
        seen[code] = m;
        for (unsigned j = 0; j < code; j++)
            CHECK(strcmp(seen[j], m) != 0);
    }
    const char *unknown[] = {0, 0, 0};
    unknown[0] = wd_result_message(WD_RESULT_PROTOCOL + 1);
    unknown[1] = wd_result_message(1000);
    unknown[2] = wd_result_message(UINT32_MAX);
    for (int i = 0; i < 3; i++) {
        CHECK(unknown[i] != NULL && *unknown[i] != '\0');
        for (unsigned code = 0; code <= WD_RESULT_PROTOCOL; code++)
            CHECK(strcmp(unknown[i], seen[code]) != 0);
    }
}

static void test_last_error(void)
{
    char buf[256];
    size_t needed = 0;
    /* Fail once so there is a detail to read. */
    CHECK_RESULT(wd_client_uid(NULL, NULL), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_last_error(NULL, 0, &needed), WD_RESULT_BUFFER_TOO_SMALL);
    size_t size = needed;
    CHECK(size > 1);
    CHECK_RESULT(wd_last_error(NULL, 5, &needed), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_last_error(buf, sizeof buf, NULL), WD_RESULT_NULL_PARAMETER);
    /* wd_last_error's own failures do not change the detail. */
    CHECK_RESULT(wd_last_error(buf, sizeof buf, &needed), WD_RESULT_OK);
    CHECK(needed == size && strlen(buf) + 1 == size);
    CHECK(strstr(buf, "client") != NULL);
    /* Too small by one: nothing written, size reported. */
    memset(buf, 'x', sizeof buf);
    CHECK_RESULT(wd_last_error(buf, size - 1, &needed), WD_RESULT_BUFFER_TOO_SMALL);
    CHECK(needed == size && buf[0] == 'x');
    CHECK_RESULT(wd_last_error(buf, size, &needed), WD_RESULT_OK);
    CHECK(strlen(buf) + 1 == size);
}

static void test_frees(void)
{
    wd_client_free(NULL);
    wd_outgoing_invite_free(NULL);
    wd_incoming_invite_free(NULL);
    wd_conversation_free(NULL);
    CHECK(1);
}

int main(void)
{
    test_result_messages();
    test_last_error();
    test_frees();

    /* wd_client_new */
    wd_client *c = (wd_client *)&c; /* a sentinel, never used as a client */
    CHECK_RESULT(wd_client_new(NULL, &c), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("config_json");
    CHECK(c == (wd_client *)&c);
    CHECK_RESULT(wd_client_new("{\"url\":\"ws://127.0.0.1:1\",\"token\":\"dev:a\"}", NULL),
                 WD_RESULT_NULL_PARAMETER);
    /* wd_client_start */
    CHECK_RESULT(wd_client_start(NULL, &c), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("config_json");
    CHECK(c == (wd_client *)&c);
    CHECK_RESULT(wd_client_start("{\"url\":\"ws://127.0.0.1:1\",\"token\":\"dev:a\"}", NULL),
                 WD_RESULT_NULL_PARAMETER);

    /* A real accepted invite, so every handle type exists. */
    struct recorder bob_rec, out_rec, in_rec;
    recorder_init(&bob_rec);
    recorder_init(&out_rec);
    recorder_init(&in_rec);
    wd_client *alice = connect_as("alice", NULL);
    wd_client *bob = connect_as("bob", NULL);
    CHECK_RESULT(wd_client_set_invite_callback(bob, recorder_on_invite, &bob_rec, recorder_release),
                 WD_RESULT_OK);
    wd_outgoing_invite *out = invite(alice, "bob", ",\"userData\":\"u\",\"offer\":\"v=0\"");
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    wd_incoming_invite *in = recorder_next_invite(&bob_rec);
    if (!CHECK(in != NULL))
        return check_summary("test_null");
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &in_rec, NULL),
                 WD_RESULT_OK);

    /* Incoming invite, while pending. */
    CHECK_NULL_GETTER(wd_incoming_invite_from, in, const char *, SENTINEL_STR);
    CHECK_NULL_GETTER(wd_incoming_invite_conversation_id, in, const char *, SENTINEL_STR);
    CHECK_NULL_GETTER(wd_incoming_invite_mode, in, wd_mode, 77);
    CHECK_NULL_GETTER(wd_incoming_invite_user_data, in, const char *, SENTINEL_STR);
    CHECK_NULL_GETTER(wd_incoming_invite_offer, in, const char *, SENTINEL_STR);
    CHECK_NULL_GETTER(wd_incoming_invite_status, in, wd_incoming_status, 77);
    CHECK_NULL_GETTER(wd_incoming_invite_failure_reason, in, wd_failure_reason, 77);
    CHECK_NULL_GETTER(wd_incoming_invite_cancel_reason, in, wd_cancel_reason, 77);
    CHECK_NULL_GETTER(wd_incoming_invite_confirmed, in, bool, false);
    CHECK_RESULT(wd_incoming_invite_accept(NULL, "a", "u"), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("invite");
    CHECK_RESULT(wd_incoming_invite_reject(NULL, WD_REJECT_REASON_DECLINED),
                 WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_incoming_invite_set_callback(NULL, recorder_on_incoming, &in_rec,
                                                 recorder_release),
                 WD_RESULT_NULL_PARAMETER);
    /* The invite is still pending after all that. */
    wd_incoming_status ist = 77;
    CHECK_RESULT(wd_incoming_invite_status(in, &ist), WD_RESULT_OK);
    CHECK(ist == WD_INCOMING_STATUS_PENDING);

    /* Outgoing invite, while pending. */
    CHECK_NULL_GETTER(wd_outgoing_invite_status, out, wd_outgoing_status, 77);
    CHECK_NULL_GETTER(wd_outgoing_invite_to, out, const char *, SENTINEL_STR);
    CHECK_NULL_GETTER(wd_outgoing_invite_conversation_id, out, const char *, SENTINEL_STR);
    CHECK_NULL_GETTER(wd_outgoing_invite_failure_reason, out, wd_failure_reason, 77);
    CHECK_NULL_GETTER(wd_outgoing_invite_reject_reason, out, wd_reject_reason, 77);
    CHECK_NULL_GETTER(wd_outgoing_invite_conversation, out, wd_conversation *, NULL);
    CHECK_RESULT(wd_outgoing_invite_cancel(NULL), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_outgoing_invite_set_callback(NULL, recorder_on_outgoing, &out_rec,
                                                 recorder_release),
                 WD_RESULT_NULL_PARAMETER);

    /* Accept, so the conversation and the answer exist. */
    CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_OK);
    WAIT_EVENTS(&in_rec, 1);
    WAIT_EVENTS(&out_rec, 2); /* ringing, accepted */
    CHECK(recorder_kind(&in_rec, 0) == WD_INCOMING_EVENT_KIND_ACCEPTED);
    CHECK(recorder_kind(&out_rec, 1) == WD_OUTGOING_EVENT_KIND_ACCEPTED);
    CHECK_NULL_GETTER(wd_incoming_invite_conversation, in, wd_conversation *, NULL);
    CHECK_NULL_COPY_OUT(wd_outgoing_invite_answer, out);
    CHECK_NULL_COPY_OUT(wd_outgoing_invite_answer_user_data, out);

    wd_conversation *conv = NULL;
    CHECK_RESULT(wd_outgoing_invite_conversation(out, &conv), WD_RESULT_OK);
    CHECK_NULL_GETTER(wd_conversation_id, conv, const char *, SENTINEL_STR);
    CHECK_NULL_GETTER(wd_conversation_mode, conv, wd_mode, 77);
    CHECK_NULL_GETTER(wd_conversation_participant_count, conv, size_t, 77);
    CHECK_NULL_GETTER(wd_conversation_is_connected, conv, bool, false);
    CHECK_NULL_COPY_OUT(wd_conversation_participants, conv);
    CHECK_RESULT(wd_conversation_disconnect(NULL), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_conversation_set_callback(NULL, recorder_on_conversation, &in_rec,
                                              recorder_release),
                 WD_RESULT_NULL_PARAMETER);
    bool connected = false;
    CHECK_RESULT(wd_conversation_is_connected(conv, &connected), WD_RESULT_OK);
    CHECK(connected);

    /* Client. */
    CHECK_NULL_GETTER(wd_client_uid, alice, const char *, SENTINEL_STR);
    CHECK_NULL_GETTER(wd_client_connection_state, alice, wd_connection_state, 77);
    CHECK_NULL_COPY_OUT(wd_client_device, alice);
    wd_outgoing_invite *o2 = (wd_outgoing_invite *)&o2;
    CHECK_RESULT(wd_client_invite(NULL, "{\"participantId\":\"bob\"}", &o2),
                 WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_invite(alice, NULL, &o2), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("options_json");
    CHECK(o2 == (wd_outgoing_invite *)&o2);
    CHECK_RESULT(wd_client_invite(alice, "{\"participantId\":\"bob\"}", NULL),
                 WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_set_invite_callback(NULL, never_called_invite, &bob_rec,
                                               recorder_release),
                 WD_RESULT_NULL_PARAMETER);
    size_t n = 77;
    CHECK_RESULT(wd_client_dispatch(NULL, 0, &n), WD_RESULT_NULL_PARAMETER);
    CHECK(n == 77);
    CHECK_RESULT(wd_client_dispatch(alice, 0, NULL), WD_RESULT_INVALID_STATE); /* thread mode */
    CHECK_RESULT(wd_client_disconnect(NULL), WD_RESULT_NULL_PARAMETER);
    /* Push. */
    static const char push[] =
        "{\"wd\":1,\"type\":\"invite_ended\",\"invite_id\":\"i\",\"conversation_id\":\"c\","
        "\"from\":\"carol\",\"outcome\":{\"type\":\"canceled\"}}";
    wd_incoming_invite *pushed = (wd_incoming_invite *)&pushed;
    CHECK_RESULT(wd_client_handle_push(NULL, push, &pushed), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("client");
    CHECK_RESULT(wd_client_handle_push(alice, NULL, &pushed), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("payload_json");
    CHECK_RESULT(wd_client_handle_push(alice, push, NULL), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("out");
    CHECK(pushed == (wd_incoming_invite *)&pushed);
    static const char reg[] = "{\"provider\":\"fcm\",\"appId\":\"a\",\"pushKey\":\"k\"}";
    CHECK_RESULT(wd_client_register_push(NULL, reg), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_register_push(alice, NULL), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("options_json");
    CHECK_RESULT(wd_client_unregister_push(NULL, "a", "k"), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_unregister_push(alice, NULL, "k"), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("app_id");
    CHECK_RESULT(wd_client_unregister_push(alice, "a", NULL), WD_RESULT_NULL_PARAMETER);
    CHECK_LAST_ERROR_HAS("push_key");
    CHECK_RESULT(wd_client_set_push_callback(NULL, NULL, &bob_rec, recorder_release),
                 WD_RESULT_NULL_PARAMETER);
    /* No registration that failed took ownership of its user_data. */
    CHECK(recorder_get(&bob_rec, &bob_rec.releases) == 0);
    CHECK(recorder_get(&in_rec, &in_rec.releases) == 0);
    CHECK(recorder_get(&out_rec, &out_rec.releases) == 0);

    wd_conversation_free(conv);
    wd_incoming_invite_free(in);
    wd_outgoing_invite_free(out);
    wd_client_free(alice);
    wd_client_free(bob);
    CHECK(recorder_get(&bob_rec, &bob_rec.releases) == 1); /* freeing bob released it */
    recorder_destroy(&bob_rec);
    recorder_destroy(&out_rec);
    recorder_destroy(&in_rec);
    return check_summary("test_null");
}
