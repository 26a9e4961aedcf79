package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.CborWriter
import dev.hostcall.runtime.DecodeException
import dev.hostcall.runtime.Outcome
import dev.hostcall.runtime.Reply
import dev.hostcall.runtime.Runtime
import dev.hostcall.runtime.Upcalls
import kotlin.reflect.KClass
import kotlin.time.Duration.Companion.milliseconds
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancel
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * Failures reach Kotlin classified by their outcome code, never by their
 * text: each kind of the runtime's own failures as its member of the sealed
 * [CallException], the library's own errors as [CallException.LibraryError].
 */
class OutcomeTest : DemoTest() {
    private val kinds: List<Pair<Int, KClass<out CallException>>> = listOf(
        Outcome.ERR to CallException.LibraryError::class,
        Outcome.SHUTTING_DOWN to CallException.ShuttingDown::class,
        Outcome.OVERLOADED to CallException.Overloaded::class,
        Outcome.TIMED_OUT to CallException.TimedOut::class,
        Outcome.CANCELLED to CallException.Cancelled::class,
        Outcome.NOT_REGISTERED to CallException.NotRegistered::class,
        Outcome.INVALID_ARG to CallException.InvalidArgument::class,
        Outcome.PANIC to CallException.Panicked::class,
        Outcome.PROCESS_DIED to CallException.ProcessDied::class,
        Outcome.ERR_TYPED to CallException.Other::class, // reserved: no member of its own yet
        42 to CallException.Other::class, // a code of a newer library
        Int.MAX_VALUE to CallException.Other::class,
        CallException.REPLY_LOST to CallException.ReplyLost::class,
    )

    /** A Kotlin runtime with no library behind it; replies are injected through [Upcalls]. */
    private inline fun <T> bare(body: (Runtime) -> T): T {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val runtime = Runtime(scope, 0) { _, _, _ -> 0 }
        try {
            return body(runtime)
        } finally {
            runtime.close()
            scope.cancel()
        }
    }

    @Test
    fun `every outcome code reaches Kotlin as its kind, through both reply upcalls`() = bounded {
        bare { runtime ->
            for ((code, kind) in kinds) {
                for (typed in listOf(false, true)) {
                    val reply = runtime.call { key ->
                        val text = "text of $code".encodeToByteArray()
                        if (typed) Upcalls.replyValue(key, code, 7, text) else Upcalls.reply(key, code, text)
                    }
                    assertFalse(reply.ok, "code $code")
                    val e = reply.failure("m")
                    assertEquals(kind, e::class, "code $code (typed: $typed)")
                    assertEquals(code, e.code)
                    if (code == CallException.REPLY_LOST) {
                        e.checkText("m", "the reply could not be copied into the JVM")
                    } else {
                        e.checkText("m", "text of $code")
                    }
                }
            }
            // Success is RET_OK alone.
            val ok = runtime.call { key -> Upcalls.replyValue(key, Outcome.OK, 7, null) }
            assertTrue(ok.ok)
            assertEquals(7L, ok.value)
        }
    }

    @Test
    fun `the kind never comes from the text`() {
        val e = CallException.of("login", Outcome.ERR, "context shutting down")
        assertTrue(e is CallException.LibraryError && !e.shuttingDown, "$e")
        val p = CallException.of("login", Outcome.SHUTTING_DOWN, "handler 'x' panicked: y")
        assertTrue(p is CallException.ShuttingDown && p.shuttingDown, "$p")
        assertEquals("login: handler 'x' panicked: y", p.message)
    }

