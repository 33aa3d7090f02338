/* test_push.c - ringing a device that is asleep, through the C ABI, against
 * real wd-signal servers with a push gateway (tests/support/push_gateway.py)
 * that records every push (run-tests.sh starts them):
 *
 * - wd_client_start returns at once; the connection callback reports the
 *   state; an unreachable server or a refused token ends DISCONNECTED;
 *   wd_client_uid before the first connection is INVALID_STATE;
 * - wd_client_register_push (before connecting, too) → REGISTERED, and the
 *   key gets pushes once its device is gone; unregister → UNREGISTERED and
 *   no more pushes; a server without pushes → REGISTRATION_FAILED; a key
 *   the gateway rejects → REJECTED; bad options → INVALID_ARGUMENT naming
 *   the field;
 * - the main flow: the pushed payload handed to a new client made with
 *   wd_client_start + wd_client_handle_push is readable at once, then
 *   CONFIRMED; accepted before or after the confirmation, both sides end
 *   accepted; the invite callback never fires for it;
 * - woken too late: canceled, answered on another device, expired, caller
 *   gone, each ends the handle once with the event it would have had;
 * - invite_ended pushes: end the live handle (the same pointer), or give a
 *   missed-call handle, already ended, that hears its event once;
 * - the same invite over the socket and by push: one handle;
 * - malformed, foreign, oversized, NULL payloads: a typed error, nothing
 *   changes;
 * - wd_client_handle_push from inside a callback;
 * - handles from wd_client_handle_push outlive wd_client_free and hear
 *   their outcome once, in every dispatch mode;
 * - a dead push gateway leaves invites to live devices unaffected;
 * - a device registered on one node, woken on another, through Redis.
 *
 * Every uid carries this process's id: registrations live on the server,
 * and the sanitizer and valgrind runs share it. */
#include "helpers.h"

#include <unistd.h>

#define APP_ID "com.example.app.voip"
#define NOWHERE "ws://127.0.0.1:9" /* nothing listens there */
#define MAX_PUSH_EVENTS 8

static const char *const MODES[] = {"thread", "io", "manual"};

static char ALICE[64];

static const char *env_or_exit(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "%s is not set (run the tests with make test)\n", name);
        exit(2);
    }
    return v;
}

/* The --dev server that pushes through the test gateway. */
static const char *push_url(void) { return env_or_exit("WD_PUSH_URL"); }

/* "<name>_<pid>" into buf. */
static void make_uid(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s_%ld", name, (long)getpid());
}

/* ---- clients ------------------------------------------------------------- */

/* A client of `uid` made with wd_client_start (returns at once). */
static wd_client *start_at(const char *url, const char *uid, const char *extra)
{
    char config[512];
    client_config(config, sizeof config, url, uid, extra);
    wd_client *client = NULL;
    CHECK_RESULT(wd_client_start(config, &client), WD_RESULT_OK);
    if (client == NULL) {
        fprintf(stderr, "wd_client_start failed for %s\n", uid);
        exit(2);
    }
    return client;
}

static void on_state(void *user_data, wd_client *client, wd_connection_state state)
{
    (void)client;
    recorder_push(user_data, (int)state);
}

/* Whether the recorder of connection states has seen `state` by now or
 * within WAIT_MS. */
static bool wait_state(struct recorder *r, wd_connection_state state)
{
    for (int seen = 0; recorder_wait(r, &r->n, seen + 1); seen++)
        if (recorder_kind(r, seen) == (int)state)
            return true;
    return false;
}

/* ---- push events --------------------------------------------------------- */

struct push_log {
    struct recorder rec; /* kinds */
    char app_id[MAX_PUSH_EVENTS][64];
    char push_key[MAX_PUSH_EVENTS][64];
    char message[MAX_PUSH_EVENTS][256];
    bool has_message[MAX_PUSH_EVENTS];
};

static void on_push(void *user_data, wd_client *client, const wd_push_event *event)
{
    (void)client;
    struct push_log *log = user_data;
    pthread_mutex_lock(&log->rec.mu);
    int i = log->rec.n;
    if (i < MAX_PUSH_EVENTS) {
        snprintf(log->app_id[i], sizeof log->app_id[i], "%s",
                 event->app_id ? event->app_id : "(null)");
        snprintf(log->push_key[i], sizeof log->push_key[i], "%s",
                 event->push_key ? event->push_key : "(null)");
        log->has_message[i] = event->message != NULL;
        snprintf(log->message[i], sizeof log->message[i], "%s",
                 event->message ? event->message : "");
    }
    pthread_mutex_unlock(&log->rec.mu);
    recorder_push(&log->rec, (int)event->kind);
}

static void push_log_init(struct push_log *log)
{
    memset(log, 0, sizeof *log);
    recorder_init(&log->rec);
}

/* Waits for the push log's event number `i` (0-based); checks its kind
 * and key. */
static void expect_push_event(struct push_log *log, int i, wd_push_event_kind kind,
                              const char *key)
{
    if (!CHECK(recorder_wait(&log->rec, &log->rec.n, i + 1)))
        return;
    if (!CHECK(recorder_kind(&log->rec, i) == (int)kind))
        fprintf(stderr, "    push event %d is %d, expected %d\n", i, recorder_kind(&log->rec, i),
                (int)kind);
    pthread_mutex_lock(&log->rec.mu);
    CHECK(strcmp(log->app_id[i], APP_ID) == 0);
    if (!CHECK(strcmp(log->push_key[i], key) == 0))
        fprintf(stderr, "    push key %s, expected %s\n", log->push_key[i], key);
    pthread_mutex_unlock(&log->rec.mu);
}

static void register_push(wd_client *client, const char *key)
{
    char options[256];
    snprintf(options, sizeof options,
             "{\"provider\":\"apns\",\"appId\":\"" APP_ID "\",\"pushKey\":\"%s\"}", key);
    CHECK_RESULT(wd_client_register_push(client, options), WD_RESULT_OK);
}

/* A device of `uid` registers `key` (right after wd_client_start, before
 * it is connected), hears REGISTERED, and goes away: from now on the key
 * gets the pushes of `uid`'s invites. */
static void register_and_leave(const char *url, const char *uid, const char *key)
{
    struct push_log log;
    push_log_init(&log);
    wd_client *phone = start_at(url, uid, NULL);
    CHECK_RESULT(wd_client_set_push_callback(phone, on_push, &log, recorder_release),
                 WD_RESULT_OK);
    register_push(phone, key);
    expect_push_event(&log, 0, WD_PUSH_EVENT_KIND_REGISTERED, key);
    CHECK(!log.has_message[0]);
    wd_client_free(phone);
    CHECK(recorder_get(&log.rec, &log.rec.releases) == 1);
    recorder_destroy(&log.rec);
}

/* ---- the gateway's record of pushes --------------------------------------- */

/* The CONTENT of the first line "KEY<TAB>TYPE<TAB>CONTENT" of the gateway's
 * log whose CONTENT holds `needle` (malloc'd), or NULL. */
static char *find_push(const char *key, const char *type, const char *needle)
{
    FILE *f = fopen(env_or_exit("WD_GATEWAY_LOG"), "r");
    if (f == NULL)
        return NULL;
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t klen = strlen(key), tlen = strlen(type);
    while (found == NULL && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n') /* still being written */
            break;
        line[len - 1] = '\0';
        if (strncmp(line, key, klen) != 0 || line[klen] != '\t')
            continue;
        const char *rest = line + klen + 1;
        if (strncmp(rest, type, tlen) != 0 || rest[tlen] != '\t')
            continue;
        const char *content = rest + tlen + 1;
        if (strstr(content, needle))
            found = strdup(content);
    }
    free(line);
    fclose(f);
    return found;
}

