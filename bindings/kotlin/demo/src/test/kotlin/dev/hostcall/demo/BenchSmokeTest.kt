package dev.hostcall.demo

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** Every benchmark once, a single operation each: they still work. Nothing about speed. */
class BenchSmokeTest : DemoTest() {
    @Test
    fun `every benchmark runs`() {
        val lines = mutableListOf<String>()
        val results = Bench.run(Bench.Options(smoke = true)) { lines.add(it) }
        assertEquals(
            listOf("login", "loginNoSpin", "loginMany10k", "loginMany10kNoSpin", "loginMany10kEvents", "login10kCoroutines", "add", "addParallel", "addCbor", "cborCall", "pingHost", "parkPingPong", "upcalls10k", "hopPingPong"),
            results.map { it.name },
        )
        assertTrue(results.all { it.runs.single() > 0 }, "a benchmark reported no time")
        assertEquals(results.size, lines.size)
    }
}