    @Test
    fun `an event that is not RET_OK fails its flow`() = bounded {
        bare { runtime ->
            run {
                val subscribed = CompletableDeferred<Long>()
                val flow = runtime.events(subscribe = { key -> subscribed.complete(key); 1L }, unsubscribe = {}, decode = { it })
                val collected = async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                    runCatching { flow.collect { } }
                }
                Upcalls.event(subscribed.within("the subscription"), Outcome.PANIC, "odd".encodeToByteArray())
                val e = collected.within("the flow to end").exceptionOrNull()
                assertTrue(e is DecodeException && e.message!!.contains("RET_PANIC"), "the flow ended with $e")
            }
        }
    }

    /** A context of the library with a bare runtime: requests go in as CBOR (or through the native entry points) as made here. */
    private class Raw(hostFns: Int = 2) : AutoCloseable {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val handle = DemoNative.create(DemoConfig().encode())
        val runtime = Runtime(scope, hostFns) { token, ret, payload -> DemoNative.hostComplete(handle, token, ret, payload) }
        private var destroyed = false

        suspend fun cbor(method: Int, request: ByteArray): Reply = runtime.call { key -> DemoNative.call(handle, method, request, key) }

        fun destroy() {
            if (!destroyed) DemoNative.destroy(handle)
            destroyed = true
        }

        override fun close() {
            destroy()
            runtime.close()
            scope.cancel()
        }
    }

    private fun request(vararg texts: String): ByteArray =
        CborWriter().array(texts.size).apply { texts.forEach { text(it) } }.bytes()

    private companion object {
        // Indices into demo_jni.c's methods[].
        const val ADD = 1
        const val LOGIN = 2
        const val PANIC_WITH = 6
    }

    @Test
    fun `a login pending at close is ShuttingDown, by the library's own reply`() = bounded {
        // The typed API.
        val demo = Demo.open()
        val started = CompletableDeferred<Unit>()
        demo.fetchProfile { started.complete(Unit); awaitCancellation() }
        val login = async(Dispatchers.Default) { runCatching { demo.login("u") } }
        started.within("fetch_profile to start")
        demo.close()
        val e = login.within("the login").exceptionOrNull()
        assertTrue(e is CallException.ShuttingDown, "the login pending at close: $e")
        (e as CallException).checkText("login", "context shutting down")

        // The library's reply itself carries RET_SHUTTING_DOWN (the runtime's
        // own sweep at close, which could answer the same, has not run yet).
        Raw().use { raw ->
            val fetching = CompletableDeferred<Unit>()
            val notifying = CompletableDeferred<Unit>()
            raw.runtime.hostFn(0, register = { DemoNative.registerHostFn(raw.handle, 0, it) }) { fetching.complete(Unit); awaitCancellation() }
            raw.runtime.hostFn(1, register = { DemoNative.registerHostFn(raw.handle, 1, it) }) { notifying.complete(Unit); awaitCancellation() }
            val cbor = async(Dispatchers.Default) { raw.cbor(LOGIN, request("u")) }
            val native = async(Dispatchers.Default) {
                raw.runtime.call { key -> DemoNative.nativePingHost(raw.handle, "hi".encodeToByteArray(), key) }
            }
            fetching.within("fetch_profile to start")
            notifying.within("notify to start")
            raw.destroy()
            for ((what, reply) in listOf("login (CBOR)" to cbor, "ping_host (native)" to native)) {
                val r = reply.within(what)
                assertEquals(Outcome.SHUTTING_DOWN, r.code, "$what: ${r.message}")
                assertTrue(r.failure("m") is CallException.ShuttingDown, what)
                assertEquals("context shutting down", r.message, what)
            }
        }
    }

    @Test
    fun `a panic is Panicked, through CBOR and the native entry point`() = bounded {
        Demo.open().use { demo ->
            thrownBy<CallException.Panicked> { demo.panicWith("native") } // panic_with is a native handler
                .checkText("panic_with", "handler 'panic_with' panicked: native")
            assertEquals(3L, demo.add(1, 2)) // the context goes on
        }
        Raw().use { raw ->
            val reply = raw.cbor(PANIC_WITH, request("cbor"))
            assertEquals(Outcome.PANIC, reply.code, reply.message)
            thrownBy<CallException.Panicked> { throw reply.failure("panic_with") }
                .checkText("panic_with", "handler 'panic_with' panicked: cbor")
        }
    }

    @Test
    fun `bad arguments are InvalidArgument (not reachable through the typed API)`() = bounded {
        // The typed API cannot send them: its arguments are typed Kotlin
        // values, encoded by the generated code (and text is always valid
        // UTF-8). Only a raw request can.
        Raw().use { raw ->
            val cases = listOf(
                "add of text" to raw.cbor(ADD, request("x", "y")),
                "add of one argument" to raw.cbor(ADD, CborWriter().array(1).int(1).bytes()),
                "login of no array" to raw.cbor(LOGIN, CborWriter().text("u").bytes()),
            )
            for ((what, reply) in cases) {
                assertEquals(Outcome.INVALID_ARG, reply.code, "$what: ${reply.message}")
                val e = reply.failure("add")
                assertTrue(e is CallException.InvalidArgument, "$what: $e")
                assertTrue(e.text.startsWith("bad request for "), "$what: ${e.text}")
            }
        }
    }

    @Test
    fun `demo's own errors stay the library's error`() = bounded {
        Demo.open(DemoConfig(hostCallTimeout = 20.milliseconds)).use { demo ->
            thrownBy<CallException> { demo.add(Long.MAX_VALUE, 1) }.check("add", "integer overflow") // a native i64 reply
            // Runtime failures demo's handlers turn into their own text (map_err): RET_ERR.
            thrownBy<CallException> { demo.login("u") }.check("login", "host fn 'fetch_profile' not registered")
            thrownBy<CallException> { demo.pingHost("u") }.check("ping_host", "host fn 'notify' not registered")
            demo.fetchProfile { awaitCancellation() }
            thrownBy<CallException> { demo.login("u") }.check("login", "timed out after 20 ms")
            demo.fetchProfile { error("db down") }
            thrownBy<CallException> { demo.loginMany(listOf("a")) }.check("login_many", "host fetch failed: db down")
        }
    }
}