/* Waits (at most WAIT_MS) until the gateway has recorded a push of `type`
 * ("wd.invite" or "wd.invite_ended") to `key` about the conversation
 * `conversation_id`; returns its payload (malloc'd), or NULL. The gateway
 * appends to a file: it is read again until the line is there. */
static char *wait_push(const char *key, const char *type, const char *conversation_id)
{
    char needle[160];
    snprintf(needle, sizeof needle, "\"conversation_id\":\"%s\"", conversation_id);
    struct timespec until = deadline_in(WAIT_MS), now, pause = {0, 5 * 1000000L};
    for (;;) {
        char *found = find_push(key, type, needle);
        if (found)
            return found;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec > until.tv_sec ||
            (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec)) {
            fprintf(stderr, "no %s push to %s for %s\n", type, key, conversation_id);
            return NULL;
        }
        nanosleep(&pause, NULL);
    }
}

/* `content` as an FCM data message carries it: a JSON string field. */
static char *as_fcm(const char *content)
{
    size_t n = strlen(content);
    char *out = malloc(2 * n + 32);
    char *w = out + sprintf(out, "{\"wd_push\":\"");
    for (const char *c = content; *c; c++) {
        if (*c == '"' || *c == '\\')
            *w++ = '\\';
        *w++ = *c;
    }
    strcpy(w, "\",\"priority\":\"high\"}");
    return out;
}

/* `content` inside a Matrix push gateway notification. */
static char *as_notification(const char *content)
{
    size_t n = strlen(content) + 64;
    char *out = malloc(n);
    snprintf(out, n, "{\"notification\":{\"prio\":\"high\",\"content\":%s}}", content);
    return out;
}

/* ---- invites --------------------------------------------------------------- */

static const char *conversation_of(wd_outgoing_invite *out)
{
    const char *id = "";
    CHECK_RESULT(wd_outgoing_invite_conversation_id(out, &id), WD_RESULT_OK);
    return id;
}

static wd_incoming_status status_of(wd_incoming_invite *in)
{
    wd_incoming_status st = 99;
    CHECK_RESULT(wd_incoming_invite_status(in, &st), WD_RESULT_OK);
    return st;
}

static bool confirmed(wd_incoming_invite *in)
{
    bool yes = false;
    CHECK_RESULT(wd_incoming_invite_confirmed(in, &yes), WD_RESULT_OK);
    return yes;
}

static void check_from(wd_incoming_invite *in, const char *uid)
{
    const char *from = NULL;
    CHECK_RESULT(wd_incoming_invite_from(in, &from), WD_RESULT_OK);
    if (!CHECK(from && strcmp(from, uid) == 0))
        fprintf(stderr, "    from %s, expected %s\n", from ? from : "(null)", uid);
}

/* The handle a push turns into; NULL (after a failed check) if none. */
static wd_incoming_invite *handle_push(wd_client *client, const char *payload)
{
    wd_incoming_invite *in = NULL;
    CHECK_RESULT(wd_client_handle_push(client, payload, &in), WD_RESULT_OK);
    CHECK(in != NULL);
    return in;
}

/* Waits until `rec` holds `count` events; then checks they are `kinds`. */
static void expect_kinds(struct recorder *rec, const int *kinds, int count)
{
    WAIT_EVENTS(rec, count);
    for (int i = 0; i < count; i++)
        if (!CHECK(recorder_kind(rec, i) == kinds[i]))
            fprintf(stderr, "    event %d is %d, expected %d\n", i, recorder_kind(rec, i), kinds[i]);
}

/* The terminal event of a woken invite: CONFIRMED may come first (it was
 * still ringing when fetched), then exactly one terminal `kind`. Checks
 * the reasons. */
static void expect_ended(wd_incoming_invite *in, struct recorder *rec, wd_incoming_event_kind kind,
                         wd_incoming_status status, wd_cancel_reason cancel,
                         wd_failure_reason failure)
{
    WAIT_EVENTS(rec, 1);
    int first = recorder_kind(rec, 0) == WD_INCOMING_EVENT_KIND_CONFIRMED ? 1 : 0;
    WAIT_EVENTS(rec, first + 1);
    if (!CHECK(recorder_kind(rec, first) == (int)kind))
        fprintf(stderr, "    ended %d, expected %d\n", recorder_kind(rec, first), (int)kind);
    CHECK(status_of(in) == status);
    wd_cancel_reason c = 99;
    CHECK_RESULT(wd_incoming_invite_cancel_reason(in, &c), WD_RESULT_OK);
    CHECK(c == cancel);
    wd_failure_reason f = 99;
    CHECK_RESULT(wd_incoming_invite_failure_reason(in, &f), WD_RESULT_OK);
    CHECK(f == failure);
}

/* ---- wd_client_start ------------------------------------------------------ */

