package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.InterfaceMismatchException
import dev.hostcall.runtime.Outcome
import dev.hostcall.runtime.Status
import dev.hostcall.runtime.StatusException
import java.io.File
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.TimeSource
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class CallsTest : DemoTest() {
    @Test
    fun `login goes through a Kotlin host fn`() = bounded {
        Demo.open().use { demo ->
            val asked = ConcurrentLinkedQueue<String>()
            demo.fetchProfile { userId ->
                asked.add(userId)
                Profile(userId, "Ada $userId", 36u)
            }
            for (userId in listOf("u1", "", "ünïcødé ✓ \uD83D\uDE00", "x".repeat(10_000))) {
                assertEquals(Session(userId, "Hello, Ada $userId"), demo.login(userId))
                assertEquals(userId, asked.last())
            }
        }
    }

    @Test
    fun `host fns run on the scope's dispatcher, never on the library's thread`() = bounded {
        Demo.open().use { demo ->
            for (name in hostFnThreads(demo, 200)) {
                assertTrue(name.startsWith("DefaultDispatcher-worker"), "a host fn ran on '$name'")
            }
        }
    }

    @Test
    fun `login_many of 1000 ids from 16 coroutines in parallel`() = bounded {
        withStore().use { demo ->
            val calls = (0 until 16).map { g ->
                async(Dispatchers.Default) {
                    val userIds = ids("g$g", 1000)
                    userIds to demo.loginMany(userIds)
                }
            }
            for ((userIds, sessions) in calls.awaitAll()) {
                assertEquals(userIds.map(::sessionOf), sessions)
            }
            assertEquals(0, demo.runtime.pendingCalls)
        }
    }

    @Test
    fun `1000 coroutines each calling login at once`() = bounded {
        withStore().use { demo ->
            val sessions = (0 until 1000).map { i -> async(Dispatchers.Default) { demo.login("c$i") } }.awaitAll()
            assertEquals((0 until 1000).map { sessionOf("c$it") }, sessions)
        }
    }

    @Test
    fun `login_many edges`() = bounded {
        withStore().use { demo ->
            for (userIds in listOf(emptyList(), listOf("solo"), listOf("a", "b", "a", "a"))) {
                assertEquals(userIds.map(::sessionOf), demo.loginMany(userIds), "loginMany($userIds)")
            }
        }
    }

    @Test
    fun `a host error reaches the caller`() = bounded {
        Demo.open().use { demo ->
            demo.fetchProfile { throw IllegalStateException("db down") }
            val calls: List<Pair<String, suspend () -> Unit>> = listOf(
                "login" to { demo.login("u1") },
                "login_many" to { demo.loginMany(listOf("u1", "u2")) },
                "first_profile" to { demo.firstProfile(listOf("u1")) },
            )
            for ((method, call) in calls) {
                thrownBy<CallException> { call() }.check(method, "host fetch failed: db down")
            }
        }
    }

    @Test
    fun `an unregistered host fn fails the call at once`() = bounded {
        Demo.open().use { demo ->
            thrownBy<CallException> { demo.login("u1") }.check("login", "host fn 'fetch_profile' not registered")
            thrownBy<CallException> { demo.pingHost("hello") }.check("ping_host", "host fn 'notify' not registered")
        }
    }

    @Test
    fun `registering again replaces the host fn`() = bounded {
        withStore().use { demo ->
            assertEquals(sessionOf("u1"), demo.login("u1"))
            demo.fetchProfile { userId -> Profile(userId, "second", 1u) }
            assertEquals("Hello, second", demo.login("u1").greeting)
        }
    }

    @Test
    fun `a replaced host fn serves the calls running with it, and is forgotten once none is pending`() = bounded {
        withStore().use { demo ->
            val entered = CompletableDeferred<Unit>()
            val release = CompletableDeferred<Unit>()
            demo.fetchProfile { userId -> entered.complete(Unit); release.await(); Profile(userId, "first", 1u) }
            val first = async(Dispatchers.Default) { demo.login("u1") }
            entered.await()
            demo.fetchProfile { userId -> Profile(userId, "second", 2u) }
            // The first is kept while its call is pending; the store's too,
            // until a reply shows the library has handled its replacement.
            assertEquals(2, demo.runtime.replacedHostFns)
            assertEquals("Hello, second", demo.login("u2").greeting)
            release.complete(Unit)
            assertEquals("Hello, first", first.await().greeting)
            assertEquals(0, demo.runtime.replacedHostFns, "the last pending call's reply forgets it")
            demo.fetchProfile { userId -> Profile(userId, "third", 3u) }
            // A task a handler spawned may still invoke the second until the
            // library has handled the third: a later call's reply shows it.
            assertEquals(1, demo.runtime.replacedHostFns)
            assertEquals("Hello, third", demo.login("u3").greeting)
            assertEquals(0, demo.runtime.replacedHostFns, "no call is pending: the second is forgotten")
        }
    }

    @Test
    fun `re-registering under load answers every call, and keeps only what pending calls may need`() = bounded {
        withStore().use { demo ->
            val generations = 300
            demo.fetchProfile { userId -> Profile(userId, "0", 0u) }
            repeat(5) {
                // Thousands of requests queued at once: the library handles
                // many of them after a registration has replaced the one
                // they were sent under, and they must still find it.
                val calls = (1..2_000).map { i ->
                    async(Dispatchers.Default) { demo.login("u$i").greeting.removePrefix("Hello, ").toInt() }
                }
                for (g in 1..generations) demo.fetchProfile { userId -> Profile(userId, "$g", g.toUInt()) }
                val seen = calls.awaitAll()
                assertTrue(seen.all { it in 0..generations }, "every answer came from a registered fn")
            }
            demo.fetchProfile { userId -> Profile(userId, "last", 0u) }
            assertEquals("Hello, last", demo.login("u0").greeting)
            assertEquals(0, demo.runtime.pendingCalls)
            assertEquals(0, demo.runtime.replacedHostFns, "with no call pending every replaced registration is forgotten")
        }
    }

    @Test
    fun `add, with overflow as an error`() = bounded {
        Demo.open().use { demo ->
            assertEquals(5L, demo.add(2, 3))
            assertEquals(0L, demo.add(-7, 7))
            assertEquals(Long.MIN_VALUE, demo.add(Long.MIN_VALUE, 0))
            assertEquals(Long.MAX_VALUE - 1, demo.add(Long.MAX_VALUE, -1))
            thrownBy<CallException> { demo.add(Long.MAX_VALUE, 1) }
                .check("add", "integer overflow: 9223372036854775807 + 1 does not fit in i64")
            thrownBy<CallException> { demo.add(Long.MIN_VALUE, -1) }.check("add", "integer overflow")
        }
    }

    @Test
    fun version() = bounded {
        Demo.open().use { demo -> assertEquals("0.1.0", demo.version()) }
    }

    @Test
    fun `ping_host through notify`() = bounded {
        Demo.open().use { demo ->
            val messages = Channel<String>(Channel.UNLIMITED)
            demo.notify { message ->
                if (message == "refuse") throw IllegalStateException("user is away")
                messages.send(message)
            }
            for (message in listOf("hello", "", "ünïcødé")) {
                demo.pingHost(message)
                assertEquals(message, messages.within("notify"))
            }
            thrownBy<CallException> { demo.pingHost("refuse") }.check("ping_host", "host notify failed: user is away")
        }
    }

    @Test
    fun `the notify registration is an overload, not Object's notify`() {
        // demo.notify { … } registers the host fn; Object.notify() is a
        // different method (no arguments), which Kotlin does not expose on
        // Demo at all.
        val registration = Demo::class.java.getMethod("notify", Function2::class.java)
        assertEquals(Demo::class.java, registration.declaringClass)
        assertEquals(Any::class.java, Demo::class.java.getMethod("notify").declaringClass)
    }

    @Test
    fun `a host fn exception without a message still says what happened`() = bounded {
        Demo.open().use { demo ->
            demo.fetchProfile { throw IllegalStateException() }
            thrownBy<CallException> { demo.login("u1") }
                .check("login", "host fetch failed: host function threw java.lang.IllegalStateException with no message")
        }
    }

    @Test
    fun `a throwing host fn fails its call and nothing else`() = bounded {
        Demo.open().use { demo ->
            demo.fetchProfile { userId ->
                when (userId) {
                    "boom" -> error("the store exploded")
                    "assert" -> throw AssertionError("an Error, not an Exception")
                    else -> profileOf(userId)
                }
            }
            thrownBy<CallException> { demo.login("boom") }.check("login", "host fetch failed: the store exploded")
            thrownBy<CallException> { demo.login("assert") }.check("login", "an Error, not an Exception")
            assertEquals(sessionOf("fine"), demo.login("fine"))
        }
    }

    @Test
    fun `a Rust handler panic is an exception`() = bounded {
        Demo.open().use { demo ->
            val e = thrownBy<CallException.Panicked> { demo.panicWith("on purpose") }
                .checkText("panic_with", "handler 'panic_with' panicked: on purpose")
            assertEquals(Outcome.PANIC, e.code)
            assertEquals(3L, demo.add(1, 2))
        }
    }

    @Test
    fun `the interface hash matches the header and the loaded library`() {
        // The library's header, where the build compiled the glue from (surefire passes the directory).
        val includeDir = System.getProperty("hostcall.include.dir") ?: "../../../examples/demo/include"
        val header = File(includeDir, "demo.h").readLines()
            .firstNotNullOf { it.removePrefix("#define DEMO_INTERFACE_HASH UINT64_C(").takeIf { rest -> rest != it } }
        assertEquals(Demo.INTERFACE_HASH, header.removeSuffix(")").removePrefix("0x").toULong(16))
        assertEquals(Demo.INTERFACE_HASH, DemoNative.interfaceHash().toULong())
        val mismatch = thrownBy<InterfaceMismatchException> { Demo.checkInterface(Demo.INTERFACE_HASH + 1u) }
        assertTrue(mismatch.message!!.contains("regenerate them with hostcall-gen"), mismatch.message)
    }

    @Test
    fun `bad config is refused with the library's message`() {
        val spin = thrownBy<StatusException> { Demo.open(DemoConfig(spin = 20.milliseconds)) }
        assertEquals("demo: open", spin.operation)
        assertEquals(Status.INVALID_ARG, spin.code)
        assertTrue(spin.message!!.contains("spin_us"), spin.message)
        val inFlight = thrownBy<StatusException> { Demo.open(DemoConfig(maxInFlight = 0u)) }
        assertEquals(Status.INVALID_ARG, inFlight.code)
        assertTrue(inFlight.message!!.contains("max_in_flight"), inFlight.message)
        // Durations the library cannot express are refused before it sees them.
        thrownBy<IllegalArgumentException> { Demo.open(DemoConfig(hostCallTimeout = Duration.ZERO)) }
        thrownBy<IllegalArgumentException> { Demo.open(DemoConfig(hostCallTimeout = (-1).milliseconds)) }
        thrownBy<IllegalArgumentException> { Demo.open(DemoConfig(spin = (-1).microseconds)) }
    }

    @Test
    fun `every option is accepted`() = bounded {
        val config = DemoConfig(maxInFlight = 100u, hostCallTimeout = 1.minutes, maxPendingRequests = 100u, spin = Duration.ZERO)
        withStore(config).use { demo -> assertEquals(sessionOf("u1"), demo.login("u1")) }
        withStore(DemoConfig(hostCallTimeout = Duration.INFINITE)).use { demo -> assertEquals(sessionOf("u1"), demo.login("u1")) }
    }

    @Test
    fun `a sub-millisecond host call timeout still times out`() = bounded {
        Demo.open(DemoConfig(hostCallTimeout = 500.microseconds)).use { demo ->
            demo.fetchProfile { awaitCancellation() }
            thrownBy<CallException> { demo.login("u1") }.check("login", "timed out after 1 ms")
        }
    }

    /**
     * The library's last error is per OS thread, and a coroutine may move
     * between threads at any suspension. Each refusal must still carry its
     * own cause: the JNI glue reads it in the same native call.
     */
    @Test
    fun `refusals from coroutines that change threads keep their own detail`() = bounded {
        val closed = Demo.open().also { it.close() }
        Demo.open(DemoConfig(maxPendingRequests = 1u)).use { busy ->
            val started = CompletableDeferred<Unit>()
            busy.fetchProfile {
                started.complete(Unit)
                awaitCancellation()
            }
            val holder = launch(Dispatchers.Default) { runCatching { busy.login("holder") } }
            started.within("the first login to hold the only request slot")
            val workers = (0 until 8).map { g ->
                launch(Dispatchers.Default) {
                    repeat(300) { i ->
                        yield() // invites the scheduler to move this coroutine to another thread
                        if ((g + i) % 2 == 0) {
                            val e = thrownBy<StatusException> { closed.add(1, 2) }
                            assertEquals(Status.INVALID_CONTEXT, e.code, e.message)
                            assertTrue(e.detail.startsWith("HC_ERR_INVALID_CONTEXT"), e.detail)
                        } else {
                            val e = thrownBy<StatusException> { busy.add(1, 2) }
                            assertEquals(Status.OVERLOADED, e.code, e.message)
                            assertTrue(e.detail.startsWith("HC_ERR_OVERLOADED"), e.detail)
                        }
                    }
                }
            }
            workers.forEach { it.joinWithin("the refused calls") }
            busy.close()
            holder.joinWithin("the holder to fail at close")
        }
        // Refusals of open() on many threads, too.
        val opens = (0 until 8).map { g ->
            async(Dispatchers.Default) {
                val (config, key) = if (g % 2 == 0) DemoConfig(spin = 1.minutes) to "spin_us" else DemoConfig(maxInFlight = 0u) to "max_in_flight"
                repeat(100) {
                    val e = thrownBy<StatusException> { Demo.open(config).close() }
                    assertTrue(e.detail.contains(key), "refusal '${e.detail}' does not name $key")
                    yield()
                }
            }
        }
        opens.awaitAll()
    }

    @Test
    fun `overload limits refuse clearly`() = bounded {
        Demo.open(DemoConfig(maxPendingRequests = 1u)).use { demo ->
            val started = CompletableDeferred<Unit>()
            val release = CompletableDeferred<Unit>()
            demo.fetchProfile { userId ->
                started.complete(Unit)
                release.await()
                profileOf(userId)
            }
            val first = async(Dispatchers.Default) { demo.login("first") }
            started.within("the first fetch")
            val refused = thrownBy<StatusException> { demo.login("second") }
            assertEquals(Status.OVERLOADED, refused.code)
            assertEquals("demo: login", refused.operation)
            release.complete(Unit)
            assertEquals(sessionOf("first"), first.within("the first login"))
        }
        Demo.open(DemoConfig(maxInFlight = 1u)).use { demo ->
            demo.fetchProfile { awaitCancellation() }
            // The second fetch is refused at once; login_many fails and drops
            // the first (whose coroutine, if it started, is cancelled).
            thrownBy<CallException> { demo.loginMany(listOf("a", "b")) }.check("login_many", "already in flight (max_in_flight)")
        }
    }

    /**
     * A host fn that blocks its thread (it does not suspend) holds the
     * thread that started it, not the invocations after it: here the first
     * one waits, blocking, until the second one has run — queued behind it
     * in one burst (`loginMany`), or coming after it (two logins).
     */
    @Test
    fun `a host fn that blocks its thread does not hold back the next ones`() = bounded {
        Demo.open().use { demo ->
            var freeRan = CountDownLatch(1)
            val blocking = Channel<Unit>(Channel.UNLIMITED)
            val waited = ConcurrentLinkedQueue<Boolean>()
            demo.fetchProfile { userId ->
                val latch = freeRan
                if (userId == "free") {
                    latch.countDown()
                } else {
                    blocking.send(Unit)
                    waited.add(latch.await(WAIT.inWholeMilliseconds / 2, TimeUnit.MILLISECONDS))
                }
                profileOf(userId)
            }
            assertEquals(listOf(sessionOf("block"), sessionOf("free")), demo.loginMany(listOf("block", "free")))
            blocking.within("the first blocking host fn")
            freeRan = CountDownLatch(1)
            val first = async(Dispatchers.Default) { demo.login("block") }
            blocking.within("the second blocking host fn")
            assertEquals(sessionOf("free"), demo.login("free"))
            assertEquals(sessionOf("block"), first.within("the blocked login"))
            assertEquals(listOf(true, true), waited.toList(), "a blocked host fn held back the next invocation")
        }
    }

    @Test
    fun `a host fn may call its own context`() = bounded {
        Demo.open().use { demo ->
            demo.fetchProfile { userId -> Profile(userId, "age ${demo.add(40, 2)}", 0u) }
            assertEquals("Hello, age 42", demo.login("u1").greeting)
        }
    }

    @Test
    fun `contexts are independent`() = bounded {
        val a = Demo.open()
        val b = Demo.open()
        a.use {
            b.use {
                for ((name, demo) in listOf("a" to a, "b" to b)) demo.fetchProfile { userId -> Profile(userId, name, 0u) }
                b.close()
                assertEquals("Hello, a", a.login("u1").greeting)
                thrownBy<StatusException> { b.login("u1") }.checkClosed("demo: login")
            }
        }
    }

    @Test
    fun `many contexts at once`() = bounded {
        val contexts = List(32) { withStore() }
        try {
            val sessions = contexts.mapIndexed { i, demo -> async(Dispatchers.Default) { demo.login("u$i") } }.awaitAll()
            assertEquals(List(32) { sessionOf("u$it") }, sessions)
            assertEquals(32, loopThreads().size)
        } finally {
            contexts.forEach { it.close() }
        }
    }

    @Test
    fun `open and close many times without leaking threads`() = bounded {
        val started = TimeSource.Monotonic.markNow()
        repeat(500) { i ->
            withStore().use { demo ->
                assertEquals(i + 1L, demo.add(i.toLong(), 1))
                assertEquals(sessionOf("u$i"), demo.login("u$i"))
            }
            if (i % 100 == 99) {
                assertEquals(emptyList<Thread>(), loopThreads(), "after $i cycles")
                assertEquals(0, loopTasks(), "after $i cycles")
            }
        }
        println("500 open/login/close cycles took ${started.elapsedNow()}")
    }

    @Test
    fun `text that is not valid UTF-16 is sent with replacements`() = bounded {
        // A Kotlin String cannot hold invalid UTF-8, but it can hold a lone
        // surrogate; Java's UTF-8 encoder writes '?' for it.
        Demo.open().use { demo ->
            demo.fetchProfile { userId -> Profile(userId, "a\uD800b", 0u) }
            assertEquals("Hello, a?b", demo.login("u\uDC00").greeting)
        }
    }

    @Test
    fun `a host fn that was cancelled by its own scope answers with an error`() = bounded {
        // A host fn that ends cancelled without the library asking (here:
        // its own withTimeout) must still answer, or the call would hang.
        Demo.open().use { demo ->
            demo.fetchProfile { kotlinx.coroutines.withTimeout(10.milliseconds) { awaitCancellation() } }
            thrownBy<CallException> { demo.login("u1") }.check("login", "host fetch failed: host function cancelled: ")
                .also { assertTrue(it.text.contains("timed out waiting for 10 ms"), it.text) }
        }
    }
}
