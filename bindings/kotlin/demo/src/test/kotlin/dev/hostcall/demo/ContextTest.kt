package dev.hostcall.demo

import dev.hostcall.runtime.CborCalls
import dev.hostcall.runtime.Runtime
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.Executors
import java.util.concurrent.atomic.AtomicInteger
import kotlin.coroutines.AbstractCoroutineContextElement
import kotlin.coroutines.CoroutineContext
import kotlin.random.Random
import kotlin.time.Duration.Companion.milliseconds
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.ThreadContextElement
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.cancel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotSame
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** A request-scoped value, as a tracing library would put in the caller's context. */
class TraceId(val id: String) : AbstractCoroutineContextElement(TraceId) {
    companion object Key : CoroutineContext.Key<TraceId>

    override fun toString() = "TraceId($id)"
}

/** An MDC-style thread-local, installed on every thread a coroutine holding [Mdc] runs on. */
val mdc = ThreadLocal<String?>()

class Mdc(private val value: String) : ThreadContextElement<String?> {
    companion object Key : CoroutineContext.Key<Mdc>

    override val key: CoroutineContext.Key<Mdc> get() = Key

    override fun updateThreadContext(context: CoroutineContext): String? = mdc.get().also { mdc.set(value) }

    override fun restoreThreadContext(context: CoroutineContext, oldState: String?) = mdc.set(oldState)
}

/**
 * The host fn's coroutine carries its caller's context elements
 * (`demo_host_call_origin`): not the caller's job, nor its dispatcher.
 */
class ContextTest : DemoTest() {
    private suspend fun trace(): String? = currentCoroutineContext()[TraceId]?.id

    @Test
    fun `a host fn sees the caller's context elements`() = bounded {
        Demo.open().use { demo ->
            val seen = CompletableDeferred<CoroutineContext>()
            val mdcSeen = CompletableDeferred<String?>()
            val thread = CompletableDeferred<String>()
            demo.fetchProfile { userId ->
                seen.complete(currentCoroutineContext())
                mdcSeen.complete(mdc.get())
                thread.complete(Thread.currentThread().name)
                profileOf(userId)
            }
            val single = Executors.newSingleThreadExecutor { Thread(it, "the caller's thread") }.asCoroutineDispatcher()
            try {
                val callerJob = CompletableDeferred<Job>()
                withContext(single + TraceId("t-1") + CoroutineName("request 1") + Mdc("mdc-1")) {
                    callerJob.complete(currentCoroutineContext()[Job]!!)
                    assertEquals(sessionOf("u1"), demo.login("u1"))
                }
                val context = seen.within("fetch_profile")
                assertEquals("t-1", context[TraceId]?.id)
                assertEquals("request 1", context[CoroutineName]?.name)
                assertEquals("mdc-1", mdcSeen.within("the MDC value"), "the thread element was installed")
                assertNull(mdc.get(), "the thread element leaked into the test's thread")
                // Not the caller's job: its own, a child of the context's scope.
                val job = context[Job]!!
                assertNotSame(callerJob.within("the caller's job"), job)
                assertFalse(callerJob.within("the caller's job").children.contains(job))
                // Not the caller's dispatcher: the scope's (Dispatchers.Default).
                assertTrue(thread.within("the host fn's thread").startsWith("DefaultDispatcher-worker"), thread.within("the thread"))
            } finally {
                single.close()
            }
            assertEquals(0, demo.runtime.carriedRequests)
        }
    }

    /**
     * `withContext` that keeps the caller's dispatcher adds kotlinx's own
     * marker element to the context: that is not the caller's, so such a
     * caller carries nothing (and costs nothing: no origin is asked).
     */
    @Test
    fun `withContext on the same dispatcher carries nothing`() = bounded {
        Demo.open().use { demo ->
            val carried = CompletableDeferred<Int>()
            val name = CompletableDeferred<String?>()
            demo.fetchProfile { userId ->
                carried.complete(demo.runtime.carriedRequests)
                name.complete(currentCoroutineContext()[CoroutineName]?.name)
                profileOf(userId)
            }
            withContext(Dispatchers.Default) {
                withContext(Dispatchers.Default) { assertEquals(sessionOf("u1"), demo.login("u1")) }
            }
            assertEquals(0, carried.within("fetch_profile"), "the request carried elements")
            assertEquals("demo host fns", name.within("the host fn's name"), "the scope's elements, as for a caller without any")
        }
    }