static void test_start(void)
{
    char bob[64];
    make_uid(bob, sizeof bob, "start");

    /* Unreachable, no reconnection: CONNECTING, then DISCONNECTED; never
     * a result. The uid is not known before a connection. */
    struct recorder states;
    recorder_init(&states);
    wd_client *lost = start_at(NOWHERE, bob, ",\"reconnect\":false");
    const char *uid = "untouched";
    CHECK_RESULT(wd_client_uid(lost, &uid), WD_RESULT_INVALID_STATE);
    CHECK(strcmp(uid, "untouched") == 0);
    CHECK_RESULT(wd_client_set_connection_callback(lost, on_state, &states, recorder_release),
                 WD_RESULT_OK);
    CHECK(wait_state(&states, WD_CONNECTION_STATE_DISCONNECTED));
    CHECK(recorder_kind(&states, 0) == WD_CONNECTION_STATE_CONNECTING ||
          recorder_kind(&states, 0) == WD_CONNECTION_STATE_DISCONNECTED);
    CHECK_RESULT(wd_client_uid(lost, &uid), WD_RESULT_INVALID_STATE);
    wd_client_free(lost);
    CHECK(recorder_get(&states, &states.releases) == 1);
    recorder_destroy(&states);

    /* A refused token: it gives up (DISCONNECTED) even with reconnection. */
    recorder_init(&states);
    char config[512];
    snprintf(config, sizeof config, "{\"url\":\"%s\",\"token\":\"dev:%s\"}",
             env_or_exit("WD_SECRET_URL"), bob);
    wd_client *refused = NULL;
    CHECK_RESULT(wd_client_start(config, &refused), WD_RESULT_OK);
    if (refused) {
        CHECK_RESULT(wd_client_set_connection_callback(refused, on_state, &states,
                                                       recorder_release),
                     WD_RESULT_OK);
        CHECK(wait_state(&states, WD_CONNECTION_STATE_DISCONNECTED));
        wd_client_free(refused);
    }
    recorder_destroy(&states);

    /* A reachable server: CONNECTED, and the uid is known. */
    recorder_init(&states);
    wd_client *ok = start_at(push_url(), bob, NULL);
    CHECK_RESULT(wd_client_set_connection_callback(ok, on_state, &states, recorder_release),
                 WD_RESULT_OK);
    CHECK(wait_state(&states, WD_CONNECTION_STATE_CONNECTED));
    CHECK_RESULT(wd_client_uid(ok, &uid), WD_RESULT_OK);
    CHECK(strcmp(uid, bob) == 0);
    wd_client_free(ok);
    recorder_destroy(&states);

    /* Bad arguments. */
    wd_client *none = (wd_client *)0x1;
    CHECK_RESULT(wd_client_start(NULL, &none), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_start("{\"url\":\"ws://127.0.0.1:9\",\"token\":\"dev:x\"}", NULL),
                 WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_start("{\"url\":\"ws://127.0.0.1:9\"}", &none),
                 WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("token");
    CHECK_RESULT(wd_client_start("{\"url\":7,\"token\":\"dev:x\"}", &none),
                 WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("url");
    CHECK_RESULT(wd_client_start("not json", &none), WD_RESULT_INVALID_ARGUMENT);
    CHECK(none == (wd_client *)0x1);
}

/* ---- registrations --------------------------------------------------------- */

static void test_registration_arguments(void)
{
    char bob[64];
    make_uid(bob, sizeof bob, "args");
    wd_client *c = start_at(NOWHERE, bob, NULL);
    CHECK_RESULT(wd_client_register_push(NULL, "{}"), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_register_push(c, NULL), WD_RESULT_NULL_PARAMETER);
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"provider\":\"pigeon\",\"appId\":\"a\",\"pushKey\":\"k\"}", "provider"},
        {"{\"provider\":7,\"appId\":\"a\",\"pushKey\":\"k\"}", "provider"},
        {"{\"appId\":\"a\",\"pushKey\":\"k\"}", "provider"},
        {"{\"provider\":\"apns\",\"pushKey\":\"k\"}", "appId"},
        {"{\"provider\":\"apns\",\"appId\":\"\",\"pushKey\":\"k\"}", "appId"},
        {"{\"provider\":\"apns\",\"appId\":[],\"pushKey\":\"k\"}", "appId"},
        {"{\"provider\":\"apns\",\"appId\":\"a\"}", "pushKey"},
        {"{\"provider\":\"apns\",\"appId\":\"a\",\"pushKey\":1}", "pushKey"},
        {"{\"provider\":\"apns\",\"appId\":\"a\",\"pushKey\":\"k\",\"data\":[1]}", "data"},
        {"{\"provider\":\"apns\",\"appId\":\"a\",\"pushKey\":\"k\",\"colour\":\"red\"}", "colour"},
        {"[\"apns\"]", "object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RESULT(wd_client_register_push(c, bad[i].json), WD_RESULT_INVALID_ARGUMENT);
        const char *err = check_last_error();
        if (!CHECK(strstr(err, bad[i].field) != NULL))
            fprintf(stderr, "    %s: last error \"%s\" does not name %s\n", bad[i].json, err,
                    bad[i].field);
    }
    char long_key[700];
    memset(long_key, 'k', 600);
    long_key[600] = '\0';
    char options[800];
    snprintf(options, sizeof options,
             "{\"provider\":\"fcm\",\"appId\":\"a\",\"pushKey\":\"%s\"}", long_key);
    CHECK_RESULT(wd_client_register_push(c, options), WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("pushKey");
    CHECK_RESULT(wd_client_register_push(c, "{\"provider\":\"webpush\",\"appId\":\"a\","
                                            "\"pushKey\":\"k\",\"data\":{\"endpoint\":\"e\"}}"),
                 WD_RESULT_OK);

    CHECK_RESULT(wd_client_unregister_push(NULL, "a", "k"), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_unregister_push(c, NULL, "k"), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_unregister_push(c, "a", NULL), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_unregister_push(c, "", "k"), WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("appId");
    CHECK_RESULT(wd_client_unregister_push(c, "a", long_key), WD_RESULT_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_HAS("pushKey");
    CHECK_RESULT(wd_client_unregister_push(c, "a", "k"), WD_RESULT_OK);

    CHECK_RESULT(wd_client_set_push_callback(NULL, on_push, NULL, NULL),
                 WD_RESULT_NULL_PARAMETER);
    /* Replaced, cleared, and freed with the client: one release each. */
    struct push_log first, second;
    push_log_init(&first);
    push_log_init(&second);
    CHECK_RESULT(wd_client_set_push_callback(c, on_push, &first, recorder_release), WD_RESULT_OK);
    CHECK_RESULT(wd_client_set_push_callback(c, on_push, &second, recorder_release),
                 WD_RESULT_OK);
    CHECK(recorder_get(&first.rec, &first.rec.releases) == 1);
    CHECK_RESULT(wd_client_set_push_callback(c, NULL, NULL, NULL), WD_RESULT_OK);
    CHECK(recorder_get(&second.rec, &second.rec.releases) == 1);
    CHECK_RESULT(wd_client_set_push_callback(c, on_push, &first, recorder_release), WD_RESULT_OK);
    wd_client_free(c);
    CHECK(recorder_get(&first.rec, &first.rec.releases) == 2);
    CHECK(recorder_get(&first.rec, &first.rec.n) == 0);
    recorder_destroy(&first.rec);
    recorder_destroy(&second.rec);
}

/* Registered, then unregistered: the key gets no more pushes, and an
 * invite to a user with neither a device nor a registration fails
 * offline. */
static void test_register_unregister(wd_client *alice)
{
    char bob[64], key[96];
    make_uid(bob, sizeof bob, "unreg");
    snprintf(key, sizeof key, "key-%s", bob);
    struct push_log log;
    push_log_init(&log);
    wd_client *c = connect_to(push_url(), bob, NULL);
    CHECK_RESULT(wd_client_set_push_callback(c, on_push, &log, recorder_release), WD_RESULT_OK);
    register_push(c, key);
    expect_push_event(&log, 0, WD_PUSH_EVENT_KIND_REGISTERED, key);
    CHECK_RESULT(wd_client_unregister_push(c, APP_ID, key), WD_RESULT_OK);
    expect_push_event(&log, 1, WD_PUSH_EVENT_KIND_UNREGISTERED, key);
    wd_client_free(c);
    CHECK(recorder_get(&log.rec, &log.rec.n) == 2);
    recorder_destroy(&log.rec);

    struct recorder rec;
    recorder_init(&rec);
    wd_outgoing_invite *out = invite(alice, bob, NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &rec, NULL),
                 WD_RESULT_OK);
    CHECK(wait_outgoing_outcome(&rec) == WD_OUTGOING_EVENT_KIND_FAILED);
    wd_failure_reason why = WD_FAILURE_REASON_NONE;
    CHECK_RESULT(wd_outgoing_invite_failure_reason(out, &why), WD_RESULT_OK);
    CHECK(why == WD_FAILURE_REASON_OFFLINE);
    wd_outgoing_invite_free(out);
    recorder_destroy(&rec);
}

/* A server that sends no pushes refuses the registration, saying why. */
static void test_registration_failed(void)
{
    char bob[64], key[96];
    make_uid(bob, sizeof bob, "nopush");
    snprintf(key, sizeof key, "key-%s", bob);
    struct push_log log;
    push_log_init(&log);
    wd_client *c = connect_as(bob, NULL);
    CHECK_RESULT(wd_client_set_push_callback(c, on_push, &log, recorder_release), WD_RESULT_OK);
    register_push(c, key);
    expect_push_event(&log, 0, WD_PUSH_EVENT_KIND_REGISTRATION_FAILED, key);
    pthread_mutex_lock(&log.rec.mu);
    CHECK(log.has_message[0] && log.message[0][0] != '\0');
    pthread_mutex_unlock(&log.rec.mu);
    wd_client_free(c);
    recorder_destroy(&log.rec);
}

/* A key the gateway rejects (run-tests.sh starts it with --reject
 * dead-key): the device holding that registration hears REJECTED. The
 * registration is moved to a second device of the user, which leaves, so
 * that the key is pushed while the first is still connected. */
static void test_rejected_key(wd_client *alice)
{
    char bob[64];
    make_uid(bob, sizeof bob, "rejected");
    struct push_log log;
    push_log_init(&log);
    struct recorder invites;
    recorder_init(&invites);
    wd_client *laptop = connect_to(push_url(), bob, NULL);
    CHECK_RESULT(wd_client_set_push_callback(laptop, on_push, &log, recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_client_set_invite_callback(laptop, recorder_on_invite, &invites,
                                               recorder_release),
                 WD_RESULT_OK);
    register_push(laptop, "dead-key");
    expect_push_event(&log, 0, WD_PUSH_EVENT_KIND_REGISTERED, "dead-key");
    register_and_leave(push_url(), bob, "dead-key");

    wd_outgoing_invite *out = invite(alice, bob, NULL);
    wd_incoming_invite *in = recorder_next_invite(&invites);
    CHECK(in != NULL);
    expect_push_event(&log, 1, WD_PUSH_EVENT_KIND_REJECTED, "dead-key");
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_OK);
    wd_outgoing_invite_free(out);
    wd_incoming_invite_free(in);
    wd_client_free(laptop);
    CHECK(recorder_get(&log.rec, &log.rec.n) == 2);
    recorder_destroy(&log.rec);
    recorder_destroy(&invites);
}

/* ---- the main flow ---------------------------------------------------------- */

/* Bob's phone registered and went away; Alice invites Bob; the push is
 * handed to a new client. `early`: Bob accepts before the confirmation. */
static void test_main_flow(wd_client *alice, bool early)
{
    char bob[64], key[96];
    make_uid(bob, sizeof bob, early ? "early" : "late");
    snprintf(key, sizeof key, "key-%s", bob);
    register_and_leave(push_url(), bob, key);

    struct recorder out_rec;
    recorder_init(&out_rec);
    wd_outgoing_invite *out =
        invite(alice, bob, ",\"userData\":\"Video call from Alice\",\"offer\":\"v=0 offer\"");
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    char *content = wait_push(key, "wd.invite", conversation_of(out));
    if (!CHECK(content != NULL)) {
        wd_outgoing_invite_cancel(out);
        wd_outgoing_invite_free(out);
        recorder_destroy(&out_rec);
        return;
    }
    /* Delivered by push: it rings, it did not fail offline. */
    wd_outgoing_status ost = 99;
    CHECK_RESULT(wd_outgoing_invite_status(out, &ost), WD_RESULT_OK);
    CHECK(ost == WD_OUTGOING_STATUS_PENDING);

    struct recorder invites, rec;
    recorder_init(&invites);
    recorder_init(&rec);
    wd_client *woken = start_at(push_url(), bob, NULL);
    CHECK_RESULT(wd_client_set_invite_callback(woken, recorder_on_invite, &invites,
                                               recorder_release),
                 WD_RESULT_OK);
    char *payload = early ? strdup(content) : as_notification(content);
    wd_incoming_invite *in = handle_push(woken, payload);
    if (in == NULL)
        goto done;
    /* Readable at once, from the push alone. */
    check_from(in, ALICE);
    const char *conv = NULL, *user_data = NULL;
    CHECK_RESULT(wd_incoming_invite_conversation_id(in, &conv), WD_RESULT_OK);
    CHECK(conv && strcmp(conv, conversation_of(out)) == 0);
    CHECK_RESULT(wd_incoming_invite_user_data(in, &user_data), WD_RESULT_OK);
    CHECK(user_data && strcmp(user_data, "Video call from Alice") == 0);
    wd_mode mode = 99;
    CHECK_RESULT(wd_incoming_invite_mode(in, &mode), WD_RESULT_OK);
    CHECK(mode == WD_MODE_P2P);
    CHECK(status_of(in) == WD_INCOMING_STATUS_PENDING);
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rec, NULL),
                 WD_RESULT_OK);

    if (!early) {
        /* Confirmed: the offer, fetched from the server, is readable. */
        WAIT_EVENTS(&rec, 1);
        CHECK(recorder_kind(&rec, 0) == WD_INCOMING_EVENT_KIND_CONFIRMED);
        CHECK(confirmed(in));
        const char *offer = NULL;
        CHECK_RESULT(wd_incoming_invite_offer(in, &offer), WD_RESULT_OK);
        CHECK(offer && strcmp(offer, "v=0 offer") == 0);
        /* The string read before the confirmation is still valid. */
        CHECK(strcmp(user_data, "Video call from Alice") == 0);
    }
    CHECK_RESULT(wd_incoming_invite_accept(in, "v=0 answer", NULL), WD_RESULT_OK);
    CHECK(status_of(in) == WD_INCOMING_STATUS_ACCEPTING ||
          status_of(in) == WD_INCOMING_STATUS_ACCEPTED);

    CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_ACCEPTED);
    char answer[64];
    size_t needed = 0;
    CHECK_RESULT(wd_outgoing_invite_answer(out, answer, sizeof answer, &needed), WD_RESULT_OK);
    CHECK(strcmp(answer, "v=0 answer") == 0);
    static const int confirmed_then_accepted[] = {WD_INCOMING_EVENT_KIND_CONFIRMED,
                                                  WD_INCOMING_EVENT_KIND_ACCEPTED};
    expect_kinds(&rec, confirmed_then_accepted, 2);
    CHECK(status_of(in) == WD_INCOMING_STATUS_ACCEPTED);
    CHECK(confirmed(in));
    wd_conversation *c = NULL;
    CHECK_RESULT(wd_incoming_invite_conversation(in, &c), WD_RESULT_OK);
    if (c) {
        const char *id = NULL;
        CHECK_RESULT(wd_conversation_id(c, &id), WD_RESULT_OK);
        CHECK(id && strcmp(id, conversation_of(out)) == 0);
        wd_conversation_free(c);
    }
    /* The invite came by push: the invite callback never fired. */
    CHECK(recorder_get(&invites, &invites.n_invites) == 0);
    CHECK(recorder_get(&rec, &rec.n) == 2);
    wd_incoming_invite_free(in);
done:
    free(payload);
    free(content);
    wd_client_free(woken);
    wd_outgoing_invite_free(out);
    recorder_destroy(&invites);
    recorder_destroy(&rec);
    recorder_destroy(&out_rec);
}

