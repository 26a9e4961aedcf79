package dev.hostcall.demo

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class SmokeTest {
    @Test
    fun login() = runBlocking {
        Demo.open().use { demo ->
            demo.fetchProfile { userId -> Profile(userId, "Alice", 3u) }
            val session = demo.login("alice")
            assertEquals("Hello, Alice", session.greeting)
            assertEquals(42L, demo.add(40, 2))
        }
    }
}
