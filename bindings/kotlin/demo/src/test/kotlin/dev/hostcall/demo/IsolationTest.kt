package dev.hostcall.demo

import dev.hostcall.runtime.CallException
import dev.hostcall.runtime.Status
import dev.hostcall.runtime.StatusException
import java.io.File
import java.nio.file.Path
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

/** An isolated config: the library in `hostcall-helper`, found beside libdemo.so. */
fun isolatedConfig(restart: Boolean? = null) = DemoConfig(isolation = DemoConfig.Isolation.PROCESS, restart = restart)

/**
 * The binding over an isolated context (`isolation = PROCESS`): a smoke
 * subset of the suite, and what a crash of the library does.
 */
class IsolationTest : DemoTest() {
    @Test
    fun `calls, host fns, events and typed failures work in a helper process`() = bounded {
        withStore(isolatedConfig()).use { demo ->
            // add has a native entry point: isolated, its arguments reach the helper as CBOR.
            assertEquals(5L, demo.add(2, 3))
            thrownBy<CallException.LibraryError> { demo.add(Long.MAX_VALUE, 1) }.check("add", "integer overflow")
            assertEquals(sessionOf("ann"), demo.login("ann"))
            val events = Channel<Progress>(Channel.UNLIMITED)
            val collector = launch(start = CoroutineStart.UNDISPATCHED) { demo.progress.collect { events.send(it) } }
            assertEquals(ids("e", 3).map(::sessionOf), demo.loginMany(ids("e", 3)))
            assertEquals(List(3) { Progress((it + 1).toUInt(), 3u) }, List(3) { events.within("progress ${it + 1}") })
            collector.cancelAndJoin()
            thrownBy<CallException.Panicked> { demo.panicWith("boom") }
        }
    }

    @Test
    fun `cancelling a caller cancels its host fn in the host`() = bounded {
        Demo.open(isolatedConfig()).use { demo ->
            val started = Channel<Unit>(Channel.UNLIMITED)
            val cancelled = Channel<Unit>(Channel.UNLIMITED)
            demo.fetchProfile {
                started.send(Unit)
                try {
                    awaitCancellation()
                } finally {
                    cancelled.trySend(Unit)
                }
            }
            val call = async { demo.login("ann") }
            started.within("the host fn to start")
            call.cancelAndJoin()
            cancelled.within("the host fn to be cancelled")
            assertEquals(3L, demo.add(1, 2), "the context goes on")
        }
    }

    @Test
    fun `close fails the pending calls as shutting down`() = bounded {
        val demo = Demo.open(isolatedConfig())
        val started = Channel<Unit>(Channel.UNLIMITED)
        demo.fetchProfile {
            started.send(Unit)
            awaitCancellation()
        }
        val calls = List(3) { async { runCatching { demo.login("u$it") } } }
        repeat(3) { started.within("host fn ${it + 1}") }
        demo.close()
        for (call in calls) {
            val e = call.within("a pending login").exceptionOrNull()
            assertTrue(e is CallException.ShuttingDown, "$e")
        }
        thrownBy<StatusException> { demo.add(1, 2) }.checkClosed("demo: add")
    }

    @Test
    fun `a crash fails that call and every pending one with ProcessDied, and the helper restarts`() = bounded {
        Demo.open(isolatedConfig()).use { demo ->
            val started = Channel<Unit>(Channel.UNLIMITED)
            demo.fetchProfile {
                started.send(Unit)
                awaitCancellation() // never answers
            }
            val logins = List(3) { async { runCatching { demo.login("u$it") } } }
            repeat(3) { started.within("host fn ${it + 1}") }
            val crash = thrownBy<CallException.ProcessDied> { demo.crash("segfault") }
            assertEquals("crash", crash.method)
            assertEquals("library process died: signal 11 (SIGSEGV)", crash.text)
            for (login in logins) {
                val e = login.within("a pending login").exceptionOrNull()
                assertTrue(e is CallException.ProcessDied, "$e")
                (e as CallException).checkText("login", "library process died")
            }
            // A new helper serves the next calls, the host fn still registered.
            assertEquals(42L, demo.add(40, 2))
            demo.fetchProfile { profileOf(it) }
            assertEquals(sessionOf("ann"), demo.login("ann"))
        }
    }

