/* race_agreement.c - both sides of an invite end the same way, whatever
 * two actions race, across real processes.
 *
 * The parent process is the caller (alice); it forks two processes, each
 * one device of bob, all three connected to the wd-signal at $WD_URL. For
 * every pair of concurrent actions below it runs RACE_ROUNDS rounds
 * (default 1000): alice invites bob, the invite's userData tells each bob
 * device what to do and after how long (0-3 ms after the invite arrived),
 * and alice does her part 0-3 ms after inviting. Each device reports how
 * its invite ended through a pipe; alice checks every report against her
 * own ending:
 *
 *   alice accepted  -> the accepting device accepted, the other device
 *                      canceled (answered_elsewhere)
 *   alice rejected  -> the rejecting device rejected, with her reason;
 *                      the other canceled (answered_elsewhere)
 *   alice canceled  -> both canceled (caller_canceled)
 *   alice failed(timeout) -> both failed(timeout)
 *   alice failed(network) (she dropped her client) -> both
 *                      failed(caller_gone)
 *
 * Pairs: cancel x accept, cancel x reject, accept x reject (two devices),
 * accept x accept, reject x reject, expiry x accept, expiry x reject,
 * caller disconnect x accept, caller disconnect x reject, and a cancel
 * followed at once by the caller's free x accept.
 * Prints one line per pair with its outcome counts and disagreements, and
 * exits non-zero on any disagreement. RACE_ONLY=TEXT runs only the pairs
 * whose name contains TEXT. */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define DEVICES 2

enum action { NONE, ACCEPT, REJECT_DECLINED, REJECT_BUSY, CANCEL, DROP_CLIENT, CANCEL_AND_DROP };

struct pair {
    const char *name;
    enum action caller;
    enum action device[DEVICES];
    unsigned lifetime_ms; /* 0: the default (60 s) */
};

static const struct pair PAIRS[] = {
    {"cancel x accept", CANCEL, {ACCEPT, NONE}, 0},
    {"cancel x reject", CANCEL, {REJECT_DECLINED, NONE}, 0},
    {"accept x reject (two devices)", NONE, {ACCEPT, REJECT_BUSY}, 0},
    {"accept x accept (two devices)", NONE, {ACCEPT, ACCEPT}, 0},
    {"reject x reject (two devices)", NONE, {REJECT_DECLINED, REJECT_BUSY}, 0},
    {"expiry x accept", NONE, {ACCEPT, NONE}, 3},
    {"expiry x reject", NONE, {REJECT_BUSY, NONE}, 3},
    {"caller disconnect x accept", DROP_CLIENT, {ACCEPT, NONE}, 0},
    {"caller disconnect x reject", DROP_CLIENT, {REJECT_DECLINED, NONE}, 0},
    /* The caller cancels and frees its client at once: the cancel's
     * outcome must still reach the devices (not caller_gone). */
    {"cancel, then free x accept", CANCEL_AND_DROP, {ACCEPT, NONE}, 0},
};
#define PAIR_COUNT (int)(sizeof PAIRS / sizeof PAIRS[0])

/* How an invite ended on one side: the event kind's name and reason. */
enum ending { E_NONE, E_ACCEPTED, E_REJECTED, E_CANCELED, E_FAILED };

struct report {
    int32_t round;  /* pair * 1000000 + round */
    int32_t device; /* 0 or 1 */
    int32_t ending; /* enum ending */
    int32_t reason; /* reject, cancel or failure reason by ending */
    int32_t tried;  /* whether this device's accept/reject returned OK */
};

static unsigned rand_us(unsigned *seed) { return (unsigned)rand_r(seed) % 3001u; }

