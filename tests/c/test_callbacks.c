/* test_callbacks.c - callbacks and their user_data:
 * - a callback frees its own handle (outgoing, incoming, conversation),
 *   and the handle stays valid until it returns;
 * - a callback cancels an invite (its own, from ringing; another
 *   client's, from an invite callback);
 * - wd_client_free from inside a callback of that client;
 * - a callback set after its event happened hears it exactly once
 *   (manual dispatch proves "exactly": the queue is drained by hand);
 * - release runs exactly once when the callback is replaced, cleared, its
 *   handle freed, or its client freed; never while its callback runs;
 * - wd_client_dispatch: counts, INVALID_STATE inside a callback;
 * - a CANCELED event carries its reason: GLARE for the invite that lost
 *   a glare, CALLER_CANCELED for a local cancel. */
#include "helpers.h"

static wd_client *alice, *bob;
static struct recorder bob_invites; /* bob's invite callback keeps them here */

static int releases(struct recorder *r) { return recorder_get(r, &r->releases); }
static int events(struct recorder *r) { return recorder_get(r, &r->n); }

/* ---- a callback frees its own handle ------------------------------------ */

static void free_own_outgoing(void *ud, wd_outgoing_invite *inv, const wd_outgoing_event *ev)
{
    struct recorder *r = ud;
    if (ev->kind != WD_OUTGOING_EVENT_KIND_RINGING) {
        wd_outgoing_invite_free(inv); /* the app's only reference */
        wd_outgoing_status st = 77;   /* still valid until we return */
        CHECK_RESULT(wd_outgoing_invite_status(inv, &st), WD_RESULT_OK);
        CHECK(st == WD_OUTGOING_STATUS_FAILED);
        CHECK(releases(r) == 0); /* not while the callback runs */
    }
    recorder_push(r, (int)ev->kind);
}

/* Frees its invite, then still uses it: takes the conversation. */
struct own_incoming {
    struct recorder r;
    wd_conversation *conv;
};

static void free_own_incoming(void *ud, wd_incoming_invite *inv, const wd_incoming_event *ev)
{
    struct own_incoming *s = ud;
    wd_incoming_invite_free(inv);
    const char *from = NULL;
    CHECK_RESULT(wd_incoming_invite_from(inv, &from), WD_RESULT_OK);
    CHECK(from && strcmp(from, "alice") == 0);
    CHECK(ev->kind == WD_INCOMING_EVENT_KIND_ACCEPTED);
    CHECK_RESULT(wd_incoming_invite_conversation(inv, &s->conv), WD_RESULT_OK);
    CHECK(releases(&s->r) == 0);
    recorder_push(&s->r, (int)ev->kind);
}

static void free_own_conversation(void *ud, wd_conversation *conv,
                                  const wd_conversation_event *ev)
{
    struct recorder *r = ud;
    if (ev->kind == WD_CONVERSATION_EVENT_KIND_DISCONNECTED) {
        wd_conversation_free(conv);
        const char *id = NULL;
        CHECK_RESULT(wd_conversation_id(conv, &id), WD_RESULT_OK);
        CHECK(id && *id);
        CHECK(releases(r) == 0);
    }
    recorder_push(r, (int)ev->kind);
}