    /** Native handlers (`_cancellable` forms) carry them too, and so do the CBOR paths and several host calls of one request. */
    @Test
    fun `every path carries the caller's elements`() = bounded {
        Demo.open().use { demo ->
            val notified = ConcurrentLinkedQueue<String?>()
            demo.notify { notified.add(trace() ?: "none") }
            val fetched = ConcurrentHashMap<String, String?>()
            demo.fetchProfile { userId -> fetched[userId] = trace() ?: "none"; profileOf(userId) }
            demo.findAccount { userId -> fetched[userId] = trace() ?: "none"; throw AccountException.NotFound(userId) }
            repeat(20) {
                withContext(TraceId("native")) { demo.pingHost("hi") }
                withContext(TraceId("cbor") + CborCalls) { demo.pingHost("hi") }
            }
            assertEquals(List(20) { listOf("native", "cbor") }.flatten(), notified.toList())
            withContext(TraceId("many")) { demo.loginMany(ids("m", 20)) }
            assertEquals(List(20) { "many" }, ids("m", 20).map { fetched[it] })
            withContext(TraceId("typed")) { thrownBy<SignInException.NotFound> { demo.signIn("s") } }
            assertEquals("typed", fetched["s"])
            // A caller without elements: the host fn carries none.
            demo.pingHost("plain")
            assertEquals("none", notified.last())
            assertEquals(0, demo.runtime.carriedRequests)
        }
    }

    /**
     * Thousands of concurrent calls, each with its own trace id, on two
     * threads: every host fn sees its own caller's (the loop thread often
     * runs a request before its caller is back from starting it; those host
     * calls wait for the id), and some callers carry nothing.
     */
    @Test
    fun `concurrent callers each carry their own elements`() = bounded {
        Demo.open().use { demo ->
            val wrong = ConcurrentLinkedQueue<String>()
            demo.fetchProfile { userId ->
                val expected = if (userId.startsWith("plain")) null else userId.substringBefore('#')
                if (trace() != expected) wrong.add("$userId saw ${trace()}")
                if (Random.nextBoolean()) yield()
                profileOf(userId)
            }
            demo.notify { message -> if (trace() != message) wrong.add("notify $message saw ${trace()}") }
            val n = 2000
            (0 until n).map { i ->
                async(Dispatchers.Default) {
                    when (i % 4) {
                        0 -> withContext(TraceId("c$i")) { demo.login("c$i") }
                        1 -> withContext(TraceId("c$i")) { demo.loginMany(listOf("c$i#1", "c$i#2")) }
                        2 -> withContext(TraceId("c$i")) { demo.pingHost("c$i") }
                        else -> demo.login("plain$i")
                    }
                }
            }.awaitAll()
            assertEquals(emptyList<String>(), wrong.toList())
            println("ContextTest: ${demo.runtime.heldBackTotal} of the host calls waited for their caller's id")
            assertEquals(0, demo.runtime.carriedRequests)
            assertEquals(0, demo.runtime.heldBackHostCalls)
            assertEquals(0, demo.runtime.pendingCalls)
        }
    }

    /** Cancelling the caller mid-host-call withdraws the request, which cancels the host fn's coroutine (not the caller's job). */
    @Test
    fun `cancelling the caller cancels the host fn's coroutine`() = bounded {
        Demo.open().use { demo ->
            val started = CompletableDeferred<Job>()
            val cancelled = CompletableDeferred<Throwable>()
            demo.findAccount {
                started.complete(currentCoroutineContext()[Job]!!)
                try {
                    awaitCancellation()
                } catch (e: CancellationException) {
                    cancelled.complete(e)
                    throw e
                }
            }
            val caller = launch(Dispatchers.Default + TraceId("gone")) { demo.signIn("u1") }
            val hostJob = started.within("find_account to start")
            assertFalse(caller.children.contains(hostJob), "the host fn's job is not the caller's child")
            caller.cancel()
            caller.joinWithin("the caller")
            val e = cancelled.within("the host fn's cancellation")
            assertEquals("the library no longer waits for this host call", e.message)
            demo.runtime.droppedReplies.first { it == 1L }
            assertEquals(1L, demo.runtime.withdrawnCalls)
            assertEquals(0, demo.runtime.carriedRequests)
        }
    }

    /** A caller's deadline bounds the host calls made for it: the timeout withdraws the request, cancelling the host fn. */
    @Test
    fun `a caller's withTimeout cancels the host fns made for it`() = bounded {
        Demo.open().use { demo ->
            val fetchCancelled = CompletableDeferred<Unit>()
            val notifyCancelled = CompletableDeferred<Unit>()
            val started = ConcurrentLinkedQueue<String>()
            demo.notify {
                started.add("notify")
                try {
                    awaitCancellation()
                } finally {
                    notifyCancelled.complete(Unit)
                }
            }
            demo.fetchProfile {
                started.add("fetch")
                try {
                    awaitCancellation()
                } finally {
                    fetchCancelled.complete(Unit)
                }
            }
            for (call in listOf<suspend () -> Unit>({ demo.login("slow") }, { demo.pingHost("slow") })) {
                val thrown = runCatching { withTimeout(300.milliseconds) { call() } }.exceptionOrNull()
                assertTrue(thrown is TimeoutCancellationException, "the caller got $thrown")
            }
            demo.runtime.droppedReplies.first { it == 2L }
            // A host fn the withdrawal reached before it started never starts; one that started is cancelled.
            if ("fetch" in started) fetchCancelled.within("fetch_profile to be cancelled by the deadline")
            if ("notify" in started) notifyCancelled.within("notify to be cancelled by the deadline")
            assertEquals(2L, demo.runtime.withdrawnCalls)
            assertEquals(0, demo.runtime.pendingCalls)
        }
    }

