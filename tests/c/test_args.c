/* test_args.c - bad arguments: invalid JSON and ill-typed, unknown or
 * missing fields in the client config and the invite options (the error
 * names the field), invalid UTF-8, size limits, invalid enum values,
 * buffer copy-out too small, unreachable server, refused token, calls
 * after disconnect. */
#include "helpers.h"

static char config_buf[1024];

static const char *config(const char *fields)
{
    snprintf(config_buf, sizeof config_buf, "{\"url\":\"%s\",\"token\":\"dev:carol\"%s}",
             server_url(), fields);
    return config_buf;
}

/* wd_client_new(json) fails with `expected` and the detail names `field`;
 * *out is left alone. */
static void check_bad_config(const char *json, wd_result expected, const char *field)
{
    wd_client *client = (wd_client *)&client;
    wd_result r = wd_client_new(json, &client);
    if (!CHECK(r == expected))
        fprintf(stderr, "    config %s: got %s, last error \"%s\"\n", json,
                wd_result_message(r), check_last_error());
    if (field != NULL && !CHECK(strstr(check_last_error(), field) != NULL))
        fprintf(stderr, "    config %s: last error \"%s\" does not name %s\n", json,
                check_last_error(), field);
    CHECK(client == (wd_client *)&client);
    if (r == WD_RESULT_OK && client != (wd_client *)&client)
        wd_client_free(client);
}

static void check_bad_options(wd_client *alice, const char *json, const char *field)
{
    wd_outgoing_invite *out = (wd_outgoing_invite *)&out;
    wd_result r = wd_client_invite(alice, json, &out);
    if (!CHECK(r == WD_RESULT_INVALID_ARGUMENT))
        fprintf(stderr, "    options %.80s: got %s\n", json, wd_result_message(r));
    if (field != NULL && !CHECK(strstr(check_last_error(), field) != NULL))
        fprintf(stderr, "    options %.80s: last error \"%s\" does not name %s\n", json,
                check_last_error(), field);
    CHECK(out == (wd_outgoing_invite *)&out);
    if (r == WD_RESULT_OK && out != (wd_outgoing_invite *)&out) {
        wd_outgoing_invite_cancel(out);
        wd_outgoing_invite_free(out);
    }
}

/* A string of n copies of c, NUL-terminated; the caller frees it. */
static char *filled(size_t n, char c)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_config(void)
{
    check_bad_config("", WD_RESULT_INVALID_ARGUMENT, "json");
    check_bad_config("{\"url\":", WD_RESULT_INVALID_ARGUMENT, "json");
    check_bad_config("[1,2]", WD_RESULT_INVALID_ARGUMENT, "json");
    check_bad_config("null", WD_RESULT_INVALID_ARGUMENT, "json");
    check_bad_config("{\"token\":\"dev:carol\"}", WD_RESULT_INVALID_ARGUMENT, "url");
    char json[256];
    snprintf(json, sizeof json, "{\"url\":\"%s\"}", server_url());
    check_bad_config(json, WD_RESULT_INVALID_ARGUMENT, "token");
    check_bad_config("{\"url\":5,\"token\":\"dev:carol\"}", WD_RESULT_INVALID_ARGUMENT, "url");
    check_bad_config("{\"url\":\"http://x\",\"token\":\"dev:carol\"}",
                     WD_RESULT_INVALID_ARGUMENT, "url");
    check_bad_config(config(",\"token\":[]"), WD_RESULT_INVALID_ARGUMENT, "token");
    check_bad_config(config(",\"dispatch\":\"sometimes\""), WD_RESULT_INVALID_ARGUMENT,
                     "dispatch");
    check_bad_config(config(",\"dispatch\":true"), WD_RESULT_INVALID_ARGUMENT, "dispatch");
    check_bad_config(config(",\"connectTimeoutMs\":\"5\""), WD_RESULT_INVALID_ARGUMENT,
                     "connectTimeoutMs");
    check_bad_config(config(",\"connectTimeoutMs\":-1"), WD_RESULT_INVALID_ARGUMENT,
                     "connectTimeoutMs");
    check_bad_config(config(",\"connectTimeoutMs\":0"), WD_RESULT_INVALID_ARGUMENT,
                     "connectTimeoutMs");
    check_bad_config(config(",\"confirmTimeoutMs\":1.5"), WD_RESULT_INVALID_ARGUMENT,
                     "confirmTimeoutMs");
    check_bad_config(config(",\"colour\":\"blue\""), WD_RESULT_INVALID_ARGUMENT, "colour");
    /* Invalid UTF-8 (a lone continuation byte, an overlong '/'). */
    check_bad_config(config(",\"x\":\"\x80\""), WD_RESULT_INVALID_ARGUMENT, NULL);
    check_bad_config("{\"url\":\"\xc0\xaf\",\"token\":\"dev:carol\"}",
                     WD_RESULT_INVALID_ARGUMENT, NULL);
    /* Longer than 256 KiB. */
    char *big = filled(256 * 1024 + 1, ' ');
    big[0] = '{';
    big[256 * 1024] = '}';
    check_bad_config(big, WD_RESULT_INVALID_ARGUMENT, NULL);
    free(big);
    /* Nothing listens on port 1: the connection is refused. */
    check_bad_config("{\"url\":\"ws://127.0.0.1:1\",\"token\":\"dev:carol\","
                     "\"connectTimeoutMs\":3000}",
                     WD_RESULT_NETWORK, NULL);
}

