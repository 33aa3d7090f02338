// wilddog.hpp - a small C++17 layer over the C API (include/wilddog_video.h):
// RAII handles (std::unique_ptr with the matching wd_*_free), exceptions for
// non-OK results (with wd_last_error's detail), std::function listeners
// (the SDK owns a heap copy; its release callback deletes it).
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "wilddog_video.h"

namespace wd {

// A non-OK wd_result, with the SDK's description and detail.
class Error : public std::runtime_error {
public:
    Error(wd_result code, const std::string &what) : std::runtime_error(what), code_(code) {}
    wd_result code() const noexcept { return code_; }

private:
    wd_result code_;
};

inline std::string last_error()
{
    size_t needed = 0;
    wd_last_error(nullptr, 0, &needed);  // size query
    std::string text(needed, '\0');
    if (wd_last_error(text.data(), text.size(), &needed) != WD_RESULT_OK)
        return {};
    text.resize(needed - 1);  // drop the NUL
    return text;
}

inline void check(wd_result r, const char *call)
{
    if (r != WD_RESULT_OK)
        throw Error(r, std::string(call) + ": " + wd_result_message(r) + " (" + last_error() + ")");
}

// Copies out a string through a wd_* copy-out function, growing as needed.
template <typename H, typename F>
std::string copy_out(const H *handle, F fn, const char *call)
{
    size_t needed = 64;
    std::string buf;
    for (;;) {
        buf.resize(needed);
        wd_result r = fn(handle, buf.data(), buf.size(), &needed);
        if (r == WD_RESULT_OK) {
            buf.resize(needed - 1);
            return buf;
        }
        if (r != WD_RESULT_BUFFER_TOO_SMALL)
            check(r, call);
    }
}

template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const noexcept { Free(p); }
};

// Hands a std::function to the SDK as user_data: the SDK calls release
// (deleting it) exactly once. Exceptions never cross into C.
template <typename Fn>
struct Listener {
    static void release(void *user_data) { delete static_cast<Fn *>(user_data); }

    template <typename... Args>
    static void call(void *user_data, Args &&...args) noexcept
    {
        try {
            (*static_cast<Fn *>(user_data))(std::forward<Args>(args)...);
        } catch (const std::exception &e) {
            std::fprintf(stderr, "listener threw: %s\n", e.what());
        }
    }
};

// Registers `fn` through `set(handle, trampoline, user_data, release)`.
template <typename Fn, typename H, typename Set, typename Tramp>
void set_listener(H *handle, Set set, Tramp trampoline, Fn fn, const char *call)
{
    auto *heap = new Fn(std::move(fn));
    wd_result r = set(handle, trampoline, heap, &Listener<Fn>::release);
    if (r != WD_RESULT_OK) {
        delete heap;  // the SDK took ownership only on OK
        check(r, call);
    }
}

class Conversation {
public:
    explicit Conversation(wd_conversation *h) : h_(h) {}
    std::string id() const
    {
        const char *s = nullptr;
        check(wd_conversation_id(h_.get(), &s), "wd_conversation_id");
        return s;
    }
    std::string participants() const
    {
        return copy_out(h_.get(), wd_conversation_participants, "wd_conversation_participants");
    }
    void disconnect() { check(wd_conversation_disconnect(h_.get()), "wd_conversation_disconnect"); }

    using Fn = std::function<void(const wd_conversation_event &)>;
    void on_event(Fn fn)
    {
        set_listener(h_.get(), wd_conversation_set_callback, &trampoline, std::move(fn),
                     "wd_conversation_set_callback");
    }

private:
    static void trampoline(void *ud, wd_conversation *, const wd_conversation_event *ev)
    {
        Listener<Fn>::call(ud, *ev);
    }
    std::unique_ptr<wd_conversation, Deleter<wd_conversation, wd_conversation_free>> h_;
};