static void test_free_inside_callback(void)
{
    /* Outgoing: fails "offline" at once; the callback frees it. */
    struct recorder ro;
    recorder_init(&ro);
    wd_outgoing_invite *out = invite(alice, "nobody", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, free_own_outgoing, &ro, recorder_release),
                 WD_RESULT_OK);
    out = NULL; /* the callback owns it now */
    WAIT_EVENTS(&ro, 1);
    WAIT_RELEASES(&ro, 1);

    /* Incoming and conversation: bob accepts; the incoming callback frees
     * bob's invite; alice leaves, bob's conversation callback frees it. */
    struct own_incoming oi = {.conv = NULL};
    struct recorder rc, rout;
    recorder_init(&oi.r);
    recorder_init(&rc);
    recorder_init(&rout);
    out = invite(alice, "bob", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &rout, NULL),
                 WD_RESULT_OK);
    wd_incoming_invite *in = recorder_next_invite(&bob_invites);
    if (!CHECK(in != NULL))
        return;
    CHECK_RESULT(wd_incoming_invite_set_callback(in, free_own_incoming, &oi, recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_incoming_invite_accept(in, NULL, NULL), WD_RESULT_OK);
    in = NULL; /* freed by its callback */
    WAIT_EVENTS(&rout, 2); /* ringing, accepted */
    WAIT_EVENTS(&oi.r, 1);
    WAIT_RELEASES(&oi.r, 1);
    CHECK(recorder_kind(&oi.r, 0) == WD_INCOMING_EVENT_KIND_ACCEPTED);
    wd_conversation *cb = oi.conv, *ca = NULL;
    if (!CHECK(cb != NULL))
        return;

    CHECK_RESULT(wd_conversation_set_callback(cb, free_own_conversation, &rc, recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_outgoing_invite_conversation(out, &ca), WD_RESULT_OK);
    CHECK_RESULT(wd_conversation_disconnect(ca), WD_RESULT_OK);
    WAIT_EVENTS(&rc, 2); /* alice left; bob is out */
    WAIT_RELEASES(&rc, 1);
    CHECK(recorder_kind(&rc, 1) == WD_CONVERSATION_EVENT_KIND_DISCONNECTED);
    wd_conversation_free(ca);
    wd_outgoing_invite_free(out);

    CHECK(events(&ro) == 1 && releases(&ro) == 1);
    CHECK(events(&oi.r) == 1 && releases(&oi.r) == 1);
    CHECK(events(&rc) == 2 && releases(&rc) == 1);
    recorder_destroy(&ro);
    recorder_destroy(&oi.r);
    recorder_destroy(&rc);
    recorder_destroy(&rout);
}

/* ---- cancel from inside callbacks ----------------------------------------- */

static void cancel_on_ringing(void *ud, wd_outgoing_invite *inv, const wd_outgoing_event *ev)
{
    if (ev->kind == WD_OUTGOING_EVENT_KIND_RINGING) {
        CHECK_RESULT(wd_outgoing_invite_cancel(inv), WD_RESULT_OK);
        wd_outgoing_status st = 77;
        CHECK_RESULT(wd_outgoing_invite_status(inv, &st), WD_RESULT_OK);
        CHECK(st == WD_OUTGOING_STATUS_CANCELED);
        CHECK_RESULT(wd_outgoing_invite_cancel(inv), WD_RESULT_INVALID_STATE);
    }
    recorder_push(ud, (int)ev->kind);
}

/* Bob's invite callback for the cross-client cancel: cancels the invite
 * alice is making (on bob's event thread). */
static struct {
    pthread_mutex_t mu;
    wd_outgoing_invite *out;
    wd_result result;
    int calls;
} cross = {PTHREAD_MUTEX_INITIALIZER, NULL, 77, 0};

static void cancel_other(void *ud, wd_incoming_invite *inv)
{
    struct recorder *r = ud;
    pthread_mutex_lock(&cross.mu); /* held by the test while it invites */
    cross.result = wd_outgoing_invite_cancel(cross.out);
    cross.calls++;
    pthread_mutex_unlock(&cross.mu);
    wd_incoming_invite_free(inv);
    recorder_push(r, 0);
}

static void test_cancel_inside_callback(void)
{
    struct recorder ro, rin;
    recorder_init(&ro);
    recorder_init(&rin);
    wd_outgoing_invite *out = invite(alice, "bob", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, cancel_on_ringing, &ro, NULL),
                 WD_RESULT_OK);
    wd_incoming_invite *in = recorder_next_invite(&bob_invites);
    if (!CHECK(in != NULL))
        return;
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rin, NULL),
                 WD_RESULT_OK);
    WAIT_EVENTS(&ro, 2);
    CHECK(recorder_kind(&ro, 0) == WD_OUTGOING_EVENT_KIND_RINGING);
    CHECK(recorder_kind(&ro, 1) == WD_OUTGOING_EVENT_KIND_CANCELED);
    WAIT_EVENTS(&rin, 1);
    CHECK(recorder_kind(&rin, 0) == WD_INCOMING_EVENT_KIND_CANCELED);
    wd_incoming_invite_free(in);
    wd_outgoing_invite_free(out);

    /* Bob's invite callback cancels alice's invite. */
    struct recorder rb, ro2;
    recorder_init(&rb);
    recorder_init(&ro2);
    CHECK_RESULT(wd_client_set_invite_callback(bob, cancel_other, &rb, recorder_release),
                 WD_RESULT_OK);
    pthread_mutex_lock(&cross.mu);
    cross.out = invite(alice, "bob", NULL);
    pthread_mutex_unlock(&cross.mu);
    CHECK_RESULT(wd_outgoing_invite_set_callback(cross.out, recorder_on_outgoing, &ro2, NULL),
                 WD_RESULT_OK);
    WAIT_EVENTS(&rb, 1);
    CHECK(cross.calls == 1);
    CHECK_RESULT(cross.result, WD_RESULT_OK);
    wd_outgoing_status st = 77;
    CHECK_RESULT(wd_outgoing_invite_status(cross.out, &st), WD_RESULT_OK);
    CHECK(st == WD_OUTGOING_STATUS_CANCELED);
    CHECK(wait_outgoing_outcome(&ro2) == WD_OUTGOING_EVENT_KIND_CANCELED);
    /* Back to the recording invite callback; the canceling one is released. */
    CHECK_RESULT(wd_client_set_invite_callback(bob, recorder_on_invite, &bob_invites, NULL),
                 WD_RESULT_OK);
    WAIT_RELEASES(&rb, 1);
    wd_outgoing_invite_free(cross.out);
    cross.out = NULL;
    CHECK(releases(&rb) == 1 && events(&rb) == 1);
    recorder_destroy(&ro);
    recorder_destroy(&rin);
    recorder_destroy(&rb);
    recorder_destroy(&ro2);
}