/* ---- woken too late ----------------------------------------------------------- */

enum too_late { CANCELED, ANSWERED_ELSEWHERE, EXPIRED, CALLER_GONE };

/* The invite ends while Bob's phone sleeps; the phone then wakes with the
 * `invite` push: its handle ends as the invite did, once. The
 * `invite_ended` push handed afterwards gives the same handle, and no
 * second event. */
static void test_too_late(wd_client *alice, enum too_late how)
{
    static const char *const names[] = {"canceled", "elsewhere", "expired", "gone"};
    char bob[64], key[96];
    make_uid(bob, sizeof bob, names[how]);
    snprintf(key, sizeof key, "key-%s", bob);
    register_and_leave(push_url(), bob, key);

    struct recorder out_rec, laptop_invites;
    recorder_init(&out_rec);
    recorder_init(&laptop_invites);
    wd_client *laptop = NULL, *caller = alice;
    if (how == ANSWERED_ELSEWHERE) {
        laptop = connect_to(push_url(), bob, NULL);
        CHECK_RESULT(wd_client_set_invite_callback(laptop, recorder_on_invite, &laptop_invites,
                                                   recorder_release),
                     WD_RESULT_OK);
    }
    if (how == CALLER_GONE)
        caller = connect_to(push_url(), ALICE, NULL);
    wd_outgoing_invite *out = invite(caller, bob, how == EXPIRED ? ",\"lifetimeMs\":1000" : NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    char conv[128];
    snprintf(conv, sizeof conv, "%s", conversation_of(out));
    char *content = wait_push(key, "wd.invite", conv);

    wd_incoming_event_kind kind = WD_INCOMING_EVENT_KIND_CANCELED;
    wd_incoming_status status = WD_INCOMING_STATUS_CANCELED;
    wd_cancel_reason cancel = WD_CANCEL_REASON_NONE;
    wd_failure_reason failure = WD_FAILURE_REASON_NONE;
    switch (how) {
    case CANCELED:
        CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_OK);
        cancel = WD_CANCEL_REASON_CALLER_CANCELED;
        break;
    case ANSWERED_ELSEWHERE: {
        wd_incoming_invite *other = recorder_next_invite(&laptop_invites);
        if (CHECK(other != NULL)) {
            CHECK_RESULT(wd_incoming_invite_accept(other, NULL, NULL), WD_RESULT_OK);
            CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_ACCEPTED);
            wd_incoming_invite_free(other);
        }
        cancel = WD_CANCEL_REASON_ANSWERED_ELSEWHERE;
        break;
    }
    case EXPIRED:
        CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_FAILED);
        kind = WD_INCOMING_EVENT_KIND_FAILED;
        status = WD_INCOMING_STATUS_FAILED;
        failure = WD_FAILURE_REASON_TIMEOUT;
        break;
    case CALLER_GONE:
        wd_outgoing_invite_free(out);
        out = NULL;
        wd_client_free(caller);
        kind = WD_INCOMING_EVENT_KIND_FAILED;
        status = WD_INCOMING_STATUS_FAILED;
        failure = WD_FAILURE_REASON_CALLER_GONE;
        break;
    }
    /* The server recorded the end: it pushed invite_ended to the phone. */
    char *ended = wait_push(key, "wd.invite_ended", conv);
    if (!CHECK(content != NULL && ended != NULL))
        goto done;

    struct recorder invites, rec;
    recorder_init(&invites);
    recorder_init(&rec);
    wd_client *woken = start_at(push_url(), bob, NULL);
    CHECK_RESULT(wd_client_set_invite_callback(woken, recorder_on_invite, &invites,
                                               recorder_release),
                 WD_RESULT_OK);
    char *fcm = as_fcm(content);
    wd_incoming_invite *in = handle_push(woken, fcm);
    free(fcm);
    if (in) {
        check_from(in, ALICE);
        CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rec, NULL),
                     WD_RESULT_OK);
        expect_ended(in, &rec, kind, status, cancel, failure);
        int heard = recorder_get(&rec, &rec.n);
        /* The invite_ended push: the same handle, nothing new. */
        wd_incoming_invite *again = handle_push(woken, ended);
        CHECK(again == in);
        wd_incoming_invite_free(again);
        /* After a round trip with the server (a registration answered),
         * still one event: the invite ended before it was fetched. */
        struct push_log log;
        push_log_init(&log);
        CHECK_RESULT(wd_client_set_push_callback(woken, on_push, &log, recorder_release),
                     WD_RESULT_OK);
        register_push(woken, key);
        expect_push_event(&log, 0, WD_PUSH_EVENT_KIND_REGISTERED, key);
        CHECK(recorder_get(&rec, &rec.n) == heard);
        CHECK(heard == 1);
        wd_incoming_invite_free(in);
        wd_client_free(woken);
        woken = NULL;
        recorder_destroy(&log.rec);
    }
    CHECK(recorder_get(&invites, &invites.n_invites) == 0);
    if (woken)
        wd_client_free(woken);
    recorder_destroy(&invites);
    recorder_destroy(&rec);
