package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.Outcome
import dev.hostcall.runtime.StatusException
import java.io.File
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.ReceiveChannel
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail

/**
 * Bounds every wait in these tests: long enough for a loaded CI machine,
 * short enough that a hang fails instead of stalling the run. (JUnit's own
 * timeout, junit-platform.properties, catches a thread blocked outside a
 * coroutine.)
 */
val WAIT = 10.seconds

/** The name the library gives its loop thread, and the JNI glue the attached Java thread. */
const val LOOP_THREAD = "hostcall-demo"

/** The profile the test host's store holds for a user. */
fun profileOf(userId: String) = Profile(userId, "Name of $userId", userId.length.toUInt())

/** The session the library makes of [profileOf]. */
fun sessionOf(userId: String) = Session(userId, "Hello, Name of $userId")

fun ids(prefix: String, n: Int) = List(n) { "$prefix-$it" }

/** A context whose fetch_profile answers from [profileOf] at once. */
fun withStore(config: DemoConfig = DemoConfig()): Demo =
    Demo.open(config).apply { fetchProfile { userId -> profileOf(userId) } }

/** Runs one login_many of [n] ids; returns the names of the threads its host fns ran on. */
suspend fun hostFnThreads(demo: Demo, n: Int): List<String> {
    val threads = ConcurrentLinkedQueue<String>()
    demo.fetchProfile { userId ->
        threads.add(Thread.currentThread().name)
        profileOf(userId)
    }
    demo.loginMany(ids("t", n))
    assertEquals(n, threads.size, "host fns run")
    return threads.toList()
}

/** Runs [body] in runBlocking, failing it if it takes longer than [WAIT]. */
fun bounded(body: suspend CoroutineScope.() -> Unit) = runBlocking { withTimeout(WAIT) { body() } }

suspend fun <T> Deferred<T>.within(what: String): T =
    withTimeoutOrNull(WAIT) { await() } ?: fail("timed out after $WAIT waiting for $what")

suspend fun <T> ReceiveChannel<T>.within(what: String): T =
    withTimeoutOrNull(WAIT) { receive() } ?: fail("timed out after $WAIT waiting for $what")

suspend fun Job.joinWithin(what: String) {
    withTimeoutOrNull(WAIT) { join() } ?: fail("timed out after $WAIT waiting for $what")
}

/** Runs [block], which must throw a [T]; returns it. */
inline fun <reified T : Throwable> thrownBy(block: () -> Unit): T {
    try {
        block()
    } catch (e: Throwable) {
        if (e is T) return e
        throw AssertionError("expected ${T::class.simpleName}, got $e", e)
    }
    throw AssertionError("expected ${T::class.simpleName}, nothing was thrown")
}

/**
 * Wants the library's own error (RET_ERR, [CallException.LibraryError]) from
 * [method] whose text contains [text]: every error demo's handlers return,
 * the runtime's failures they turn into text included.
 */
fun CallException.check(method: String, text: String): CallException {
    assertTrue(this is CallException.LibraryError, "not the library's own error (RET_ERR): ${this::class.simpleName} $this")
    assertEquals(Outcome.ERR, code, "CallException.code of $this")
    return checkText(method, text)
}

/** Wants a [CallException] of any kind from [method] whose text contains [text]. */
fun CallException.checkText(method: String, text: String): CallException {
    assertEquals(method, this.method, "CallException.method of $this")
    assertTrue(this.text.contains(text), "error '${this.message}' does not contain '$text'")
    assertEquals("$method: ${this.text}", message)
    assertEquals(this is CallException.ShuttingDown, shuttingDown, "shuttingDown of $this")
    return this
}

/** Wants a [StatusException] saying the context is closed. */
fun StatusException.checkClosed(operation: String) {
    assertEquals(operation, this.operation, "StatusException.operation of $this")
    assertTrue(closed, "$this is not HC_ERR_INVALID_CONTEXT")
    assertTrue(detail.contains("not a live context"), "detail '$detail' does not say why")
}

/** Java threads the JVM knows by the loop thread's name (attached library threads). */
fun loopThreads(): List<Thread> = Thread.getAllStackTraces().keys.filter { it.name == LOOP_THREAD }

/** OS threads of this process named like the library's loop thread. */
fun loopTasks(): Int =
    File("/proc/self/task").listFiles().orEmpty().count { task ->
        runCatching { File(task, "comm").readText().trim() }.getOrNull() == LOOP_THREAD
    }

/**
 * Every test closes its contexts; afterwards no library thread may be
 * left, attached to the JVM or not. (Closing joins the loop thread, and
 * the thread detaches itself on exit, so this holds at once.)
 */
abstract class DemoTest {
    @AfterEach
    fun noLibraryThreadLeft() {
        assertEquals(emptyList<Thread>(), loopThreads(), "loop threads still attached to the JVM")
        assertEquals(0, loopTasks(), "loop threads still running in the process")
    }
}