static void test_tokens(void)
{
    const char *url = getenv("WD_SECRET_URL"), *token = getenv("WD_SECRET_TOKEN");
    if (!CHECK(url != NULL && token != NULL))
        return;
    char json[2048];
    /* A server with a secret and without --dev refuses dev tokens... */
    snprintf(json, sizeof json, "{\"url\":\"%s\",\"token\":\"dev:alice\"}", url);
    check_bad_config(json, WD_RESULT_UNAUTHORIZED, NULL);
    snprintf(json, sizeof json, "{\"url\":\"%s\",\"token\":\"%sx\"}", url, token);
    check_bad_config(json, WD_RESULT_UNAUTHORIZED, NULL);
    /* ...and accepts a signed one, taking the uid from it. */
    snprintf(json, sizeof json, "{\"url\":\"%s\",\"token\":\"%s\"}", url, token);
    wd_client *client = NULL;
    CHECK_RESULT(wd_client_new(json, &client), WD_RESULT_OK);
    const char *uid = NULL;
    CHECK_RESULT(wd_client_uid(client, &uid), WD_RESULT_OK);
    CHECK(uid != NULL && strcmp(uid, "alice") == 0);
    wd_client_free(client);
}

/* Invites "nobody" (never online), so nothing that wrongly gets through
 * rings bob in a later test. */
static void test_options(wd_client *alice)
{
    check_bad_options(alice, "not json", "json");
    check_bad_options(alice, "\"bob\"", "json");
    check_bad_options(alice, "{}", "participantId");
    check_bad_options(alice, "{\"participantId\":5}", "participantId");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"mode\":\"tv\"}", "mode");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"userData\":{}}", "userData");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"offer\":1}", "offer");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"lifetimeMs\":\"60000\"}", "lifetimeMs");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"lifetimeMs\":-5}", "lifetimeMs");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"lifetimeMs\":0}", "lifetimeMs");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"lifetimeMs\":3600001}", "lifetimeMs");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"ringtone\":\"x\"}", "ringtone");
    check_bad_options(alice, "{\"participantId\":\"nobody\",\"userData\":\"caf\xe9\"}", NULL);
    check_bad_options(alice, "{\"participantId\":\"b\xff\xfe\"}", NULL);
    /* A malformed user id is refused before anything is sent. */
    check_bad_options(alice, "{\"participantId\":\"not a uid!\"}", "participantId");
    check_bad_options(alice, "{\"participantId\":\"\"}", "participantId");

    /* userData: 8192 bytes is fine, 8193 is not. */
    char *data = filled(8193, 'd');
    char *json = malloc(8300);
    snprintf(json, 8300, "{\"participantId\":\"nobody\",\"userData\":\"%s\"}", data);
    check_bad_options(alice, json, "userData");
    data[8192] = '\0';
    snprintf(json, 8300, "{\"participantId\":\"nobody\",\"userData\":\"%s\"}", data);
    wd_outgoing_invite *out = NULL;
    CHECK_RESULT(wd_client_invite(alice, json, &out), WD_RESULT_OK);
    wd_outgoing_invite_free(out); /* it fails "offline" by itself */
    free(json);
    free(data);

    /* offer: at most 64 KiB. */
    char *offer = filled(64 * 1024 + 1, 'o');
    json = malloc(64 * 1024 + 100);
    snprintf(json, 64 * 1024 + 100, "{\"participantId\":\"nobody\",\"offer\":\"%s\"}", offer);
    check_bad_options(alice, json, "offer");
    free(json);
    free(offer);
}

