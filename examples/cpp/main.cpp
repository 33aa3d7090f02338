// main.cpp - alice and bob in one process (two clients), through the C++
// layer in wilddog.hpp: one accepted call, one call alice cancels while
// it rings. Exits non-zero if an outcome is not the expected one.
//
//   invite_demo ws://127.0.0.1:PORT
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "wilddog.hpp"

using namespace std::chrono_literals;

// A value set on one thread and taken (waiting, with a bound) on another.
template <typename T>
class Mailbox {
public:
    void put(T value)
    {
        std::lock_guard<std::mutex> lock(mu_);
        value_ = std::move(value);
        cv_.notify_all();
    }
    std::optional<T> take(std::chrono::milliseconds bound = 10s)
    {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, bound, [&] { return value_.has_value(); });
        return std::exchange(value_, std::nullopt);
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::optional<T> value_;
};

static int failures = 0;

static void expect(bool ok, const std::string &what)
{
    std::cout << "[demo] " << what << ": " << (ok ? "ok" : "MISMATCH") << "\n";
    failures += !ok;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::cerr << "usage: invite_demo ws://HOST:PORT\n";
        return 2;
    }
    const std::string url = argv[1];
    try {
        // Declared before the clients, so they outlive the listeners that
        // use them (destruction runs in reverse).
        std::mutex bob_mu;
        Mailbox<wd_incoming_event_kind> bob_outcome;
        std::vector<wd::IncomingInvite> bob_invites;

        wd::Client alice(R"({"url":")" + url + R"(","token":"dev:alice"})");
        wd::Client bob(R"({"url":")" + url + R"(","token":"dev:bob"})");

        // Bob answers as the invite's userData says, and keeps the invite
        // (the listener runs on bob's event thread).
        bob.on_invite([&](wd::IncomingInvite invite) {
            std::cout << "[bob] invite from " << invite.from() << " \"" << invite.user_data()
                      << "\"\n";
            invite.on_event([&](const wd_incoming_event &ev) { bob_outcome.put(ev.kind); });
            if (invite.user_data() == "please pick up")
                invite.accept("v=0 answer", "hi alice");
            std::lock_guard<std::mutex> lock(bob_mu);
            bob_invites.push_back(std::move(invite));
        });

        // 1. Accepted.
        {
            Mailbox<wd_outgoing_event_kind> outcome;
            auto call = alice.invite(R"({"participantId":"bob","userData":"please pick up"})");
            std::cout << "[alice] invite -> bob conversation " << call.conversation_id() << "\n";
            call.on_event([&](const wd_outgoing_event &ev) {
                if (ev.kind != WD_OUTGOING_EVENT_KIND_RINGING)
                    outcome.put(ev.kind);
            });
            auto got = outcome.take();
            expect(got == WD_OUTGOING_EVENT_KIND_ACCEPTED, "accepted event");
            expect(call.status() == WD_OUTGOING_STATUS_ACCEPTED, "accepted status");
            expect(bob_outcome.take() == WD_INCOMING_EVENT_KIND_ACCEPTED, "bob accepted");
            if (got == WD_OUTGOING_EVENT_KIND_ACCEPTED) {
                std::cout << "[alice] bob says \"" << call.answer_user_data() << "\"\n";
                Mailbox<bool> left;
                auto conversation = call.conversation();
                std::cout << "[alice] with " << conversation.participants() << "\n";
                conversation.on_event([&](const wd_conversation_event &ev) {
                    if (ev.kind == WD_CONVERSATION_EVENT_KIND_DISCONNECTED)
                        left.put(true);
                });
                conversation.disconnect();
                expect(left.take().has_value(), "left the conversation");
                // A second disconnect is refused with an exception.
                try {
                    conversation.disconnect();
                    expect(false, "second disconnect refused");
                } catch (const wd::Error &e) {
                    std::cout << "[alice] " << e.what() << "\n";
                    expect(e.code() == WD_RESULT_INVALID_STATE, "second disconnect refused");
                }
            }
        }

        // 2. Canceled while it rings.
        {
            Mailbox<bool> ringing;
            Mailbox<wd_outgoing_event_kind> outcome;
            auto call = alice.invite(R"({"participantId":"bob","userData":"just ring"})");
            std::cout << "[alice] invite -> bob conversation " << call.conversation_id() << "\n";
            call.on_event([&](const wd_outgoing_event &ev) {
                if (ev.kind == WD_OUTGOING_EVENT_KIND_RINGING)
                    ringing.put(true);
                else
                    outcome.put(ev.kind);
            });
            expect(ringing.take().has_value(), "ringing");
            call.cancel();
            expect(call.status() == WD_OUTGOING_STATUS_CANCELED, "canceled status");
            expect(outcome.take() == WD_OUTGOING_EVENT_KIND_CANCELED, "canceled event");
            expect(bob_outcome.take() == WD_INCOMING_EVENT_KIND_CANCELED, "bob canceled");
        }
        // Leaving the scope frees everything, listeners included (their
        // std::function copies are deleted by the release callbacks).
    } catch (const wd::Error &e) {
        std::cerr << "[demo] " << e.what() << "\n";
        return 1;
    }
    std::cout << "[demo] " << (failures ? "FAILED" : "all outcomes as expected") << "\n";
    return failures ? 1 : 0;
}