done:
    free(content);
    free(ended);
    if (out)
        wd_outgoing_invite_free(out);
    if (laptop)
        wd_client_free(laptop);
    recorder_destroy(&out_rec);
    recorder_destroy(&laptop_invites);
}

/* ---- invite_ended pushes and bad payloads, without any network ------------------ */

static char *payload_invite(const char *invite_id, const char *from, const char *extra)
{
    char *p = malloc(512);
    snprintf(p, 512,
             "{\"wd\":1,\"type\":\"invite\",\"invite_id\":\"%s\",\"conversation_id\":\"c-%s\","
             "\"from\":\"%s\",\"device\":\"n1.1\",\"mode\":\"server\",\"time_left_ms\":60000,"
             "\"sent_at_ms\":1796400000000%s}",
             invite_id, invite_id, from, extra ? extra : "");
    return p;
}

static char *payload_ended(const char *invite_id, const char *from, const char *outcome)
{
    char *p = malloc(512);
    snprintf(p, 512,
             "{\"wd\":1,\"type\":\"invite_ended\",\"invite_id\":\"%s\",\"conversation_id\":"
             "\"c-%s\",\"from\":\"%s\",\"outcome\":%s}",
             invite_id, invite_id, from, outcome);
    return p;
}

/* A missed call: an invite_ended push for an invite this client never
 * held gives a handle already ended, whose callback hears it once. */
static void expect_missed(wd_client *c, const char *invite_id, const char *outcome,
                          wd_incoming_event_kind kind, wd_incoming_status status,
                          wd_cancel_reason cancel, wd_failure_reason failure)
{
    char *p = payload_ended(invite_id, "alice", outcome);
    wd_incoming_invite *in = handle_push(c, p);
    free(p);
    if (!in)
        return;
    CHECK(status_of(in) == status);
    check_from(in, "alice");
    CHECK(!confirmed(in));
    struct recorder rec;
    recorder_init(&rec);
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rec, recorder_release),
                 WD_RESULT_OK);
    expect_ended(in, &rec, kind, status, cancel, failure);
    /* The invite push for it, arriving late, does not ring: the same
     * handle, ended. */
    p = payload_invite(invite_id, "alice", NULL);
    wd_incoming_invite *late = handle_push(c, p);
    free(p);
    CHECK(late == in);
    CHECK(status_of(late) == status);
    wd_incoming_invite_free(late);
    CHECK(recorder_get(&rec, &rec.n) == 1);
    wd_incoming_invite_free(in);
    /* Released once the callback (which may still be returning) is done. */
    WAIT_RELEASES(&rec, 1);
    recorder_destroy(&rec);
}

