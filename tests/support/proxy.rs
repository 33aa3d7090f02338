#![allow(dead_code)]
//! A TCP proxy between a client and a server that a test controls: it
//! forwards bytes, can cut every connection abruptly, refuse new ones,
//! or freeze (hold every byte while keeping the sockets open, like a
//! frozen peer).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const FORWARD: u8 = 0;
const REFUSE: u8 = 1;
const FREEZE: u8 = 2;

pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (m, o) = (mode.clone(), open.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if m.load(Ordering::SeqCst) != FORWARD {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut o = o.lock().unwrap();
                    o.push(client.try_clone().unwrap());
                    o.push(server.try_clone().unwrap());
                }
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    m.clone(),
                );
                pump(server, client, m.clone());
            }
        });
        Proxy { addr, mode, open }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Closes every connection now and refuses new ones.
    pub fn cut_and_refuse(&self) {
        self.mode.store(REFUSE, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Holds every byte from now on, keeping the connections open.
    pub fn freeze(&self) {
        self.mode.store(FREEZE, Ordering::SeqCst);
    }

    /// Forwards new connections again (frozen or cut ones stay dead).
    pub fn resume(&self) {
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.mode.store(FORWARD, Ordering::SeqCst);
    }
}

/// Copies `from` → `to` until either closes; while frozen, reads nothing.
fn pump(mut from: TcpStream, mut to: TcpStream, mode: Arc<AtomicU8>) {
    thread::spawn(move || {
        let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
        let mut buf = [0u8; 16 * 1024];
        let mut frozen = false;
        loop {
            frozen |= mode.load(Ordering::SeqCst) == FREEZE;
            if frozen {
                // A frozen peer: keep the socket, move nothing. Ends when
                // the test cuts or resumes (which shuts the socket down).
                thread::sleep(Duration::from_millis(20));
                if from.peek(&mut [0u8; 1]).is_ok_and(|n| n == 0) {
                    break;
                }
                continue;
            }
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