class OutgoingInvite {
public:
    explicit OutgoingInvite(wd_outgoing_invite *h) : h_(h) {}
    wd_outgoing_status status() const
    {
        wd_outgoing_status s{};
        check(wd_outgoing_invite_status(h_.get(), &s), "wd_outgoing_invite_status");
        return s;
    }
    std::string conversation_id() const
    {
        const char *s = nullptr;
        check(wd_outgoing_invite_conversation_id(h_.get(), &s),
              "wd_outgoing_invite_conversation_id");
        return s;
    }
    std::string answer_user_data() const
    {
        return copy_out(h_.get(), wd_outgoing_invite_answer_user_data,
                        "wd_outgoing_invite_answer_user_data");
    }
    Conversation conversation()
    {
        wd_conversation *c = nullptr;
        check(wd_outgoing_invite_conversation(h_.get(), &c), "wd_outgoing_invite_conversation");
        return Conversation(c);
    }
    void cancel() { check(wd_outgoing_invite_cancel(h_.get()), "wd_outgoing_invite_cancel"); }

    using Fn = std::function<void(const wd_outgoing_event &)>;
    void on_event(Fn fn)
    {
        set_listener(h_.get(), wd_outgoing_invite_set_callback, &trampoline, std::move(fn),
                     "wd_outgoing_invite_set_callback");
    }

private:
    static void trampoline(void *ud, wd_outgoing_invite *, const wd_outgoing_event *ev)
    {
        Listener<Fn>::call(ud, *ev);
    }
    std::unique_ptr<wd_outgoing_invite, Deleter<wd_outgoing_invite, wd_outgoing_invite_free>> h_;
};

class IncomingInvite {
public:
    explicit IncomingInvite(wd_incoming_invite *h) : h_(h) {}
    std::string from() const { return text(wd_incoming_invite_from, "wd_incoming_invite_from"); }
    std::string user_data() const
    {
        return text(wd_incoming_invite_user_data, "wd_incoming_invite_user_data");
    }
    wd_incoming_status status() const
    {
        wd_incoming_status s{};
        check(wd_incoming_invite_status(h_.get(), &s), "wd_incoming_invite_status");
        return s;
    }
    void accept(const char *answer, const char *user_data)
    {
        check(wd_incoming_invite_accept(h_.get(), answer, user_data), "wd_incoming_invite_accept");
    }
    void reject(wd_reject_reason why)
    {
        check(wd_incoming_invite_reject(h_.get(), why), "wd_incoming_invite_reject");
    }

    using Fn = std::function<void(const wd_incoming_event &)>;
    void on_event(Fn fn)
    {
        set_listener(h_.get(), wd_incoming_invite_set_callback, &trampoline, std::move(fn),
                     "wd_incoming_invite_set_callback");
    }

private:
    using Getter = wd_result (*)(const wd_incoming_invite *, const char **);
    std::string text(Getter get, const char *call) const
    {
        const char *s = nullptr;
        check(get(h_.get(), &s), call);
        return s ? s : "";  // userData and offer may be absent
    }
    static void trampoline(void *ud, wd_incoming_invite *, const wd_incoming_event *ev)
    {
        Listener<Fn>::call(ud, *ev);
    }
    std::unique_ptr<wd_incoming_invite, Deleter<wd_incoming_invite, wd_incoming_invite_free>> h_;
};

class Client {
public:
    explicit Client(const std::string &config_json)
    {
        wd_client *c = nullptr;
        check(wd_client_new(config_json.c_str(), &c), "wd_client_new");
        h_.reset(c);
    }
    std::string uid() const
    {
        const char *s = nullptr;
        check(wd_client_uid(h_.get(), &s), "wd_client_uid");
        return s;
    }
    OutgoingInvite invite(const std::string &options_json)
    {
        wd_outgoing_invite *out = nullptr;
        check(wd_client_invite(h_.get(), options_json.c_str(), &out), "wd_client_invite");
        return OutgoingInvite(out);
    }

    // The listener gets each invite as an owned IncomingInvite.
    using Fn = std::function<void(IncomingInvite)>;
    void on_invite(Fn fn)
    {
        set_listener(h_.get(), wd_client_set_invite_callback, &trampoline, std::move(fn),
                     "wd_client_set_invite_callback");
    }

private:
    static void trampoline(void *ud, wd_incoming_invite *invite)
    {
        Listener<Fn>::call(ud, IncomingInvite(invite));  // a new reference: ours now
    }
    std::unique_ptr<wd_client, Deleter<wd_client, wd_client_free>> h_;
};

}  // namespace wd