static void sleep_us(unsigned us)
{
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

/* ---- a bob device (child process) --------------------------------------- */

static int report_fd;
static int my_index;
static unsigned device_seed;

struct ringing {
    int32_t round;
    int32_t tried;
};

static void device_release(void *ud) { free(ud); }

static void device_on_incoming(void *ud, wd_incoming_invite *inv, const wd_incoming_event *ev)
{
    struct ringing *r = ud;
    struct report rep = {r->round, my_index, E_NONE, 0, r->tried};
    switch (ev->kind) {
    case WD_INCOMING_EVENT_KIND_ACCEPTED: {
        rep.ending = E_ACCEPTED;
        wd_conversation *conv = NULL;
        if (wd_incoming_invite_conversation(inv, &conv) == WD_RESULT_OK) {
            wd_conversation_disconnect(conv);
            wd_conversation_free(conv);
        }
        break;
    }
    case WD_INCOMING_EVENT_KIND_REJECTED:
        rep.ending = E_REJECTED;
        rep.reason = (int32_t)ev->reject_reason;
        break;
    case WD_INCOMING_EVENT_KIND_CANCELED:
        rep.ending = E_CANCELED;
        rep.reason = (int32_t)ev->cancel_reason;
        break;
    case WD_INCOMING_EVENT_KIND_FAILED:
        rep.ending = E_FAILED;
        rep.reason = (int32_t)ev->failure_reason;
        break;
    default:
        return;
    }
    if (write(report_fd, &rep, sizeof rep) != (ssize_t)sizeof rep)
        _exit(3);
    wd_incoming_invite_free(inv); /* the app's only reference */
}

/* userData: "ROUND A0 D0 A1 D1": per device an action and a delay in us. */
static void device_on_invite(void *ud, wd_incoming_invite *inv)
{
    (void)ud;
    const char *text = NULL;
    int round = -1, act[DEVICES] = {0}, delay[DEVICES] = {0};
    if (wd_incoming_invite_user_data(inv, &text) != WD_RESULT_OK || text == NULL ||
        sscanf(text, "%d %d %d %d %d", &round, &act[0], &delay[0], &act[1], &delay[1]) != 5) {
        wd_incoming_invite_free(inv);
        return;
    }
    struct ringing *r = calloc(1, sizeof *r);
    r->round = round;
    /* First, that the invite is here (alice waits for it before she
     * drops her client, so that every device has something to end). */
    struct report got = {round, my_index, E_NONE, 0, 0};
    if (write(report_fd, &got, sizeof got) != (ssize_t)sizeof got)
        _exit(3);
    enum action a = (enum action)act[my_index];
    if (a != NONE) {
        sleep_us((unsigned)delay[my_index]);
        wd_result res = a == ACCEPT ? wd_incoming_invite_accept(inv, NULL, NULL)
                        : a == REJECT_BUSY
                            ? wd_incoming_invite_reject(inv, WD_REJECT_REASON_BUSY)
                            : wd_incoming_invite_reject(inv, WD_REJECT_REASON_DECLINED);
        r->tried = res == WD_RESULT_OK;
    }
    /* Set after answering: the callback hears the ending once whenever it
     * happened. */
    if (wd_incoming_invite_set_callback(inv, device_on_incoming, r, device_release) !=
        WD_RESULT_OK) {
        free(r);
        wd_incoming_invite_free(inv);
    }
}

static void run_device(int index, int fd, int ready_fd)
{
    my_index = index;
    report_fd = fd;
    device_seed = (unsigned)getpid();
    wd_client *bob = connect_as("race-bob", ",\"dispatch\":\"thread\"");
    if (wd_client_set_invite_callback(bob, device_on_invite, NULL, NULL) != WD_RESULT_OK)
        _exit(4);
    char ok = 1;
    if (write(ready_fd, &ok, 1) != 1)
        _exit(5);
    close(ready_fd);
    /* Serve until the parent closes stdin's pipe (read returns 0). */
    char buf;
    while (read(STDIN_FILENO, &buf, 1) > 0) {
    }
    wd_client_free(bob);
    _exit(0);
}

/* ---- alice (parent) ----------------------------------------------------- */

struct caller_end {
    struct recorder r;
    enum ending ending;
    int reason;
};

static void caller_on_outgoing(void *ud, wd_outgoing_invite *inv, const wd_outgoing_event *ev)
{
    struct caller_end *c = ud;
    enum ending e = E_NONE;
    int reason = 0;
    switch (ev->kind) {
    case WD_OUTGOING_EVENT_KIND_ACCEPTED: {
        e = E_ACCEPTED;
        wd_conversation *conv = NULL;
        if (wd_outgoing_invite_conversation(inv, &conv) == WD_RESULT_OK) {
            wd_conversation_disconnect(conv);
            wd_conversation_free(conv);
        }
        break;
    }
    case WD_OUTGOING_EVENT_KIND_REJECTED:
        e = E_REJECTED;
        reason = (int)ev->reject_reason;
        break;
    case WD_OUTGOING_EVENT_KIND_CANCELED:
        e = E_CANCELED;
        reason = (int)ev->cancel_reason;
        break;
    case WD_OUTGOING_EVENT_KIND_FAILED:
        e = E_FAILED;
        reason = (int)ev->failure_reason;
        break;
    default:
        return;
    }
    pthread_mutex_lock(&c->r.mu);
    c->ending = e;
    c->reason = reason;
    pthread_mutex_unlock(&c->r.mu);
    recorder_push(&c->r, (int)ev->kind);
}

static const char *ending_name(int e)
{
    static const char *names[] = {"none", "accepted", "rejected", "canceled", "failed"};
    return e >= 0 && e <= E_FAILED ? names[e] : "?";
}

/* What the devices reported in one round so far. */
struct round_reports {
    bool received[DEVICES];
    bool ended[DEVICES];
    struct report ending[DEVICES];
};

/* Reads reports of round `round` from `fd` into `rr` (at most WAIT_MS in
 * all) until every device sent its receipt, or with `endings` its ending
 * too. Reports of other rounds are stray: printed and skipped. */
static bool read_reports(int fd, int32_t round, bool endings, struct round_reports *rr)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        bool done = true;
        for (int d = 0; d < DEVICES; d++)
            done = done && (endings ? rr->ended[d] : rr->received[d]);
        if (done)
            return true;
        struct pollfd p = {fd, POLLIN, 0};
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = WAIT_MS - ((now.tv_sec - start.tv_sec) * 1000L +
                               (now.tv_nsec - start.tv_nsec) / 1000000L);
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        struct report rep;
        if (read(fd, &rep, sizeof rep) != (ssize_t)sizeof rep)
            return false;
        if (rep.round != round || rep.device < 0 || rep.device >= DEVICES) {
            fprintf(stderr, "    stray report for round %d (want %d)\n", rep.round, round);
            continue;
        }
        if (rep.ending == E_NONE) {
            rr->received[rep.device] = true;
        } else {
            rr->received[rep.device] = true;
            rr->ended[rep.device] = true;
            rr->ending[rep.device] = rep;
        }
    }
}