/* The outgoing-invite copy-outs and the incoming invite's answers. */
static void test_invite_args(wd_client *alice, wd_client *bob)
{
    struct recorder bob_rec, out_rec;
    recorder_init(&bob_rec);
    recorder_init(&out_rec);
    CHECK_RESULT(wd_client_set_invite_callback(bob, recorder_on_invite, &bob_rec, NULL),
                 WD_RESULT_OK);

    /* Reject: only DECLINED and BUSY are reasons. */
    wd_outgoing_invite *out = invite(alice, "bob", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    wd_incoming_invite *in = recorder_next_invite(&bob_rec);
    CHECK(in != NULL);
    CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_NONE), WD_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(wd_incoming_invite_reject(in, 3), WD_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(wd_incoming_invite_reject(in, UINT32_MAX), WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("reason");
    /* Answers that break the rules are refused; the invite stays pending. */
    char *big = filled(8193, 'u');
    CHECK_RESULT(wd_incoming_invite_accept(in, NULL, big), WD_RESULT_INVALID_ARGUMENT);
    free(big);
    big = filled(64 * 1024 + 1, 'a');
    CHECK_RESULT(wd_incoming_invite_accept(in, big, NULL), WD_RESULT_INVALID_ARGUMENT);
    free(big);
    CHECK_RESULT(wd_incoming_invite_accept(in, "v=0\xff", NULL), WD_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(wd_incoming_invite_accept(in, NULL, "\xed\xa0\x80"), WD_RESULT_INVALID_ARGUMENT);
    wd_incoming_status ist = 77;
    CHECK_RESULT(wd_incoming_invite_status(in, &ist), WD_RESULT_OK);
    CHECK(ist == WD_INCOMING_STATUS_PENDING);
    wd_outgoing_status ost = 77;
    CHECK_RESULT(wd_outgoing_invite_status(out, &ost), WD_RESULT_OK);
    CHECK(ost == WD_OUTGOING_STATUS_PENDING);
    /* Copy-outs need an accepted invite. */
    size_t needed = 0;
    char small[4];
    CHECK_RESULT(wd_outgoing_invite_answer(out, small, sizeof small, &needed),
                 WD_RESULT_INVALID_STATE);
    CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_BUSY), WD_RESULT_OK);
    WAIT_EVENTS(&out_rec, 2);
    CHECK(recorder_kind(&out_rec, 1) == WD_OUTGOING_EVENT_KIND_REJECTED);
    wd_reject_reason why = 77;
    CHECK_RESULT(wd_outgoing_invite_reject_reason(out, &why), WD_RESULT_OK);
    CHECK(why == WD_REJECT_REASON_BUSY);
    wd_outgoing_invite_free(out);
    wd_incoming_invite_free(in);

    /* Accept with an answer and user data, then copy them out. */
    recorder_destroy(&out_rec);
    recorder_init(&out_rec);
    out = invite(alice, "bob", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    in = recorder_next_invite(&bob_rec);
    CHECK(in != NULL);
    const char *answer = "v=0 answer", *reply = "h\xc3\xa9llo"; /* "héllo" */
    CHECK_RESULT(wd_incoming_invite_accept(in, answer, reply), WD_RESULT_OK);
    WAIT_EVENTS(&out_rec, 2);
    CHECK(recorder_kind(&out_rec, 1) == WD_OUTGOING_EVENT_KIND_ACCEPTED);

    struct {
        const char *name;
        wd_result (*fn)(const wd_outgoing_invite *, char *, size_t, size_t *);
        const char *want;
    } outs[] = {{"answer", wd_outgoing_invite_answer, answer},
                {"answer_user_data", wd_outgoing_invite_answer_user_data, reply}};
    for (size_t i = 0; i < 2; i++) {
        size_t size = strlen(outs[i].want) + 1;
        char buf[64];
        memset(buf, '#', sizeof buf);
        needed = 0;
        CHECK_RESULT(outs[i].fn(out, NULL, 0, &needed), WD_RESULT_BUFFER_TOO_SMALL);
        CHECK(needed == size);
        needed = 0;
        CHECK_RESULT(outs[i].fn(out, buf, size - 1, &needed), WD_RESULT_BUFFER_TOO_SMALL);
        CHECK(needed == size && buf[0] == '#');
        CHECK_RESULT(outs[i].fn(out, buf, needed, &needed), WD_RESULT_OK);
        CHECK(needed == size && strcmp(buf, outs[i].want) == 0);
    }

    /* Participants: size query, then exactly that size. */
    wd_conversation *conv = NULL;
    CHECK_RESULT(wd_outgoing_invite_conversation(out, &conv), WD_RESULT_OK);
    if (conv == NULL)
        goto done;
    needed = 0;
    CHECK_RESULT(wd_conversation_participants(conv, small, sizeof small, &needed),
                 WD_RESULT_BUFFER_TOO_SMALL);
    CHECK(needed > sizeof small);
    char *buf = malloc(needed);
    CHECK_RESULT(wd_conversation_participants(conv, buf, needed, &needed), WD_RESULT_OK);
    CHECK(strlen(buf) + 1 == needed && strstr(buf, "\"uid\":\"bob\"") != NULL);
    free(buf);

    /* The device id, the same way. */
    CHECK_RESULT(wd_client_device(alice, small, 1, &needed), WD_RESULT_BUFFER_TOO_SMALL);
    buf = malloc(needed);
    CHECK_RESULT(wd_client_device(alice, buf, needed, &needed), WD_RESULT_OK);
    CHECK(strlen(buf) + 1 == needed && strlen(buf) > 0);
    free(buf);

    CHECK_RESULT(wd_conversation_disconnect(conv), WD_RESULT_OK);
    wd_conversation_free(conv);
done:
    wd_outgoing_invite_free(out);
    wd_incoming_invite_free(in);
    CHECK_RESULT(wd_client_set_invite_callback(bob, NULL, NULL, NULL), WD_RESULT_OK);
    recorder_destroy(&out_rec);
    recorder_destroy(&bob_rec);
}

static void test_after_disconnect(wd_client *alice)
{
    CHECK_RESULT(wd_client_disconnect(alice), WD_RESULT_OK);
    wd_connection_state st = 77;
    CHECK_RESULT(wd_client_connection_state(alice, &st), WD_RESULT_OK);
    CHECK(st == WD_CONNECTION_STATE_DISCONNECTED);
    wd_outgoing_invite *out = (wd_outgoing_invite *)&out;
    CHECK_RESULT(wd_client_invite(alice, "{\"participantId\":\"bob\"}", &out),
                 WD_RESULT_NOT_CONNECTED);
    CHECK(out == (wd_outgoing_invite *)&out);
    /* Bad options are still reported as such. */
    check_bad_options(alice, "{\"participantId\":\"bob\",\"lifetimeMs\":true}", "lifetimeMs");
    CHECK_RESULT(wd_client_disconnect(alice), WD_RESULT_OK); /* again: nothing */
    const char *uid = NULL;
    CHECK_RESULT(wd_client_uid(alice, &uid), WD_RESULT_OK);
    CHECK(uid != NULL && strcmp(uid, "alice") == 0);
}

int main(void)
{
    test_config();
    test_tokens();
    wd_client *alice = connect_as("alice", NULL);
    wd_client *bob = connect_as("bob", NULL);
    wd_connection_state st = 77;
    CHECK_RESULT(wd_client_connection_state(alice, &st), WD_RESULT_OK);
    CHECK(st == WD_CONNECTION_STATE_CONNECTED);
    test_options(alice);
    test_invite_args(alice, bob);
    test_after_disconnect(alice);
    wd_client_free(alice);
    wd_client_free(bob);
    return check_summary("test_args");
}