/* ---- wd_client_free from inside a callback ------------------------------- */

struct self_freeing {
    struct recorder r;
    wd_client *client;
};

static void free_client_on_invite(void *ud, wd_incoming_invite *inv)
{
    struct self_freeing *s = ud;
    wd_incoming_invite_free(inv);
    wd_client_free(s->client); /* its own client; the event thread ends after this */
    CHECK(releases(&s->r) == 0);
    recorder_push(&s->r, 1);
}

static void free_client_on_outcome(void *ud, wd_outgoing_invite *inv, const wd_outgoing_event *ev)
{
    struct self_freeing *s = ud;
    if (ev->kind == WD_OUTGOING_EVENT_KIND_FAILED) {
        wd_client_free(s->client);
        wd_outgoing_invite_free(inv);
        wd_failure_reason fr = 77;
        CHECK_RESULT(wd_outgoing_invite_failure_reason(inv, &fr), WD_RESULT_OK);
        CHECK(fr == WD_FAILURE_REASON_OFFLINE);
    }
    recorder_push(&s->r, (int)ev->kind);
}

static void test_client_free_inside_callback(void)
{
    /* carol's invite callback frees carol. */
    struct self_freeing carol;
    recorder_init(&carol.r);
    carol.client = connect_as("carol", NULL);
    CHECK_RESULT(wd_client_set_invite_callback(carol.client, free_client_on_invite, &carol,
                                               recorder_release),
                 WD_RESULT_OK);
    wd_outgoing_invite *out = invite(alice, "carol", ",\"lifetimeMs\":1000");
    WAIT_EVENTS(&carol.r, 1);
    WAIT_RELEASES(&carol.r, 1);
    wd_outgoing_invite_free(out);

    /* dave's outgoing callback frees dave, then the invite. */
    struct self_freeing dave;
    recorder_init(&dave.r);
    dave.client = connect_as("dave", NULL);
    out = invite(dave.client, "nobody", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, free_client_on_outcome, &dave,
                                                 recorder_release),
                 WD_RESULT_OK);
    WAIT_EVENTS(&dave.r, 1);
    WAIT_RELEASES(&dave.r, 1);
    CHECK(events(&carol.r) == 1 && releases(&carol.r) == 1);
    CHECK(events(&dave.r) == 1 && releases(&dave.r) == 1);
    recorder_destroy(&carol.r);
    recorder_destroy(&dave.r);
}

