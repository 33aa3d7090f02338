package com.wilddog.video

import java.io.InputStream
import java.io.OutputStream
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.net.URI
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import kotlin.concurrent.thread

/**
 * A TCP forwarder on loopback in front of a real server: tests cut its
 * connections (a lost link) or hold new ones before they reach the server (a
 * slow connect).
 */
class TcpProxy(target: String) : AutoCloseable {
    private val host: String
    private val port: Int
    private val server = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
    private val sockets = ConcurrentLinkedQueue<Socket>()

    /** The address to connect to instead of the server's. */
    val url: String = "ws://127.0.0.1:${server.localPort}"

    /** One entry per TCP connection accepted. */
    val accepted = LinkedBlockingQueue<Unit>()

    /** While set, accepted connections wait for it before the server is dialed. */
    @Volatile
    var hold: CountDownLatch? = null

    init {
        val uri = URI(target)
        host = uri.host
        port = uri.port
        thread(isDaemon = true, name = "proxy-accept") {
            while (!server.isClosed) {
                val client = try {
                    server.accept()
                } catch (e: Exception) {
                    break
                }
                sockets += client
                accepted.put(Unit)
                thread(isDaemon = true, name = "proxy-conn") { serve(client) }
            }
        }
    }

    private fun serve(client: Socket) {
        try {
            hold?.await()
            val upstream = Socket(host, port)
            sockets += upstream
            thread(isDaemon = true, name = "proxy-up") { pump(client.getInputStream(), upstream.getOutputStream(), client, upstream) }
            pump(upstream.getInputStream(), client.getOutputStream(), client, upstream)
        } catch (e: Exception) {
            client.close()
        }
    }

    private fun pump(from: InputStream, to: OutputStream, a: Socket, b: Socket) {
        try {
            from.copyTo(to, 16 * 1024)
        } catch (e: Exception) {
            // A side closed.
        } finally {
            a.close()
            b.close()
        }
    }

    /** Closes every connection now open (the server and the client see the link drop). */
    fun cutAll() {
        while (true) (sockets.poll() ?: return).close()
    }

    override fun close() {
        server.close()
        hold?.countDown()
        cutAll()
    }
}