    @Test
    fun `without restart, calls after a crash are refused`() = bounded {
        Demo.open(isolatedConfig(restart = false)).use { demo ->
            thrownBy<CallException.ProcessDied> { demo.crash("abort") }
            // The death is recorded just after the crash's reply: a call in
            // between is still accepted, and fails with ProcessDied.
            var refused: StatusException? = null
            for (attempt in 1..1000) {
                try {
                    demo.add(1, 2)
                    throw AssertionError("add succeeded after the helper died without restart")
                } catch (e: CallException.ProcessDied) {
                    continue
                } catch (e: StatusException) {
                    refused = e
                    break
                }
            }
            val e = refused ?: throw AssertionError("calls were still accepted after 1000 attempts")
            assertEquals(Status.SHUTTING_DOWN, e.code, "$e")
            assertTrue(e.detail.contains("library process died"), e.detail)
        }
    }

    /** Runs [body] with the address of a `hostcall-helper` started with [flag] [place], killed after. */
    private fun <T> withListeningHelper(flag: String, place: String, body: (address: String, helper: Process) -> T): T {
        val dir = File(System.getProperty("hostcall.lib.dir") ?: error("the test needs -Dhostcall.lib.dir"))
        val helper = ProcessBuilder(File(dir, "hostcall-helper").path, "--library", File(dir, "libdemo.so").path, flag, place)
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        try {
            val line = CompletableFuture.supplyAsync { helper.inputStream.bufferedReader().readLine() }
                .get(WAIT.inWholeMilliseconds, TimeUnit.MILLISECONDS)
                ?: throw AssertionError("the helper ended before it listened")
            return body(line, helper)
        } finally {
            helper.destroyForcibly()
            helper.waitFor(WAIT.inWholeMilliseconds, TimeUnit.MILLISECONDS)
        }
    }

    @Test
    fun `contexts share a helper listening on a unix socket, each with its own host fns`(@TempDir dir: Path) {
        val path = dir.resolve("demo.sock").toString()
        withListeningHelper("--socket", path) { address, _ ->
            assertEquals(path, address)
            val config = DemoConfig(isolation = DemoConfig.Isolation.SOCKET, address = address)
            bounded {
                withStore(config).use { a ->
                    Demo.open(config).use { b ->
                        b.fetchProfile { Profile(it, "B", 1u) }
                        for (id in ids("u", 10)) {
                            assertEquals(sessionOf(id), a.login(id))
                            assertEquals(Session(id, "Hello, B"), b.login(id))
                        }
                    }
                    assertEquals(3L, a.add(1, 2), "one context closing leaves the others")
                }
            }
        }
    }

    @Test
    fun `a helper on TCP serves calls, and its death fails the pending ones with ProcessDied`() {
        withListeningHelper("--tcp", "127.0.0.1:0") { address, helper ->
            bounded {
                Demo.open(DemoConfig(isolation = DemoConfig.Isolation.TCP, address = address, restart = false)).use { demo ->
                    val started = Channel<Unit>(Channel.UNLIMITED)
                    demo.fetchProfile {
                        if (it == "hold") {
                            started.send(Unit)
                            awaitCancellation()
                        }
                        profileOf(it)
                    }
                    assertEquals(sessionOf("ann"), demo.login("ann"))
                    val held = async { runCatching { demo.login("hold") } }
                    started.within("the held host fn")
                    helper.destroyForcibly()
                    val e = held.within("the held login").exceptionOrNull()
                    assertTrue(e is CallException.ProcessDied, "$e")
                    (e as CallException).checkText("login", "library process died: its connection (tcp $address) ended")
                }
            }
        }
    }
}