static void test_without_network(void)
{
    char bob[64];
    make_uid(bob, sizeof bob, "offline");
    struct recorder invites, rec;
    recorder_init(&invites);
    recorder_init(&rec);
    wd_client *c = start_at(NOWHERE, bob, NULL);
    CHECK_RESULT(wd_client_set_invite_callback(c, recorder_on_invite, &invites, recorder_release),
                 WD_RESULT_OK);

    /* Readable at once, pending, not confirmed, no offer yet. */
    char *p = payload_invite("i-1", "alice", ",\"user_data\":\"hi\"");
    wd_incoming_invite *in = handle_push(c, p);
    if (!in) {
        free(p);
        wd_client_free(c);
        return;
    }
    check_from(in, "alice");
    CHECK(status_of(in) == WD_INCOMING_STATUS_PENDING);
    CHECK(!confirmed(in));
    wd_mode mode = 99;
    CHECK_RESULT(wd_incoming_invite_mode(in, &mode), WD_RESULT_OK);
    CHECK(mode == WD_MODE_SERVER);
    const char *s = "untouched";
    CHECK_RESULT(wd_incoming_invite_offer(in, &s), WD_RESULT_OK);
    CHECK(s == NULL);
    CHECK_RESULT(wd_incoming_invite_user_data(in, &s), WD_RESULT_OK);
    CHECK(s && strcmp(s, "hi") == 0);
    CHECK_RESULT(wd_incoming_invite_conversation_id(in, &s), WD_RESULT_OK);
    CHECK(s && strcmp(s, "c-i-1") == 0);
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rec, recorder_release),
                 WD_RESULT_OK);
    /* The same push again: the same handle. */
    wd_incoming_invite *again = handle_push(c, p);
    CHECK(again == in);
    wd_incoming_invite_free(again);
    free(p);

    /* Bad payloads: a typed error naming what is wrong; nothing changes. */
    char *big = malloc(40 * 1024);
    memset(big, ' ', 40 * 1024 - 1);
    big[0] = '[';
    big[40 * 1024 - 3] = ']';
    big[40 * 1024 - 1] = '\0';
    char *huge = malloc(300 * 1024);
    memset(huge, 'x', 300 * 1024 - 1);
    huge[300 * 1024 - 1] = '\0';
    char *other_caller = payload_invite("i-1", "mallory", NULL);
    char *wrong_version = payload_invite("i-2", "alice", NULL);
    wrong_version[6] = '2'; /* {"wd":2 */
    char *bad_id = payload_invite("../etc", "alice", NULL);
    const struct {
        const char *payload, *names;
    } bad[] = {
        {"not json", NULL},
        {"{\"aps\":{\"alert\":\"A message\"}}", "type"},
        {"{\"data\":{\"message\":\"hello\"}}", "type"},
        {"{\"wd\":1,\"type\":\"invite\"}", NULL},
        {"{\"wd\":1,\"type\":\"ringing\",\"invite_id\":\"i-1\"}", NULL},
        {wrong_version, "wd"},
        {other_caller, "invite_id"},
        {bad_id, "invite_id"},
        {"{\"wd\":1,\"type\":\"invite\",\"invite_id\":\"i-3\",\"conversation_id\":\"c\","
         "\"from\":\"alice\",\"device\":\"d\",\"time_left_ms\":\"soon\",\"sent_at_ms\":0}",
         NULL},
        {big, NULL},
        {huge, NULL},
        {"\xff\xfe", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wd_incoming_invite *none = (wd_incoming_invite *)0x1;
        CHECK_RESULT(wd_client_handle_push(c, bad[i].payload, &none), WD_RESULT_INVALID_ARGUMENT);
        CHECK(none == (wd_incoming_invite *)0x1);
        if (bad[i].names) {
            const char *err = check_last_error();
            if (!CHECK(strstr(err, bad[i].names) != NULL))
                fprintf(stderr, "    payload %zu: \"%s\" does not name %s\n", i, err,
                        bad[i].names);
        }
    }
    free(big);
    free(huge);
    free(other_caller);
    free(wrong_version);
    free(bad_id);
    wd_incoming_invite *none = (wd_incoming_invite *)0x1;
    p = payload_invite("i-4", "alice", NULL);
    CHECK_RESULT(wd_client_handle_push(NULL, p, &none), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_handle_push(c, NULL, &none), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_client_handle_push(c, p, NULL), WD_RESULT_NULL_PARAMETER);
    free(p);
    CHECK(none == (wd_incoming_invite *)0x1);
    bool b;
    CHECK_RESULT(wd_incoming_invite_confirmed(NULL, &b), WD_RESULT_NULL_PARAMETER);
    CHECK_RESULT(wd_incoming_invite_confirmed(in, NULL), WD_RESULT_NULL_PARAMETER);
    CHECK(status_of(in) == WD_INCOMING_STATUS_PENDING);
    CHECK(recorder_get(&rec, &rec.n) == 0);

    /* An invite_ended push ends the live handle: the same pointer, ended
     * when it returns; its callback hears it once. */
    p = payload_ended("i-1", "alice", "{\"type\":\"canceled\",\"reason\":\"caller_canceled\"}");
    wd_incoming_invite *ended = handle_push(c, p);
    free(p);
    CHECK(ended == in);
    CHECK(status_of(in) == WD_INCOMING_STATUS_CANCELED);
    expect_ended(in, &rec, WD_INCOMING_EVENT_KIND_CANCELED, WD_INCOMING_STATUS_CANCELED,
                 WD_CANCEL_REASON_CALLER_CANCELED, WD_FAILURE_REASON_NONE);
    wd_incoming_invite_free(ended);

    /* Missed calls, every way an invite ends unanswered. */
    expect_missed(c, "m-1", "{\"type\":\"accepted\",\"device\":\"n2.9\"}",
                  WD_INCOMING_EVENT_KIND_CANCELED, WD_INCOMING_STATUS_CANCELED,
                  WD_CANCEL_REASON_ANSWERED_ELSEWHERE, WD_FAILURE_REASON_NONE);
    expect_missed(c, "m-2", "{\"type\":\"canceled\"}", WD_INCOMING_EVENT_KIND_CANCELED,
                  WD_INCOMING_STATUS_CANCELED, WD_CANCEL_REASON_CALLER_CANCELED,
                  WD_FAILURE_REASON_NONE);
    expect_missed(c, "m-3", "{\"type\":\"failed\",\"reason\":\"timeout\"}",
                  WD_INCOMING_EVENT_KIND_FAILED, WD_INCOMING_STATUS_FAILED, WD_CANCEL_REASON_NONE,
                  WD_FAILURE_REASON_TIMEOUT);
    expect_missed(c, "m-4", "{\"type\":\"failed\",\"reason\":\"caller_gone\"}",
                  WD_INCOMING_EVENT_KIND_FAILED, WD_INCOMING_STATUS_FAILED, WD_CANCEL_REASON_NONE,
                  WD_FAILURE_REASON_CALLER_GONE);

    /* Never connected: the uid is not known. */
    const char *uid = "untouched";
    CHECK_RESULT(wd_client_uid(c, &uid), WD_RESULT_INVALID_STATE);
    wd_client_free(c);
    CHECK(recorder_get(&rec, &rec.n) == 1);
    wd_incoming_invite_free(in);
    CHECK(recorder_get(&rec, &rec.releases) == 1);
    CHECK(recorder_get(&invites, &invites.n_invites) == 0);
    recorder_destroy(&rec);
    recorder_destroy(&invites);
}

/* A client that gave up (DISCONNECTED) connects again for a push; one
 * that still cannot reach the server fails the pushed invite (network). */