/* ---- late listeners, manual dispatch ---------------------------------------- */

static wd_client *mona; /* manual dispatch */

/* Dispatches mona's queue until *field >= want or WAIT_MS passed. */
static bool dispatch_until(struct recorder *r, const int *field, int want)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (recorder_get(r, field) >= want)
            return true;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > WAIT_MS)
            return false;
        CHECK_RESULT(wd_client_dispatch(mona, 100, NULL), WD_RESULT_OK);
    }
}

/* Drains everything due; returns how many deliveries ran. */
static size_t drain(void)
{
    size_t total = 0, n = 1;
    while (n > 0) {
        n = 77;
        CHECK_RESULT(wd_client_dispatch(mona, 50, &n), WD_RESULT_OK);
        total += n;
    }
    return total;
}

static void dispatch_inside(void *ud, wd_outgoing_invite *inv, const wd_outgoing_event *ev)
{
    (void)inv;
    size_t n = 77;
    CHECK_RESULT(wd_client_dispatch(mona, 0, &n), WD_RESULT_INVALID_STATE);
    CHECK(n == 77);
    recorder_push(ud, (int)ev->kind);
}

static void test_late_listeners(void)
{
    mona = connect_as("mona", ",\"dispatch\":\"manual\"");
    drain();
    size_t n = 77;
    CHECK_RESULT(wd_client_dispatch(mona, 0, &n), WD_RESULT_OK);
    CHECK(n == 0);

    /* Outgoing: the outcome is known (status) before any callback is set. */
    struct recorder r1, r2;
    recorder_init(&r1);
    recorder_init(&r2);
    wd_outgoing_invite *out = invite(mona, "nobody", NULL);
    wd_outgoing_status st = WD_OUTGOING_STATUS_PENDING;
    for (int i = 0; i < WAIT_MS / 100 && st == WD_OUTGOING_STATUS_PENDING; i++) {
        CHECK_RESULT(wd_client_dispatch(mona, 100, NULL), WD_RESULT_OK);
        CHECK_RESULT(wd_outgoing_invite_status(out, &st), WD_RESULT_OK);
    }
    CHECK(st == WD_OUTGOING_STATUS_FAILED);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, dispatch_inside, &r1, recorder_release),
                 WD_RESULT_OK);
    CHECK(events(&r1) == 0); /* delivered by dispatch, not by set_callback */
    CHECK(dispatch_until(&r1, &r1.n, 1));
    drain();
    CHECK(events(&r1) == 1 && recorder_kind(&r1, 0) == WD_OUTGOING_EVENT_KIND_FAILED);
    /* A replacement does not hear it again. */
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &r2, recorder_release),
                 WD_RESULT_OK);
    WAIT_RELEASES(&r1, 1);
    drain();
    CHECK(events(&r2) == 0);
    wd_outgoing_invite_free(out);
    WAIT_RELEASES(&r2, 1);
    CHECK(releases(&r1) == 1 && events(&r1) == 1);

    /* Incoming: the invite arrives before mona has an invite callback, and
     * is canceled before the invite has a callback. */
    struct recorder ro, rinv, rin;
    recorder_init(&ro);
    recorder_init(&rinv);
    recorder_init(&rin);
    out = invite(alice, "mona", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &ro, NULL),
                 WD_RESULT_OK);
    WAIT_EVENTS(&ro, 1); /* ringing: mona's SDK has the invite */
    CHECK(recorder_kind(&ro, 0) == WD_OUTGOING_EVENT_KIND_RINGING);
    drain(); /* nothing to deliver it to */
    CHECK_RESULT(wd_client_set_invite_callback(mona, recorder_on_invite, &rinv, recorder_release),
                 WD_RESULT_OK);
    CHECK(dispatch_until(&rinv, &rinv.n_invites, 1));
    drain();
    CHECK(recorder_get(&rinv, &rinv.n_invites) == 1);
    wd_incoming_invite *in = recorder_next_invite(&rinv);
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_OK);
    wd_incoming_status ist = WD_INCOMING_STATUS_PENDING;
    for (int i = 0; i < WAIT_MS / 100 && ist == WD_INCOMING_STATUS_PENDING; i++) {
        CHECK_RESULT(wd_client_dispatch(mona, 100, NULL), WD_RESULT_OK);
        CHECK_RESULT(wd_incoming_invite_status(in, &ist), WD_RESULT_OK);
    }
    CHECK(ist == WD_INCOMING_STATUS_CANCELED);
    drain();
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &rin, recorder_release),
                 WD_RESULT_OK);
    CHECK(dispatch_until(&rin, &rin.n, 1));
    drain();
    CHECK(events(&rin) == 1 && recorder_kind(&rin, 0) == WD_INCOMING_EVENT_KIND_CANCELED);
    /* Cleared: release runs; nothing is delivered again. */
    CHECK_RESULT(wd_incoming_invite_set_callback(in, NULL, NULL, NULL), WD_RESULT_OK);
    WAIT_RELEASES(&rin, 1);
    wd_incoming_invite_free(in);
    wd_outgoing_invite_free(out);

    wd_client_free(mona);
    WAIT_RELEASES(&rinv, 1); /* the invite callback goes with the client */
    CHECK(releases(&rin) == 1 && releases(&rinv) == 1);
    recorder_destroy(&r1);
    recorder_destroy(&r2);
    recorder_destroy(&ro);
    recorder_destroy(&rinv);
    recorder_destroy(&rin);
}

