#!/usr/bin/env bash
# End to end through a real Sygnal (the Matrix push gateway, PyPI
# `matrix-sygnal`): installs it into target/sygnal-venv, starts it with a
# Web Push app on a free loopback port, and runs the `through_a_real_sygnal`
# test of server/tests/push.rs against it: an invite to a sleeping callee
# must reach, through wd-signal and Sygnal's webpush pushkin, the Web Push
# endpoint the test runs (as an encrypted aes128gcm POST).
#
# When Sygnal cannot be installed here (no PyPI, or PyPI without it), it
# says so and exits 0: the loopback gateway of the push tests speaks the
# same API and runs in every `cargo test`.
set -u
cd "$(dirname "$0")/../.."
venv=target/sygnal-venv
work=$(mktemp -d "${TMPDIR:-/tmp}/wd-sygnal.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sygnal' 2>/dev/null; then
    python3 -m venv "$venv" >"$work/venv.log" 2>&1 \
        && "$venv/bin/pip" install -q matrix-sygnal >"$work/pip.log" 2>&1
    if ! "$venv/bin/python" -c 'import sygnal' 2>/dev/null; then
        echo "skipped: matrix-sygnal cannot be installed here: $(tail -n 1 "$work/pip.log" 2>/dev/null || tail -n 1 "$work/venv.log")"
        exit 0
    fi
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl ecparam -name prime256v1 -genkey -noout -out "$work/vapid.pem" 2>/dev/null
cat >"$work/sygnal.yaml" <<YAML
http:
  bind_addresses: ['127.0.0.1']
  port: $port
apps:
  com.example.web:
    type: webpush
    vapid_private_key: $work/vapid.pem
    vapid_contact_email: ops@example.com
YAML
SYGNAL_CONF="$work/sygnal.yaml" "$venv/bin/python" -m sygnal.sygnal >"$work/sygnal.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "Sygnal did not start:"; cat "$work/sygnal.log"; exit 1; }
    sleep 0.1
done
WD_SYGNAL_URL="http://127.0.0.1:$port" WD_SYGNAL_APP=com.example.web \
    cargo test --locked -p wd-signal --test push -- --ignored --exact through_a_real_sygnal