/* What device `d` must have ended with, given alice's ending. */
static bool agrees(const struct pair *p, enum ending caller, int reason, const struct report *dev,
                   const struct report all[DEVICES])
{
    /* A device that gave no answer may end on its own copy of a short
     * lifetime before alice's outcome reaches it (docs/PROTOCOL.md): it
     * took no part in the decision. */
    if (p->lifetime_ms && !dev->tried && dev->ending == E_FAILED &&
        dev->reason == WD_FAILURE_REASON_TIMEOUT)
        return true;
    switch (caller) {
    case E_ACCEPTED: {
        /* Exactly one accepting device ended accepted; the others were
         * answered elsewhere. */
        int accepted = 0;
        for (int i = 0; i < DEVICES; i++)
            accepted += all[i].ending == E_ACCEPTED;
        if (accepted != 1)
            return false;
        if (dev->ending == E_ACCEPTED)
            return p->device[dev->device] == ACCEPT && dev->tried;
        return dev->ending == E_CANCELED && dev->reason == WD_CANCEL_REASON_ANSWERED_ELSEWHERE;
    }
    case E_REJECTED: {
        int rejected = 0;
        for (int i = 0; i < DEVICES; i++)
            rejected += all[i].ending == E_REJECTED;
        if (rejected != 1)
            return false;
        if (dev->ending == E_REJECTED)
            return dev->reason == reason && dev->tried &&
                   (p->device[dev->device] == REJECT_BUSY ||
                    p->device[dev->device] == REJECT_DECLINED);
        return dev->ending == E_CANCELED && dev->reason == WD_CANCEL_REASON_ANSWERED_ELSEWHERE;
    }
    case E_CANCELED:
        return dev->ending == E_CANCELED && dev->reason == WD_CANCEL_REASON_CALLER_CANCELED;
    case E_FAILED:
        if (reason == WD_FAILURE_REASON_TIMEOUT)
            return dev->ending == E_FAILED && dev->reason == WD_FAILURE_REASON_TIMEOUT;
        if (reason == WD_FAILURE_REASON_NETWORK)
            return dev->ending == E_FAILED && dev->reason == WD_FAILURE_REASON_CALLER_GONE;
        return false;
    default:
        return false;
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *env = getenv("RACE_ROUNDS");
    int rounds = env && *env ? atoi(env) : 1000;
    int reports[2], ready[2];
    pid_t kids[DEVICES];
    int stdin_pipes[DEVICES][2];
    if (pipe(reports) != 0 || pipe(ready) != 0)
        return 2;
    for (int d = 0; d < DEVICES; d++) {
        if (pipe(stdin_pipes[d]) != 0)
            return 2;
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            dup2(stdin_pipes[d][0], STDIN_FILENO);
            close(stdin_pipes[d][1]);
            close(reports[0]);
            close(ready[0]);
            run_device(d, reports[1], ready[1]);
        }
        kids[d] = pid;
        close(stdin_pipes[d][0]);
    }
    close(reports[1]);
    close(ready[1]);
    for (int d = 0; d < DEVICES; d++) {
        char ok;
        if (read(ready[0], &ok, 1) != 1) {
            fprintf(stderr, "a bob device did not start\n");
            return 2;
        }
    }

    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    int total_disagreements = 0, pairs_run = 0;
    wd_client *alice = connect_as("race-alice", ",\"dispatch\":\"thread\"");
    const char *only = getenv("RACE_ONLY"); /* a part of a pair's name */
    for (int pi = 0; pi < PAIR_COUNT; pi++) {
        const struct pair *p = &PAIRS[pi];
        if (only && *only && !strstr(p->name, only))
            continue;
        int counts[E_FAILED + 1] = {0}, disagreements = 0, lost = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int round = 0; round < rounds; round++) {
            int32_t tag = pi * 1000000 + round;
            char options[256];
            char lifetime[32] = "";
            if (p->lifetime_ms)
                snprintf(lifetime, sizeof lifetime, ",\"lifetimeMs\":%u", p->lifetime_ms);
            snprintf(options, sizeof options,
                     "{\"participantId\":\"race-bob\",\"userData\":\"%d %d %u %d %u\"%s}", tag,
                     (int)p->device[0], rand_us(&seed), (int)p->device[1], rand_us(&seed),
                     lifetime);
            struct caller_end c;
            recorder_init(&c.r);
            c.ending = E_NONE;
            c.reason = 0;
            struct round_reports rr;
            memset(&rr, 0, sizeof rr);
            wd_outgoing_invite *out = NULL;
            wd_result r = wd_client_invite(alice, options, &out);
            if (r != WD_RESULT_OK) {
                fprintf(stderr, "invite failed: %s (%s)\n", wd_result_message(r),
                        check_last_error());
                return 2;
            }
            wd_outgoing_invite_set_callback(out, caller_on_outgoing, &c, NULL);
            if (p->caller == CANCEL) {
                sleep_us(rand_us(&seed));
                wd_outgoing_invite_cancel(out); /* INVALID_STATE if decided */
            } else if (p->caller == DROP_CLIENT || p->caller == CANCEL_AND_DROP) {
                if (!read_reports(reports[0], tag, false, &rr)) {
                    fprintf(stderr, "%s round %d: the invite did not arrive\n", p->name, round);
                    return 2;
                }
                sleep_us(rand_us(&seed));
                if (p->caller == CANCEL_AND_DROP)
                    wd_outgoing_invite_cancel(out); /* INVALID_STATE if decided */
                wd_client_free(alice); /* ends it failed(network) unless decided */
                alice = NULL;
            }
            bool ended = recorder_wait(&c.r, &c.r.n, 1);
            bool heard = read_reports(reports[0], tag, true, &rr);
            struct report *dev = rr.ending;
            if (!ended || !heard) {
                lost++;
                fprintf(stderr,
                        "%s round %d: no ending heard (alice %s(%d); devices received %d %d, "
                        "ended %d %d)\n",
                        p->name, round, ending_name(c.ending), c.reason, rr.received[0],
                        rr.received[1], rr.ended[0], rr.ended[1]);
            } else {
                counts[c.ending]++;
                for (int d = 0; d < DEVICES; d++) {
                    if (!agrees(p, c.ending, c.reason, &dev[d], dev)) {
                        disagreements++;
                        if (disagreements <= 5)
                            fprintf(stderr,
                                    "%s round %d: alice %s(%d) but device %d %s(%d) "
                                    "(answered: %d)\n",
                                    p->name, round, ending_name(c.ending), c.reason, d,
                                    ending_name(dev[d].ending), dev[d].reason, dev[d].tried);
                        break;
                    }
                }
            }
            wd_outgoing_invite_free(out);
            recorder_destroy(&c.r);
            if (alice == NULL)
                alice = connect_as("race-alice", ",\"dispatch\":\"thread\"");
            if (lost > 0)
                break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L;
        printf("%-32s %5d rounds: accepted %d, rejected %d, canceled %d, failed %d; "
               "%d disagreements (%ld ms)\n",
               p->name, rounds, counts[E_ACCEPTED], counts[E_REJECTED], counts[E_CANCELED],
               counts[E_FAILED], disagreements + lost, ms);
        fflush(stdout);
        total_disagreements += disagreements + lost;
        pairs_run++;
        CHECK(disagreements == 0 && lost == 0);
    }
    wd_client_free(alice);
    for (int d = 0; d < DEVICES; d++)
        close(stdin_pipes[d][1]);
    for (int d = 0; d < DEVICES; d++) {
        int status = 0;
        waitpid(kids[d], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    printf("%d pairs, %d disagreements\n", pairs_run, total_disagreements);
    return check_summary("race_agreement");
}