    /**
     * A host call for no request that carries anything runs in the
     * context's own scope: the scope's elements, and the caller's on top
     * when it has some. Origin 0 (a request made outside any cancellable
     * call, a task the library spawned) is checked with a runtime whose
     * origin always says 0.
     */
    @Test
    fun `a host call outside a request uses the context's scope`() = bounded {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default + TraceId("scope") + CoroutineName("host fns"))
        try {
            Demo.open(scope = scope).use { demo ->
                val seen = ConcurrentLinkedQueue<String?>()
                val origins = ConcurrentLinkedQueue<Long>()
                demo.fetchProfile { userId ->
                    seen.add("${trace()} ${currentCoroutineContext()[CoroutineName]?.name}")
                    // Asked outside the upcall (here, on a worker), the library answers 0.
                    origins.add(DemoNative.hostCallOrigin(demo.handle, 1))
                    profileOf(userId)
                }
                demo.login("plain")
                withContext(TraceId("caller")) { demo.login("traced") }
                assertEquals(listOf<String?>("scope host fns", "caller host fns"), seen.toList())
                assertEquals(listOf(0L, 0L), origins.toList())
            }

            // A runtime told that every host call serves no request.
            val handle = DemoNative.create(DemoConfig().encode())
            val runtime = Runtime(scope, 3, origin = { 0L }) { token, ret, payload -> DemoNative.hostComplete(handle, token, ret, payload) }
            try {
                val seen = CompletableDeferred<String?>()
                runtime.hostFn(0, register = { DemoNative.registerHostFn(handle, 0, it) }) { seen.complete(trace()); CborWriterProfile.of("u") }
                val reply = withContext(TraceId("caller")) {
                    runtime.callCancellable({ key -> DemoNative.call(handle, LOGIN, CborWriterProfile.request("u"), key) }) { DemoNative.cancelCall(handle, it) }
                }
                assertTrue(reply.ok, reply.message)
                assertEquals("scope", seen.within("the host fn"))
                assertEquals(0, runtime.carriedRequests)
            } finally {
                DemoNative.destroy(handle)
                runtime.close()
            }
        } finally {
            scope.cancel()
        }
    }

    /** Calls of every kind in flight, each cancelled at random: each ends exactly once, nothing is left. */
    @Test
    fun `many calls cancelled at random each end exactly once`() = bounded {
        Demo.open().use { demo ->
            demo.fetchProfile { userId -> if (userId.hashCode() % 2 == 0) yield() else if (userId.hashCode() % 3 == 0) awaitCancellation(); profileOf(userId) }
            demo.notify { if (Random.nextBoolean()) awaitCancellation() }
            demo.findAccount { userId -> if (Random.nextBoolean()) awaitCancellation(); throw AccountException.Locked(userId.length.toULong()) }
            val ended = AtomicInteger()
            val outcomes = ConcurrentHashMap<Int, String>()
            val n = 600
            val calls = (0 until n).map { i ->
                // UNDISPATCHED: every body runs (and starts its call) before any cancellation.
                launch(Dispatchers.Default + TraceId("r$i"), start = CoroutineStart.UNDISPATCHED) {
                    try {
                        when (i % 5) {
                            0 -> demo.login("r$i")
                            1 -> demo.pingHost("r$i")
                            2 -> try {
                                demo.signIn("r$i")
                                error("sign_in succeeded")
                            } catch (_: SignInException.Locked) {
                            }
                            3 -> demo.add(i.toLong(), 1)
                            else -> withContext(CborCalls) { demo.pingHost("r$i") }
                        }
                        assertTrue(outcomes.putIfAbsent(i, "done") == null, "call $i ended twice")
                    } catch (e: CancellationException) {
                        assertTrue(outcomes.putIfAbsent(i, "cancelled") == null, "call $i ended twice")
                        throw e
                    } finally {
                        ended.incrementAndGet()
                    }
                }
            }
            for (call in calls.shuffled()) {
                if (Random.nextInt(3) != 0) call.cancel()
                if (Random.nextInt(10) == 0) yield()
            }
            // Those not cancelled may wait on host fns that never answer: cancel them too.
            calls.forEach { it.cancel() }
            calls.forEach { it.joinWithin("a call") }
            assertEquals(n, ended.get())
            assertEquals(n, outcomes.size)
            demo.runtime.droppedReplies.first { demo.runtime.pendingCalls == 0 }
            assertEquals(0, demo.runtime.carriedRequests)
            assertEquals(0, demo.runtime.heldBackHostCalls)
        }
    }

    private companion object {
        /** Index into demo_jni.c's methods[]. */
        const val LOGIN = 2
    }
}

/** CBOR of a login request and a Profile answer, for a bare runtime. */
private object CborWriterProfile {
    fun request(userId: String): ByteArray = dev.hostcall.runtime.CborWriter().array(1).text(userId).bytes()

    fun of(userId: String): ByteArray = dev.hostcall.runtime.CborWriter().writeProfile(profileOf(userId)).bytes()
}
