package dev.hostcall.demo

import java.io.File
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class JniTest : DemoTest() {
    /**
     * Each context's loop thread is attached to the JVM once, as a daemon,
     * under its OS name, stays the same Java thread however many callbacks
     * it makes, and is detached when the context closes.
     */
    @Test
    fun `the loop thread is attached once, as a daemon, and detached at close`() = bounded {
        val contexts = List(3) { withStore() }
        try {
            contexts.forEach { it.login("first") } // each loop thread calls back, so it is attached
            val attached = loopThreads()
            assertEquals(3, attached.size, "attached loop threads: $attached")
            assertTrue(attached.all { it.isDaemon }, "a loop thread is not a daemon")
            contexts.map { demo -> async(Dispatchers.Default) { repeat(20) { demo.loginMany(ids("u", 100)) } } }.awaitAll()
            assertEquals(attached.toSet(), loopThreads().toSet(), "a loop thread was attached again")
        } finally {
            contexts.forEach { it.close() }
        }
        assertEquals(emptyList<Thread>(), loopThreads())
        assertEquals(0, loopTasks())
    }

    /**
     * JniWorkout in a child JVM under -Xcheck:jni: over 100 000 host fn
     * upcalls, as many event upcalls, cancels, errors, typed replies and
     * refusals thrown from native code. -Xcheck:jni reports a local
     * reference left behind on the loop thread ("WARNING: JNI local refs:
     * N, exceeds capacity"), an exception left pending, or a JNI call
     * inside a critical region, on the JVM's own output, which this test
     * reads (the JVM running this test has -Xcheck:jni too, but cannot read
     * what its VM prints).
     */
    @Test
    fun `a JNI workout under -Xcheck-jni prints no warning`() {
        val java = File(System.getProperty("java.home"), "bin/java").path
        val command = listOf(
            java,
            "-Xcheck:jni",
            "-Djava.library.path=${System.getProperty("java.library.path")}",
            "-cp",
            System.getProperty("java.class.path"),
            JniWorkout::class.java.name,
            "10",
        )
        val log = File.createTempFile("jni-workout", ".log")
        val process = ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log).start()
        val finished = process.waitFor(WAIT.inWholeSeconds * 4, TimeUnit.SECONDS)
        if (!finished) process.destroyForcibly().waitFor()
        val output = log.readText().also { log.delete() }
        assertTrue(finished, "the workout did not finish; its output begins:\n${output.take(4000)}")
        assertEquals(0, process.exitValue(), "the workout failed:\n${output.take(4000)}")
        val ok = output.lines().single { it.startsWith("ok ") }
        assertEquals("ok hostCalls=104200 events=100000 refusals=1000", ok, output)
        val complaints = output.lines().filter { line ->
            line.contains("WARNING") || line.contains("FATAL") || line.contains("JNI")
        }
        assertEquals(emptyList<String>(), complaints.take(20), "-Xcheck:jni output")
    }
}