static void test_push_reconnects(wd_client *alice)
{
    char bob[64], key[96];
    make_uid(bob, sizeof bob, "again");
    snprintf(key, sizeof key, "key-%s", bob);
    register_and_leave(push_url(), bob, key);
    wd_outgoing_invite *out = invite(alice, bob, NULL);
    char *content = wait_push(key, "wd.invite", conversation_of(out));

    struct recorder states, rec;
    recorder_init(&states);
    recorder_init(&rec);
    wd_client *c = connect_to(push_url(), bob, NULL);
    CHECK_RESULT(wd_client_disconnect(c), WD_RESULT_OK);
    CHECK_RESULT(wd_client_set_connection_callback(c, on_state, &states, recorder_release),
                 WD_RESULT_OK);
    CHECK(wait_state(&states, WD_CONNECTION_STATE_DISCONNECTED));
    wd_incoming_invite *in = content ? handle_push(c, content) : NULL;
    if (in) {
        CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rec, NULL),
                     WD_RESULT_OK);
        CHECK(wait_state(&states, WD_CONNECTION_STATE_CONNECTED));
        WAIT_EVENTS(&rec, 1);
        CHECK(recorder_kind(&rec, 0) == WD_INCOMING_EVENT_KIND_CONFIRMED);
        CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_BUSY), WD_RESULT_OK);
        expect_ended(in, &rec, WD_INCOMING_EVENT_KIND_REJECTED, WD_INCOMING_STATUS_REJECTED,
                     WD_CANCEL_REASON_NONE, WD_FAILURE_REASON_NONE);
        wd_incoming_invite_free(in);
    }
    wd_client_free(c);
    recorder_destroy(&states);
    recorder_destroy(&rec);

    /* Nowhere to connect to, and no retries: the pushed invite cannot be
     * answered; it fails (network), once. */
    recorder_init(&states);
    recorder_init(&rec);
    c = start_at(NOWHERE, bob, ",\"reconnect\":false");
    CHECK_RESULT(wd_client_set_connection_callback(c, on_state, &states, recorder_release),
                 WD_RESULT_OK);
    CHECK(wait_state(&states, WD_CONNECTION_STATE_DISCONNECTED));
    int before = recorder_get(&states, &states.n);
    in = content ? handle_push(c, content) : NULL;
    if (in) {
        CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rec, NULL),
                     WD_RESULT_OK);
        expect_ended(in, &rec, WD_INCOMING_EVENT_KIND_FAILED, WD_INCOMING_STATUS_FAILED,
                     WD_CANCEL_REASON_NONE, WD_FAILURE_REASON_NETWORK);
        /* It tried again: CONNECTING, then DISCONNECTED once more. */
        CHECK(recorder_wait(&states, &states.n, before + 2));
        CHECK(recorder_kind(&states, before) == WD_CONNECTION_STATE_CONNECTING);
        CHECK(recorder_kind(&states, before + 1) == WD_CONNECTION_STATE_DISCONNECTED);
        wd_incoming_invite_free(in);
    }
    wd_client_free(c);
    CHECK(recorder_get(&rec, &rec.n) == 1);
    recorder_destroy(&states);
    recorder_destroy(&rec);
    /* Bob's busy reply, above, ended it. */
    wd_outgoing_status ost = 99;
    CHECK_RESULT(wd_outgoing_invite_status(out, &ost), WD_RESULT_OK);
    CHECK(ost == WD_OUTGOING_STATUS_REJECTED);
    wd_outgoing_invite_free(out);
    free(content);
}

/* ---- one invite, by socket and by push ------------------------------------------ */

static void test_socket_and_push(wd_client *alice)
{
    char bob[64], key[96];
    make_uid(bob, sizeof bob, "both");
    snprintf(key, sizeof key, "key-%s", bob);
    register_and_leave(push_url(), bob, key);

    struct recorder invites, rec, out_rec;
    recorder_init(&invites);
    recorder_init(&rec);
    recorder_init(&out_rec);
    wd_client *tablet = connect_to(push_url(), bob, NULL);
    CHECK_RESULT(wd_client_set_invite_callback(tablet, recorder_on_invite, &invites,
                                               recorder_release),
                 WD_RESULT_OK);
    wd_outgoing_invite *out = invite(alice, bob, NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    wd_incoming_invite *by_socket = recorder_next_invite(&invites);
    char *content = wait_push(key, "wd.invite", conversation_of(out));
    if (CHECK(by_socket != NULL && content != NULL)) {
        CHECK(confirmed(by_socket));
        wd_incoming_invite *by_push = handle_push(tablet, content);
        CHECK(by_push == by_socket);
        CHECK_RESULT(wd_incoming_invite_set_callback(by_push, recorder_on_incoming, &rec, NULL),
                     WD_RESULT_OK);
        CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_OK);
        expect_ended(by_socket, &rec, WD_INCOMING_EVENT_KIND_CANCELED,
                     WD_INCOMING_STATUS_CANCELED, WD_CANCEL_REASON_CALLER_CANCELED,
                     WD_FAILURE_REASON_NONE);
        /* Delivered over the socket first: no CONFIRMED, one event. */
        CHECK(recorder_kind(&rec, 0) == WD_INCOMING_EVENT_KIND_CANCELED);
        wd_incoming_invite_free(by_push);
    }
    /* One more round trip, then: the invite callback fired once. */
    struct recorder out2_rec;
    recorder_init(&out2_rec);
    wd_outgoing_invite *probe = invite(alice, bob, NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(probe, recorder_on_outgoing, &out2_rec, NULL),
                 WD_RESULT_OK);
    wd_incoming_invite *second = recorder_next_invite(&invites);
    CHECK(second != NULL && second != by_socket);
    CHECK(recorder_get(&invites, &invites.n_invites) == 2);
    CHECK_RESULT(wd_outgoing_invite_cancel(probe), WD_RESULT_OK);
    wd_incoming_invite_free(second);
    wd_outgoing_invite_free(probe);
    CHECK(recorder_get(&rec, &rec.n) == 1);
    if (by_socket)
        wd_incoming_invite_free(by_socket);
    wd_client_free(tablet);
    wd_outgoing_invite_free(out);
    free(content);
    recorder_destroy(&invites);
    recorder_destroy(&rec);
    recorder_destroy(&out_rec);
    recorder_destroy(&out2_rec);
}

/* ---- wd_client_handle_push from inside a callback --------------------------------- */

struct in_callback {
    struct recorder rec; /* n: handles taken */
    const char *payload;
    wd_incoming_invite *invite;
    wd_result result;
};

static void push_on_connected(void *user_data, wd_client *client, wd_connection_state state)
{
    struct in_callback *s = user_data;
    if (state != WD_CONNECTION_STATE_CONNECTED || recorder_get(&s->rec, &s->rec.n) > 0)
        return;
    wd_incoming_invite *in = NULL;
    wd_result r = wd_client_handle_push(client, s->payload, &in);
    pthread_mutex_lock(&s->rec.mu);
    s->result = r;
    s->invite = in;
    pthread_mutex_unlock(&s->rec.mu);
    recorder_push(&s->rec, 1);
}

static void test_inside_callback(wd_client *alice)
{
    char bob[64], key[96];
    make_uid(bob, sizeof bob, "inside");
    snprintf(key, sizeof key, "key-%s", bob);
    register_and_leave(push_url(), bob, key);
    struct recorder out_rec, rec;
    recorder_init(&out_rec);
    recorder_init(&rec);
    wd_outgoing_invite *out = invite(alice, bob, NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    char *content = wait_push(key, "wd.invite", conversation_of(out));
    struct in_callback s = {.payload = content, .result = 99};
    recorder_init(&s.rec);
    if (content) {
        wd_client *woken = start_at(push_url(), bob, NULL);
        CHECK_RESULT(wd_client_set_connection_callback(woken, push_on_connected, &s, NULL),
                     WD_RESULT_OK);
        WAIT_EVENTS(&s.rec, 1);
        pthread_mutex_lock(&s.rec.mu);
        wd_result r = s.result;
        wd_incoming_invite *in = s.invite;
        pthread_mutex_unlock(&s.rec.mu);
        CHECK(r == WD_RESULT_OK);
        if (in) {
            check_from(in, ALICE);
            CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rec, NULL),
                         WD_RESULT_OK);
            CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_OK);
            CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_ACCEPTED);
            expect_ended(in, &rec, WD_INCOMING_EVENT_KIND_ACCEPTED, WD_INCOMING_STATUS_ACCEPTED,
                         WD_CANCEL_REASON_NONE, WD_FAILURE_REASON_NONE);
            wd_incoming_invite_free(in);
        }
        wd_client_free(woken);
    } else {
        wd_outgoing_invite_cancel(out);
    }
    wd_outgoing_invite_free(out);
    free(content);
    recorder_destroy(&s.rec);
    recorder_destroy(&out_rec);
    recorder_destroy(&rec);
}