/* ---- release exactly once -------------------------------------------------- */

struct replacer {
    struct recorder first, second;
};

/* Replaces itself from inside: its own release must wait until it returns. */
static void replace_self(void *ud, wd_outgoing_invite *inv, const wd_outgoing_event *ev)
{
    struct replacer *x = (struct replacer *)((char *)ud - offsetof(struct replacer, first));
    recorder_push(&x->first, (int)ev->kind);
    CHECK_RESULT(wd_outgoing_invite_set_callback(inv, recorder_on_outgoing, &x->second,
                                                 recorder_release),
                 WD_RESULT_OK);
    CHECK(releases(&x->first) == 0);
}

static void test_release_counts(void)
{
    struct recorder a, b, c, d, e;
    recorder_init(&a);
    recorder_init(&b);
    recorder_init(&c);
    recorder_init(&d);
    recorder_init(&e);

    /* Replaced, cleared, set again and the handle freed. */
    wd_outgoing_invite *out = invite(alice, "bob", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &a, recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &b, recorder_release),
                 WD_RESULT_OK);
    WAIT_RELEASES(&a, 1);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, NULL, &e, recorder_release), WD_RESULT_OK);
    WAIT_RELEASES(&b, 1);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, NULL, NULL, NULL), WD_RESULT_OK); /* again */
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &c, recorder_release),
                 WD_RESULT_OK);
    /* A second reference: freeing one is not the last. */
    wd_incoming_invite *in = recorder_next_invite(&bob_invites);
    CHECK(in != NULL);
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &d, recorder_release),
                 WD_RESULT_OK);
    CHECK_RESULT(wd_incoming_invite_reject(in, WD_REJECT_REASON_BUSY), WD_RESULT_OK);
    WAIT_EVENTS(&c, 1);
    WAIT_EVENTS(&d, 1);
    wd_outgoing_invite_free(out);
    WAIT_RELEASES(&c, 1);
    wd_incoming_invite_free(in);
    WAIT_RELEASES(&d, 1);
    CHECK(releases(&a) == 1 && releases(&b) == 1 && releases(&c) == 1 && releases(&d) == 1);
    CHECK(releases(&e) == 0); /* ignored with a NULL callback */
    CHECK(events(&a) + events(&b) == 0 || events(&a) + events(&b) <= 1); /* ringing at most */
    recorder_destroy(&a);
    recorder_destroy(&b);
    recorder_destroy(&c);
    recorder_destroy(&d);
    recorder_destroy(&e);

    /* Replaced from inside its own callback. */
    struct replacer x;
    recorder_init(&x.first);
    recorder_init(&x.second);
    out = invite(alice, "nobody", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, replace_self, &x.first, recorder_release),
                 WD_RESULT_OK);
    WAIT_EVENTS(&x.first, 1);
    WAIT_RELEASES(&x.first, 1);
    wd_outgoing_invite_free(out);
    WAIT_RELEASES(&x.second, 1);
    CHECK(events(&x.first) == 1 && events(&x.second) == 0);
    CHECK(releases(&x.first) == 1 && releases(&x.second) == 1);
    recorder_destroy(&x.first);
    recorder_destroy(&x.second);

    /* The client shuts down while the app still holds a pending invite:
     * its callback hears FAILED (network), then is released, once. */
    struct recorder f, inv_cb;
    recorder_init(&f);
    recorder_init(&inv_cb);
    wd_client *eve = connect_as("eve", NULL);
    CHECK_RESULT(wd_client_set_invite_callback(eve, recorder_on_invite, &inv_cb, recorder_release),
                 WD_RESULT_OK);
    out = invite(eve, "bob", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &f, recorder_release),
                 WD_RESULT_OK);
    in = recorder_next_invite(&bob_invites);
    CHECK(in != NULL);
    wd_client_free(eve);
    CHECK(releases(&inv_cb) == 1); /* "removes the invite callback (its release runs)" */
    /* The outcome is still delivered to the handle the app holds. */
    CHECK(wait_outgoing_outcome(&f) == WD_OUTGOING_EVENT_KIND_FAILED);
    /* The handle outlives its client, and so does its callback: it is
     * released when replaced or when the handle is freed, not before. */
    CHECK(releases(&f) == 0);
    wd_failure_reason fr = 77;
    CHECK_RESULT(wd_outgoing_invite_failure_reason(out, &fr), WD_RESULT_OK);
    CHECK(fr == WD_FAILURE_REASON_NETWORK);
    CHECK_RESULT(wd_outgoing_invite_cancel(out), WD_RESULT_INVALID_STATE);
    /* Setting a callback now: it hears the outcome; release once at free. */
    struct recorder g;
    recorder_init(&g);
    CHECK_RESULT(wd_outgoing_invite_set_callback(out, recorder_on_outgoing, &g, recorder_release),
                 WD_RESULT_OK);
    WAIT_RELEASES(&f, 1);
    wd_outgoing_invite_free(out);
    WAIT_RELEASES(&g, 1);
    CHECK(releases(&f) == 1 && releases(&g) == 1 && releases(&inv_cb) == 1);
    CHECK(events(&g) == 0); /* the outcome went to f already: never twice */
    /* Bob's side hears the caller is gone. */
    struct recorder h;
    recorder_init(&h);
    CHECK_RESULT(wd_incoming_invite_set_callback(in, recorder_on_incoming, &h, NULL), WD_RESULT_OK);
    WAIT_EVENTS(&h, 1);
    wd_failure_reason ifr = 77;
    CHECK_RESULT(wd_incoming_invite_failure_reason(in, &ifr), WD_RESULT_OK);
    CHECK(recorder_kind(&h, 0) == WD_INCOMING_EVENT_KIND_FAILED &&
          ifr == WD_FAILURE_REASON_CALLER_GONE);
    wd_incoming_invite_free(in);
    recorder_destroy(&f);
    recorder_destroy(&g);
    recorder_destroy(&h);
    recorder_destroy(&inv_cb);
}

