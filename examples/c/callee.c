/* callee.c - bob answers alice's invites as their userData says:
 * "scenario:accept", "scenario:reject", or anything else: let it ring.
 * Exits after the fourth invite has ended.
 *
 * This program uses "manual" dispatch: every callback runs inside
 * wd_client_dispatch(), on main()'s thread, so no locks are needed.
 *
 *   callee ws://127.0.0.1:PORT
 */
#include <stdio.h>
#include <string.h>

#include "wilddog_video.h"

#define INVITES 4
#define IDLE_LIMIT 30 /* give up after this many idle seconds */

static int ended;                  /* invites that reached their outcome */
static wd_conversation *conversation; /* the one accepted call */

static void on_conversation_event(void *user_data, wd_conversation *conv,
                                  const wd_conversation_event *event)
{
    (void)user_data;
    (void)conv;
    if (event->kind == WD_CONVERSATION_EVENT_KIND_PARTICIPANT_DISCONNECTED)
        printf("[callee] %s %s\n", event->participant_uid,
               event->participant_left_reason == WD_PARTICIPANT_LEFT_REASON_CONNECTION_LOST
                   ? "lost its connection"
                   : "left the conversation");
    else
        printf("[callee] conversation over\n");
}

static void on_invite_event(void *user_data, wd_incoming_invite *invite,
                            const wd_incoming_event *event)
{
    (void)user_data;
    switch (event->kind) {
    case WD_INCOMING_EVENT_KIND_ACCEPTED:
        printf("[callee] accepted: in the conversation\n");
        wd_incoming_invite_conversation(invite, &conversation);
        wd_conversation_set_callback(conversation, on_conversation_event, NULL, NULL);
        break;
    case WD_INCOMING_EVENT_KIND_REJECTED:
        printf("[callee] rejected\n");
        break;
    case WD_INCOMING_EVENT_KIND_CANCELED:
        printf("[callee] canceled by the caller (reason %u)\n", event->cancel_reason);
        break;
    case WD_INCOMING_EVENT_KIND_FAILED:
        printf("[callee] failed (reason %u%s)\n", event->failure_reason,
               event->failure_reason == WD_FAILURE_REASON_TIMEOUT ? ": timeout" : "");
        break;
    }
    ended++;
    wd_incoming_invite_free(invite); /* allowed inside its own callback */
}

static void on_invite(void *user_data, wd_incoming_invite *invite)
{
    (void)user_data;
    const char *from = NULL, *id = NULL, *scenario = NULL;
    wd_incoming_invite_from(invite, &from);
    wd_incoming_invite_conversation_id(invite, &id);
    wd_incoming_invite_user_data(invite, &scenario);
    if (scenario == NULL)
        scenario = "";
    printf("[callee] invite from %s conversation %s userData \"%s\"\n", from, id, scenario);

    /* The invite callback owns `invite`; on_invite_event frees it. */
    wd_incoming_invite_set_callback(invite, on_invite_event, NULL, NULL);
    wd_result r = WD_RESULT_OK;
    if (strcmp(scenario, "scenario:accept") == 0)
        r = wd_incoming_invite_accept(invite, "v=0 answer", "hello alice");
    else if (strcmp(scenario, "scenario:reject") == 0)
        r = wd_incoming_invite_reject(invite, WD_REJECT_REASON_DECLINED);
    else
        printf("[callee] letting it ring\n");
    if (r != WD_RESULT_OK)
        printf("[callee] answering failed: %s\n", wd_result_message(r));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: callee ws://HOST:PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char config[512];
    snprintf(config, sizeof config,
             "{\"url\":\"%s\",\"token\":\"dev:bob\",\"dispatch\":\"manual\"}", argv[1]);
    wd_client *client = NULL;
    wd_result r = wd_client_new(config, &client);
    if (r != WD_RESULT_OK) {
        fprintf(stderr, "[callee] connect: %s\n", wd_result_message(r));
        return 1;
    }
    wd_client_set_invite_callback(client, on_invite, NULL, NULL);
    printf("[callee] ready\n"); /* run.sh starts the caller after this line */

    int idle = 0;
    while (ended < INVITES && idle < IDLE_LIMIT) {
        size_t handled = 0;
        wd_client_dispatch(client, 1000, &handled); /* runs due callbacks, here */
        idle = handled > 0 ? 0 : idle + 1;
    }
    wd_conversation_free(conversation);
    wd_client_free(client);
    printf("[callee] %d invites ended\n", ended);
    return ended == INVITES ? 0 : 1;
}