/* ---- after wd_client_free, in every dispatch mode ----------------------------------- */

/* The events of `rec`: CONFIRMED at most once, first, then FAILED
 * (network), once. */
static void expect_failed_network_once(struct recorder *rec, const char *mode)
{
    int n = recorder_get(rec, &rec->n);
    int first = n > 0 && recorder_kind(rec, 0) == WD_INCOMING_EVENT_KIND_CONFIRMED ? 1 : 0;
    if (!CHECK(n == first + 1 && recorder_kind(rec, first) == WD_INCOMING_EVENT_KIND_FAILED))
        fprintf(stderr, "    %s: heard %d events, last %d\n", mode, n, recorder_kind(rec, n - 1));
}

static void test_after_free(wd_client *alice)
{
    char bob[64], key[96];
    make_uid(bob, sizeof bob, "freed");
    snprintf(key, sizeof key, "key-%s", bob);
    register_and_leave(push_url(), bob, key);
    wd_outgoing_invite *out = invite(alice, bob, NULL);
    char *content = wait_push(key, "wd.invite", conversation_of(out));
    for (size_t m = 0; content && m < sizeof MODES / sizeof MODES[0]; m++) {
        char extra[64];
        snprintf(extra, sizeof extra, ",\"dispatch\":\"%s\"", MODES[m]);
        /* Callback set before the free: heard by the time it returns. */
        struct recorder before, after;
        recorder_init(&before);
        recorder_init(&after);
        wd_client *c = start_at(push_url(), bob, extra);
        wd_incoming_invite *in = handle_push(c, content);
        if (in)
            CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &before,
                                                         recorder_release),
                         WD_RESULT_OK);
        wd_client_free(c);
        if (in) {
            expect_failed_network_once(&before, MODES[m]);
            CHECK(status_of(in) == WD_INCOMING_STATUS_FAILED);
            CHECK(recorder_get(&before, &before.releases) == 0);
            wd_incoming_invite_free(in);
            CHECK(recorder_get(&before, &before.releases) == 1);
        }
        /* Callback set after the free: heard inside the set. */
        c = start_at(push_url(), bob, extra);
        in = handle_push(c, content);
        wd_client_free(c);
        if (in) {
            CHECK(status_of(in) == WD_INCOMING_STATUS_FAILED);
            CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &after,
                                                         recorder_release),
                         WD_RESULT_OK);
            expect_failed_network_once(&after, MODES[m]);
            wd_incoming_invite_free(in);
            CHECK(recorder_get(&after, &after.releases) == 1);
        }
        recorder_destroy(&before);
        recorder_destroy(&after);
    }
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_OK);
    wd_outgoing_invite_free(out);
    free(content);
}

/* ---- a dead gateway --------------------------------------------------------------- */

/* The server's gateway is down: the registration is still stored, and an
 * invite still reaches the user's connected device and is answered. */
static void test_gateway_down(void)
{
    const char *url = env_or_exit("WD_DEADGW_URL");
    char bob[64], key[96], caller[64];
    make_uid(bob, sizeof bob, "deadgw");
    make_uid(caller, sizeof caller, "deadgw_caller");
    snprintf(key, sizeof key, "key-%s", bob);
    register_and_leave(url, bob, key);
    struct recorder invites;
    recorder_init(&invites);
    wd_client *laptop = connect_to(url, bob, NULL);
    CHECK_RESULT(wd_client_set_invite_callback(laptop, recorder_on_invite, &invites,
                                               recorder_release),
                 WD_RESULT_OK);
    wd_client *a = connect_to(url, caller, NULL);
    for (int round = 0; round < 3; round++) {
        struct recorder out_rec;
        recorder_init(&out_rec);
        wd_outgoing_invite *out = invite(a, bob, NULL);
        CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                     WD_RESULT_OK);
        wd_incoming_invite *in = recorder_next_invite(&invites);
        if (CHECK(in != NULL)) {
            CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_OK);
            CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_ACCEPTED);
            wd_incoming_invite_free(in);
        }
        wd_outgoing_invite_free(out);
        recorder_destroy(&out_rec);
    }
    wd_client_free(a);
    wd_client_free(laptop);
    recorder_destroy(&invites);
}

/* ---- two nodes through Redis ---------------------------------------------------------- */

/* Registered on node 1, pushed by node 1 for a caller there, woken and
 * answered on node 2. */
static void test_two_nodes(void)
{
    const char *n1 = getenv("WD_NODE1_URL"), *n2 = getenv("WD_NODE2_URL");
    if (!n1 || !n2 || !*n1 || !*n2) {
        CHECK(getenv("CI") == NULL); /* run-tests.sh starts them when it can */
        fprintf(stderr, "skipped: two nodes through Redis (no redis-server)\n");
        return;
    }
    char bob[64], key[96], caller[64];
    make_uid(bob, sizeof bob, "cluster");
    make_uid(caller, sizeof caller, "cluster_caller");
    snprintf(key, sizeof key, "key-%s", bob);
    register_and_leave(n1, bob, key);
    struct recorder out_rec, rec;
    recorder_init(&out_rec);
    recorder_init(&rec);
    wd_client *a = connect_to(n1, caller, NULL);
    wd_outgoing_invite *out = invite(a, bob, NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &out_rec, NULL),
                 WD_RESULT_OK);
    char *content = wait_push(key, "wd.invite", conversation_of(out));
    wd_client *woken = start_at(n2, bob, NULL);
    wd_incoming_invite *in = content ? handle_push(woken, content) : NULL;
    if (in) {
        check_from(in, caller);
        CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rec, NULL),
                     WD_RESULT_OK);
        CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_OK);
        CHECK(wait_outgoing_outcome(&out_rec) == WD_OUTGOING_EVENT_KIND_ACCEPTED);
        static const int kinds[] = {WD_INCOMING_EVENT_KIND_CONFIRMED,
                                    WD_INCOMING_EVENT_KIND_ACCEPTED};
        expect_kinds(&rec, kinds, 2);
        wd_incoming_invite_free(in);
    } else {
        wd_outgoing_invite_cancel(out);
    }
    wd_client_free(woken);
    wd_outgoing_invite_free(out);
    wd_client_free(a);
    free(content);
    recorder_destroy(&out_rec);
    recorder_destroy(&rec);
}

int main(void)
{
    make_uid(ALICE, sizeof ALICE, "alice");
    wd_client *alice = connect_to(push_url(), ALICE, NULL);
    test_start();
    test_registration_arguments();
    test_register_unregister(alice);
    test_registration_failed();
    test_rejected_key(alice);
    test_main_flow(alice, true);
    test_main_flow(alice, false);
    test_too_late(alice, CANCELED);
    test_too_late(alice, ANSWERED_ELSEWHERE);
    test_too_late(alice, EXPIRED);
    test_too_late(alice, CALLER_GONE);
    test_without_network();
    test_push_reconnects(alice);
    test_socket_and_push(alice);
    test_inside_callback(alice);
    test_after_free(alice);
    test_gateway_down();
    test_two_nodes();
    wd_client_free(alice);
    return check_summary("test_push");
}