/* ---- the cancel reason rides in the event ---------------------------------- */

/* Outgoing events of several invites: which invite, and the reason of each
 * CANCELED. */
struct cancel_rec {
    struct recorder r;
    wd_outgoing_invite *invite[MAX_RECORDED];
    int reason[MAX_RECORDED];
};

static void record_cancel(void *ud, wd_outgoing_invite *inv, const wd_outgoing_event *ev)
{
    struct cancel_rec *c = ud;
    if (ev->kind == WD_OUTGOING_EVENT_KIND_CANCELED) {
        pthread_mutex_lock(&c->r.mu);
        if (c->r.n < MAX_RECORDED) {
            c->invite[c->r.n] = inv;
            c->reason[c->r.n] = (int)ev->cancel_reason;
        }
        pthread_mutex_unlock(&c->r.mu);
        recorder_push(&c->r, (int)ev->kind);
    }
}

/* The reason of the i-th CANCELED recorded, and its invite. */
static int cancel_reason_at(struct cancel_rec *c, int i, wd_outgoing_invite **inv)
{
    pthread_mutex_lock(&c->r.mu);
    int reason = c->reason[i];
    *inv = c->invite[i];
    pthread_mutex_unlock(&c->r.mu);
    return reason;
}

static void test_glare_reason_in_callback(void)
{
    /* Two users invite each other: the invite with the greater id loses,
     * canceled with GLARE on both sides; the other keeps ringing. */
    wd_client *a = connect_as("glare-a", NULL), *b = connect_as("glare-b", NULL);
    struct cancel_rec c;
    memset(&c, 0, sizeof c);
    recorder_init(&c.r);
    wd_outgoing_invite *to_b = invite(a, "glare-b", NULL);
    wd_outgoing_invite *to_a = invite(b, "glare-a", NULL);
    CHECK_RESULT(wd_outgoing_invite_set_callback(to_b, record_cancel, &c, NULL), WD_RESULT_OK);
    CHECK_RESULT(wd_outgoing_invite_set_callback(to_a, record_cancel, &c, NULL), WD_RESULT_OK);
    WAIT_EVENTS(&c.r, 1);
    wd_outgoing_invite *loser = NULL;
    CHECK(cancel_reason_at(&c, 0, &loser) == WD_CANCEL_REASON_GLARE);
    CHECK(loser == to_b || loser == to_a);
    wd_outgoing_invite *winner = loser == to_b ? to_a : to_b;
    wd_cancel_reason cr = WD_CANCEL_REASON_NONE;
    CHECK_RESULT(wd_outgoing_invite_cancel_reason(loser, &cr), WD_RESULT_OK);
    CHECK(cr == WD_CANCEL_REASON_GLARE);
    wd_outgoing_status st = WD_OUTGOING_STATUS_CANCELED;
    CHECK_RESULT(wd_outgoing_invite_status(winner, &st), WD_RESULT_OK);
    CHECK(st == WD_OUTGOING_STATUS_PENDING);

    /* The survivor, canceled here: CALLER_CANCELED in its event. */
    CHECK_RESULT(wd_outgoing_invite_cancel(winner), WD_RESULT_OK);
    WAIT_EVENTS(&c.r, 2);
    wd_outgoing_invite *second = NULL;
    CHECK(cancel_reason_at(&c, 1, &second) == WD_CANCEL_REASON_CALLER_CANCELED);
    CHECK(second == winner);

    wd_client_free(a);
    wd_client_free(b);
    CHECK(events(&c.r) == 2);
    wd_outgoing_invite_free(to_b);
    wd_outgoing_invite_free(to_a);
    recorder_destroy(&c.r);
}

int main(void)
{
    recorder_init(&bob_invites);
    alice = connect_as("alice", NULL);
    bob = connect_as("bob", NULL);
    CHECK_RESULT(wd_client_set_invite_callback(bob, recorder_on_invite, &bob_invites,
                                               recorder_release),
                 WD_RESULT_OK);
    test_free_inside_callback();
    test_cancel_inside_callback();
    test_client_free_inside_callback();
    test_late_listeners();
    test_release_counts();
    test_glare_reason_in_callback();
    wd_client_free(alice);
    wd_client_free(bob);
    /* Replaced in test_cancel_inside_callback (set again without release). */
    CHECK(releases(&bob_invites) == 1);
    recorder_destroy(&bob_invites);
    return check_summary("test_callbacks");
}
